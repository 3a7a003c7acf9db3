import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import {
  buildClientSchema,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLError,
  type GraphQLField,
  type GraphQLObjectType,
  type GraphQLSchema,
  getNamedType,
  getOperationAST,
  isCompositeType,
  isObjectType,
  Kind,
  parse,
  type SelectionSetNode,
  validate,
  valueFromASTUntyped,
} from 'graphql';

/**
 * The GraphQL side of the Admin API stand-in (fakes/shopify/admin.ts): Shopify's schema from the vendored
 * introspection result, validation errors in Shopify's words, requested cost, cursor connections and the
 * part of Shopify's search syntax the app uses.
 */

const schemas = new Map<string, GraphQLSchema>();

/** Shopify's Admin schema of `version`, from the vendored introspection result (built once per process). */
export function adminSchema(version = '2026-07'): GraphQLSchema {
  let s = schemas.get(version);
  if (!s) {
    const file = new URL(`../../test/fixtures/shopify/admin_${version}.json.gz`, import.meta.url);
    const introspection = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8'));
    s = buildClientSchema(introspection.data);
    schemas.set(version, s);
  }
  return s;
}

/** Validation errors as Shopify words them (HTTP 200, `errors[]` with locations and a code). */
export function validationErrors(schema: GraphQLSchema, query: string): ShopifyError[] {
  let doc: DocumentNode;
  try {
    doc = parse(query);
  } catch (e) {
    const err = e as GraphQLError;
    return [{ message: err.message, locations: err.locations ?? [], extensions: { code: 'PARSE_ERROR' } }];
  }
  return validate(schema, doc).map((e) => shopifyError(e, codeOf(e.message)));
}

export interface ShopifyError {
  message: string;
  locations?: readonly { line: number; column: number }[];
  path?: readonly (string | number)[];
  extensions: { code: string; [k: string]: unknown };
}

export function shopifyError(e: GraphQLError, code: string): ShopifyError {
  return {
    message: e.message,
    locations: e.locations ?? [],
    ...(e.path ? { path: e.path } : {}),
    extensions: { code },
  };
}

/** Shopify's error codes for the common validation failures (graphql-js words the messages its own way). */
function codeOf(message: string): string {
  if (/^Cannot query field/.test(message)) return 'undefinedField';
  if (/^Unknown argument/.test(message)) return 'argumentNotAccepted';
  if (/argument .* is required/.test(message)) return 'missingRequiredArguments';
  if (/^Variable .* is not defined/.test(message)) return 'variableNotDefined';
  if (/^Variable .* is never used/.test(message)) return 'variableNotUsed';
  if (/^Unknown type/.test(message)) return 'undefinedType';
  if (/must have a selection of subfields/.test(message)) return 'selectionMismatch';
  return 'GRAPHQL_VALIDATION_FAILED';
}

const encodeCursor = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const decodeCursor = (c: unknown): unknown => {
  if (typeof c !== 'string' || c === '') return undefined;
  try {
    return JSON.parse(Buffer.from(c, 'base64url').toString('utf8'));
  } catch {
    throw new Error('Invalid cursor');
  }
};

/** A connection over `items` (already sorted), keyed by `keyOf` for cursors. */
export function connection<T>(
  items: T[],
  args: Record<string, unknown>,
  keyOf: (item: T) => string,
  view: (item: T) => unknown = (x) => x,
) {
  const first = Number(args.first ?? args.last ?? 50);
  if (!Number.isInteger(first) || first < 0 || first > 250) throw new Error('first must be from 0 to 250');
  const after = decodeCursor(args.after) as string | undefined;
  let start = 0;
  if (after !== undefined) {
    const i = items.findIndex((x) => keyOf(x) === after);
    start = i < 0 ? items.length : i + 1;
  }
  const slice = items.slice(start, start + first);
  const edges = slice.map((x) => ({ cursor: encodeCursor(keyOf(x)), node: view(x) }));
  return {
    edges,
    nodes: edges.map((e) => e.node),
    pageInfo: {
      hasNextPage: start + slice.length < items.length,
      hasPreviousPage: start > 0,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
}

/** Shopify's search syntax, the part the app uses: `field:>'value'` terms (>, >=, <, <=, =) joined by AND. */
export function searchFilter(query: unknown): (fields: Record<string, string | undefined>) => boolean {
  const terms: { field: string; op: string; value: string }[] = [];
  const re = /([a-z_]+):(>=|<=|>|<)?(?:'([^']*)'|"([^"]*)"|(\S+))/g;
  for (const m of String(query ?? '').matchAll(re)) {
    terms.push({ field: m[1] as string, op: m[2] ?? '=', value: (m[3] ?? m[4] ?? m[5]) as string });
  }
  return (fields) =>
    terms.every((t) => {
      const v = fields[t.field];
      if (v === undefined) return true; // Shopify ignores filters it does not know
      const isTime = /_at$/.test(t.field);
      const a = isTime ? Date.parse(v) : v;
      const b = isTime ? Date.parse(t.value) : t.value;
      if (t.op === '>') return a > b;
      if (t.op === '>=') return a >= b;
      if (t.op === '<') return a < b;
      if (t.op === '<=') return a <= b;
      return a === b;
    });
}

/** Requested cost of an operation (see the rule in the module comment). */
export function requestedCost(schema: GraphQLSchema, doc: DocumentNode, variables: Record<string, unknown>) {
  const op = getOperationAST(doc);
  if (!op) return 0;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const root = op.operation === 'mutation' ? schema.getMutationType() : schema.getQueryType();
  /** `wrappers`: inside a connection, where edges and pageInfo are free and nodes are charged per node. */
  const costOf = (set: SelectionSetNode | undefined, type: unknown, wrappers = false): number => {
    if (!set || !isObjectType(type)) return 0;
    let total = 0;
    for (const sel of set.selections) {
      if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const f = fragments.get(sel.name.value);
        total += costOf(f?.selectionSet, f ? schema.getType(f.typeCondition.name.value) : type, wrappers);
        continue;
      }
      if (sel.kind === Kind.INLINE_FRAGMENT) {
        const t = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : type;
        total += costOf(sel.selectionSet, t, wrappers);
        continue;
      }
      const field: GraphQLField<unknown, unknown> | undefined = (type as GraphQLObjectType).getFields()[
        sel.name.value
      ];
      if (!field) continue;
      const named = getNamedType(field.type);
      if (!isCompositeType(named)) continue;
      if (wrappers && (sel.name.value === 'pageInfo' || sel.name.value === 'edges')) {
        total += costOf(sel.selectionSet, named);
        continue;
      }
      const args: Record<string, unknown> = {};
      for (const a of sel.arguments ?? []) args[a.name.value] = valueFromASTUntyped(a.value, variables);
      const count = Number(args.first ?? args.last ?? 1) || 1;
      if (named.name.endsWith('Connection')) total += 2 + count * costOf(sel.selectionSet, named, true);
      else total += count * (1 + costOf(sel.selectionSet, named));
    }
    return total;
  };
  return Math.max(1, costOf(op.selectionSet, root));
}
