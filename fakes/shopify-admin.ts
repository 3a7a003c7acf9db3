import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import {
  buildClientSchema,
  type DocumentNode,
  execute,
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
 * A stand-in for Shopify's Admin GraphQL API over real HTTP, for tests and local development (never imported
 * by src/). It serves `POST /admin/api/<version>/graphql.json` the way Shopify does:
 * - checks `X-Shopify-Access-Token` (401 with Shopify's body when wrong);
 * - validates every document against Shopify's published schema of that version (the vendored
 *   introspection result in test/fixtures/shopify) and answers validation errors with HTTP 200 and
 *   `{errors:[{message, locations, extensions:{code}}]}`;
 * - meters cost with a leaky bucket and answers `extensions.cost` {requestedQueryCost, actualQueryCost,
 *   throttleStatus{maximumAvailable, currentlyAvailable, restoreRate}}; a query the bucket cannot pay (or
 *   one after `throttleNext()`) gets THROTTLED;
 * - pages connections with opaque cursors.
 *
 * Data-driven: `orders` and `customers` are plain arrays shaped like the GraphQL types (camelCase, gids).
 * Operations are resolvers keyed by root field name; `handle('metafieldsSet', fn, 'mutation')` adds one.
 * Requested cost follows Shopify's published rule closely enough for budgeting: objects cost 1, scalars
 * and enums 0, a connection 2 + first × the cost of one node (its pageInfo and edges free), a list with
 * `first` first × its items.
 */

export interface Money {
  amount: string;
  currencyCode: string;
}
export const moneyBag = (amount: string, currencyCode = 'USD') => ({
  shopMoney: { amount, currencyCode },
  presentmentMoney: { amount, currencyCode },
});

export interface FakeCustomer {
  id: string;
  firstName?: string | null;
  lastName?: string | null;
  email?: string | null;
  phone?: string | null;
  updatedAt?: string;
}

export interface FakeRefundLine {
  id: string;
  quantity: number;
  lineItemId: string;
  subtotal: string;
}

export interface FakeRefund {
  id: string;
  createdAt: string;
  lines: FakeRefundLine[];
}

export interface FakeOrder {
  id: string;
  name: string;
  email?: string | null;
  test?: boolean;
  createdAt: string;
  processedAt: string;
  updatedAt: string;
  cancelledAt?: string | null;
  displayFinancialStatus: string;
  currency?: string;
  /** Subtotal as it stands now (after refunds and edits), a decimal string in the shop's currency. */
  currentSubtotal: string;
  subtotal: string;
  customerId?: string | null;
  refunds: FakeRefund[];
}

export interface RequestContext {
  fake: ShopifyAdminFake;
  token: string;
  variables: Record<string, unknown>;
}

export type RootResolver = (args: Record<string, unknown>, ctx: RequestContext) => unknown;

export interface ReceivedRequest {
  operationName?: string;
  variables: Record<string, unknown>;
  /** 'ok', 'invalid' (validation/parse errors), 'throttled', 'unauthorized', 'error'. */
  outcome: 'ok' | 'invalid' | 'throttled' | 'unauthorized' | 'error';
  requestedQueryCost?: number;
  errors?: unknown[];
}

export interface ShopifyAdminFakeOptions {
  /** API version served (its schema must be vendored). Default 2026-07. */
  version?: string;
  /** Accepted X-Shopify-Access-Token values. */
  accessTokens: string[];
  /** The bucket: Shopify's standard plan is 2,000 points refilled at 100 a second. */
  maximumAvailable?: number;
  restoreRate?: number;
  /** The limit of one query (Shopify: 1,000). */
  maxQueryCost?: number;
  port?: number;
}

const schemas = new Map<string, GraphQLSchema>();

/** Shopify's Admin schema of `version`, from the vendored introspection result (built once per process). */
export function adminSchema(version = '2026-07'): GraphQLSchema {
  let s = schemas.get(version);
  if (!s) {
    const file = new URL(`../test/fixtures/shopify/admin_${version}.json.gz`, import.meta.url);
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

function shopifyError(e: GraphQLError, code: string): ShopifyError {
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

export class ShopifyAdminFake {
  readonly version: string;
  readonly schema: GraphQLSchema;
  orders: FakeOrder[] = [];
  customers: FakeCustomer[] = [];
  readonly received: ReceivedRequest[] = [];
  readonly accessTokens: Set<string>;
  private readonly queryResolvers = new Map<string, RootResolver>();
  private readonly mutationResolvers = new Map<string, RootResolver>();
  private server?: http.Server;
  private throttleCount = 0;
  private available: number;
  private availableAt = Date.now();
  readonly maximumAvailable: number;
  readonly restoreRate: number;
  readonly maxQueryCost: number;
  origin = '';

  constructor(opts: ShopifyAdminFakeOptions) {
    this.version = opts.version ?? '2026-07';
    this.schema = adminSchema(this.version);
    this.accessTokens = new Set(opts.accessTokens);
    this.maximumAvailable = opts.maximumAvailable ?? 2000;
    this.restoreRate = opts.restoreRate ?? 100;
    this.maxQueryCost = opts.maxQueryCost ?? 1000;
    this.available = this.maximumAvailable;
    registerBuiltIns(this);
  }

  static async start(opts: ShopifyAdminFakeOptions): Promise<ShopifyAdminFake> {
    const fake = new ShopifyAdminFake(opts);
    await fake.listen(opts.port ?? 0);
    return fake;
  }

  /** Adds (or replaces) the resolver of a root field: `handle('metafieldsSet', fn, 'mutation')`. */
  handle(field: string, resolver: RootResolver, kind: 'query' | 'mutation' = 'query'): this {
    const root = kind === 'query' ? this.schema.getQueryType() : this.schema.getMutationType();
    if (!root?.getFields()[field]) throw new Error(`${field} is not a ${kind} field of the Admin API schema`);
    (kind === 'query' ? this.queryResolvers : this.mutationResolvers).set(field, resolver);
    return this;
  }

  /** The next `n` queries are answered THROTTLED (as when another app of the shop spent the bucket). */
  throttleNext(n = 1): void {
    this.throttleCount += n;
  }

  /** The URL of the GraphQL endpoint of this fake's version. */
  get graphqlUrl(): string {
    return `${this.origin}/admin/api/${this.version}/graphql.json`;
  }

  async listen(port: number): Promise<void> {
    this.server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        this.answer(req, Buffer.concat(chunks).toString('utf8')).then(
          ({ status, body }) => {
            res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
            res.end(JSON.stringify(body));
          },
          (err) => {
            res.writeHead(500, { 'content-type': 'application/json' });
            res.end(JSON.stringify({ errors: String((err as Error).message) }));
          },
        );
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(port, '127.0.0.1', resolve));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server?.closeAllConnections?.();
      this.server?.close(() => resolve());
    });
  }

  private bucketNow(): number {
    const now = Date.now();
    this.available = Math.min(
      this.maximumAvailable,
      this.available + ((now - this.availableAt) / 1000) * this.restoreRate,
    );
    this.availableAt = now;
    return this.available;
  }

  private cost(requested: number, actual: number | null, available = this.bucketNow()) {
    return {
      requestedQueryCost: requested,
      actualQueryCost: actual,
      throttleStatus: {
        maximumAvailable: this.maximumAvailable,
        currentlyAvailable: Math.floor(available),
        restoreRate: this.restoreRate,
      },
    };
  }

  private async answer(req: http.IncomingMessage, raw: string): Promise<{ status: number; body: unknown }> {
    const m = /^\/admin\/api\/([^/]+)\/graphql\.json(?:\?.*)?$/.exec(req.url ?? '');
    if (req.method !== 'POST' || !m) return { status: 404, body: { errors: 'Not Found' } };
    if (m[1] !== this.version) return { status: 404, body: { errors: 'Not Found' } };
    const token = String(req.headers['x-shopify-access-token'] ?? '');
    let body: { query?: unknown; variables?: unknown; operationName?: unknown };
    try {
      body = JSON.parse(raw);
    } catch {
      return { status: 400, body: { errors: 'Bad Request' } };
    }
    const variables = (body.variables && typeof body.variables === 'object' ? body.variables : {}) as Record<
      string,
      unknown
    >;
    const record: ReceivedRequest = {
      operationName: typeof body.operationName === 'string' ? body.operationName : undefined,
      variables,
      outcome: 'ok',
    };
    this.received.push(record);
    if (!this.accessTokens.has(token)) {
      record.outcome = 'unauthorized';
      return {
        status: 401,
        body: { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' },
      };
    }
    const query = typeof body.query === 'string' ? body.query : '';
    const invalid = validationErrors(this.schema, query);
    if (invalid.length) {
      record.outcome = 'invalid';
      record.errors = invalid;
      return { status: 200, body: { errors: invalid } };
    }
    const doc = parse(query);
    const op = getOperationAST(doc, record.operationName);
    record.operationName ??= op?.name?.value;
    const requested = requestedCost(this.schema, doc, variables);
    record.requestedQueryCost = requested;
    if (requested > this.maxQueryCost) {
      record.outcome = 'invalid';
      const message = `Query cost is ${requested}, which exceeds the single query max cost limit (${this.maxQueryCost}).`;
      return { status: 200, body: { errors: [{ message, extensions: { code: 'MAX_COST_EXCEEDED' } }] } };
    }
    const available = this.bucketNow();
    if (this.throttleCount > 0 || requested > available) {
      const forced = this.throttleCount > 0;
      if (forced) this.throttleCount--;
      record.outcome = 'throttled';
      // A forced throttle reports a bucket a tenth of a second short of the query's cost.
      const shown = forced ? Math.max(0, requested - this.restoreRate / 10) : available;
      return {
        status: 200,
        body: {
          errors: [
            {
              message: 'Throttled',
              extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' },
            },
          ],
          extensions: { cost: this.cost(requested, null, shown) },
        },
      };
    }
    this.available -= requested;
    const ctx: RequestContext = { fake: this, token, variables };
    const rootValue: Record<string, unknown> = {};
    const resolvers = op?.operation === 'mutation' ? this.mutationResolvers : this.queryResolvers;
    for (const [name, fn] of resolvers) rootValue[name] = (args: Record<string, unknown>) => fn(args, ctx);
    const result = await execute({
      schema: this.schema,
      document: doc,
      rootValue,
      variableValues: variables,
      operationName: record.operationName,
    });
    // Shopify refunds what the answer did not use; the fake charges what was requested (a safe upper bound).
    const out: Record<string, unknown> = { data: result.data ?? null };
    if (result.errors?.length) {
      record.outcome = 'error';
      record.errors = result.errors.map((e) =>
        shopifyError(e, /^Variable /.test(e.message) ? 'INVALID_VARIABLE' : 'INTERNAL_SERVER_ERROR'),
      );
      out.errors = record.errors;
    }
    out.extensions = { cost: this.cost(requested, requested) };
    return { status: 200, body: out };
  }

  // ----- data helpers ------------------------------------------------------------------------------------

  customerById(id: string | null | undefined): FakeCustomer | undefined {
    return id ? this.customers.find((c) => c.id === id) : undefined;
  }
}

const sortKeyed = <T>(items: T[], key: (x: T) => string) =>
  [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

function customerView(c: FakeCustomer) {
  return {
    ...c,
    displayName: [c.firstName, c.lastName].filter(Boolean).join(' ') || c.email || '',
    defaultEmailAddress: c.email ? { emailAddress: c.email } : null,
    defaultPhoneNumber: c.phone ? { phoneNumber: c.phone } : null,
  };
}

function refundView(r: FakeRefund, currency: string) {
  return {
    id: r.id,
    createdAt: r.createdAt,
    refundLineItems: (args: Record<string, unknown>) =>
      connection(
        r.lines,
        args,
        (l) => l.id,
        (l) => ({
          id: l.id,
          quantity: l.quantity,
          lineItem: { id: l.lineItemId },
          subtotalSet: moneyBag(l.subtotal, currency),
        }),
      ),
  };
}

function orderView(fake: ShopifyAdminFake, o: FakeOrder) {
  const currency = o.currency ?? 'USD';
  const customer = fake.customerById(o.customerId);
  return {
    ...o,
    test: o.test ?? false,
    email: o.email ?? null,
    cancelledAt: o.cancelledAt ?? null,
    currentSubtotalPriceSet: moneyBag(o.currentSubtotal, currency),
    subtotalPriceSet: moneyBag(o.subtotal, currency),
    customer: customer ? customerView(customer) : null,
    refunds: (args: Record<string, unknown>) =>
      o.refunds.slice(0, Number(args.first ?? o.refunds.length)).map((r) => refundView(r, currency)),
  };
}

/** Sorts gids by their number. */
const numericIdKey = (x: { id: string }) => x.id.replace(/\d+$/, (d) => d.padStart(20, '0'));

/** Orders sort keys the stand-in knows; Shopify's default is ID. */
const ORDER_SORT: Record<string, (o: FakeOrder) => string> = {
  ID: numericIdKey,
  UPDATED_AT: (o) => `${new Date(o.updatedAt).toISOString()}|${o.id}`,
  CREATED_AT: (o) => `${new Date(o.createdAt).toISOString()}|${o.id}`,
  PROCESSED_AT: (o) => `${new Date(o.processedAt).toISOString()}|${o.id}`,
};

function registerBuiltIns(fake: ShopifyAdminFake): void {
  fake.handle('orders', (args) => {
    const matches = searchFilter(args.query);
    const key = ORDER_SORT[String(args.sortKey ?? 'ID')] ?? ORDER_SORT.ID!;
    let list = sortKeyed(
      fake.orders.filter((o) =>
        matches({
          updated_at: o.updatedAt,
          created_at: o.createdAt,
          processed_at: o.processedAt,
          name: o.name,
          email: o.email ?? undefined,
          financial_status: o.displayFinancialStatus.toLowerCase(),
        }),
      ),
      key,
    );
    if (args.reverse === true) list = list.reverse();
    return connection(list, args, key, (o) => orderView(fake, o));
  });
  fake.handle('order', (args) => {
    const o = fake.orders.find((x) => x.id === args.id);
    return o ? orderView(fake, o) : null;
  });
  fake.handle('refund', (args) => {
    for (const o of fake.orders) {
      const r = o.refunds.find((x) => x.id === args.id);
      if (r) return { ...refundView(r, o.currency ?? 'USD'), order: orderView(fake, o) };
    }
    return null;
  });
  fake.handle('customers', (args) => {
    const matches = searchFilter(args.query);
    const list = sortKeyed(
      fake.customers.filter((c) => matches({ email: c.email ?? undefined, updated_at: c.updatedAt })),
      numericIdKey,
    );
    return connection(list, args, (c) => c.id, customerView);
  });
  fake.handle('customer', (args) => {
    const c = fake.customerById(String(args.id));
    return c ? customerView(c) : null;
  });
  fake.handle('customersCount', () => ({ count: fake.customers.length, precision: 'EXACT' }));
}
