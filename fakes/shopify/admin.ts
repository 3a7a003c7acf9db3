import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { execute, type GraphQLSchema, getOperationAST, parse } from 'graphql';
import {
  adminSchema,
  connection,
  requestedCost,
  searchFilter,
  shopifyError,
  validationErrors,
} from './admin-graphql.js';

export {
  adminSchema,
  connection,
  requestedCost,
  type ShopifyError,
  searchFilter,
  validationErrors,
} from './admin-graphql.js';

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
 * A test can answer chosen requests itself first (`script`), and reads every request in `requests`.
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
  tax?: string;
  giftCard?: boolean;
}

export interface FakeRefund {
  id: string;
  createdAt: string;
  lines: FakeRefundLine[];
  /** Shipping given back (subtotal amounts). */
  shipping?: string[];
  /** Order adjustments: reason (e.g. SHIPPING_REFUND, REFUND_DISCREPANCY) and a signed amount. */
  adjustments?: { reason: string; amount: string }[];
}

export interface FakeLineItem {
  id: string;
  quantity: number;
  currentQuantity?: number;
  giftCard?: boolean;
  unitPrice: string;
  taxes?: string[];
  discounts?: string[];
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
  taxesIncluded?: boolean;
  lineItems?: FakeLineItem[];
  shippingLines?: { price: string; discountedPrice?: string }[];
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

/** One HTTP request as the stand-in received it. */
export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface ScriptedAnswer {
  status?: number;
  json: unknown;
}

/**
 * A test's own answer to a request, before the stand-in's: return one to answer it (a thrown error answers
 * 500), or undefined to let the stand-in answer as Shopify would.
 */
export type Script = (
  req: RecordedRequest,
) => ScriptedAnswer | undefined | Promise<ScriptedAnswer | undefined>;

export interface ShopifyAdminFakeOptions {
  /** API version served (its schema must be vendored). Default 2026-07. */
  version?: string;
  /** Accepted X-Shopify-Access-Token values (default none; a token exchange adds the token it answers). */
  accessTokens?: string[];
  /** Answers chosen by the test, tried before the stand-in's own (see Script). */
  script?: Script;
  /** The bucket: Shopify's standard plan is 2,000 points refilled at 100 a second. */
  maximumAvailable?: number;
  restoreRate?: number;
  /** The limit of one query (Shopify: 1,000). */
  maxQueryCost?: number;
  port?: number;
  /** The scopes a token exchange answers with. */
  scope?: string;
}

export class ShopifyAdminFake {
  readonly version: string;
  readonly schema: GraphQLSchema;
  orders: FakeOrder[] = [];
  customers: FakeCustomer[] = [];
  readonly received: ReceivedRequest[] = [];
  /** Every HTTP request, in arrival order (GraphQL, token exchange, anything else). */
  readonly requests: RecordedRequest[] = [];
  readonly accessTokens: Set<string>;
  script?: Script;
  private readonly queryResolvers = new Map<string, RootResolver>();
  private readonly mutationResolvers = new Map<string, RootResolver>();
  private server?: http.Server;
  private throttleCount = 0;
  private outages: { status: number; when: (r: ReceivedRequest) => boolean }[] = [];
  private available: number;
  private availableAt = Date.now();
  readonly maximumAvailable: number;
  readonly restoreRate: number;
  readonly maxQueryCost: number;
  readonly scope: string;
  origin = '';

  constructor(opts: ShopifyAdminFakeOptions) {
    this.version = opts.version ?? '2026-07';
    this.schema = adminSchema(this.version);
    this.accessTokens = new Set(opts.accessTokens ?? []);
    this.script = opts.script;
    this.maximumAvailable = opts.maximumAvailable ?? 2000;
    this.restoreRate = opts.restoreRate ?? 100;
    this.maxQueryCost = opts.maxQueryCost ?? 1000;
    this.scope = opts.scope ?? 'read_customers,write_customers,read_orders';
    this.available = this.maximumAvailable;
    registerBuiltIns(this);
  }

  static async start(opts: ShopifyAdminFakeOptions = {}): Promise<ShopifyAdminFake> {
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

  /**
   * The next request matching `when` (default: any) is answered with HTTP `status` (default 503), as when
   * Shopify is having an outage; once.
   */
  failNext(opts: { status?: number; when?: (r: ReceivedRequest) => boolean } = {}): void {
    this.outages.push({ status: opts.status ?? 503, when: opts.when ?? (() => true) });
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
        const rec: RecordedRequest = {
          method: req.method ?? 'GET',
          path: req.url ?? '/',
          headers: req.headers,
          body: Buffer.concat(chunks).toString('utf8'),
        };
        this.requests.push(rec);
        const scripted = async () => {
          const own = await this.script?.(rec);
          return own ? { status: own.status ?? 200, body: own.json } : this.answer(req, rec.body);
        };
        scripted().then(
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

  /**
   * Token exchange / authorization-code grant, as far as an app needs it: every request gets a new offline
   * token, which the stand-in then accepts (it does not check the session token or the code).
   */
  private exchangeToken(): { status: number; body: unknown } {
    const token = `shpat_${randomBytes(12).toString('hex')}`;
    this.accessTokens.add(token);
    return { status: 200, body: { access_token: token, scope: this.scope } };
  }

  private async answer(req: http.IncomingMessage, raw: string): Promise<{ status: number; body: unknown }> {
    if (req.method === 'POST' && /^\/admin\/oauth\/access_token(?:\?.*)?$/.test(req.url ?? '')) {
      return this.exchangeToken();
    }
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
    const named = /^\s*(?:query|mutation)\s+([A-Za-z_]\w*)/.exec(String(body.query ?? ''))?.[1];
    const record: ReceivedRequest = {
      operationName: typeof body.operationName === 'string' ? body.operationName : named,
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
    const outage = this.outages.findIndex((o) => o.when(record));
    if (outage >= 0) {
      const [o] = this.outages.splice(outage, 1);
      record.outcome = 'error';
      return { status: o?.status ?? 503, body: { errors: 'Service Unavailable' } };
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
          lineItem: { id: l.lineItemId, isGiftCard: l.giftCard === true },
          subtotalSet: moneyBag(l.subtotal, currency),
          totalTaxSet: moneyBag(l.tax ?? '0.00', currency),
        }),
      ),
    refundShippingLines: (args: Record<string, unknown>) =>
      connection(
        (r.shipping ?? []).map((amount, i) => ({ amount, i })),
        args,
        (x) => String(x.i),
        (x) => ({ subtotalAmountSet: moneyBag(x.amount, currency) }),
      ),
    orderAdjustments: (args: Record<string, unknown>) =>
      connection(
        (r.adjustments ?? []).map((a, i) => ({ ...a, i })),
        args,
        (x) => String(x.i),
        (x) => ({ reason: x.reason, amountSet: moneyBag(x.amount, currency) }),
      ),
  };
}

function lineItemView(li: FakeLineItem, currency: string) {
  return {
    id: li.id,
    quantity: li.quantity,
    currentQuantity: li.currentQuantity ?? li.quantity,
    isGiftCard: li.giftCard === true,
    originalUnitPriceSet: moneyBag(li.unitPrice, currency),
    taxLines: (li.taxes ?? []).map((t) => ({ priceSet: moneyBag(t, currency) })),
    discountAllocations: (li.discounts ?? []).map((d) => ({ allocatedAmountSet: moneyBag(d, currency) })),
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
    currencyCode: currency,
    taxesIncluded: o.taxesIncluded === true,
    lineItems: (args: Record<string, unknown>) =>
      connection(
        o.lineItems ?? [],
        args,
        (li) => li.id,
        (li) => lineItemView(li, currency),
      ),
    shippingLines: (args: Record<string, unknown>) =>
      connection(
        (o.shippingLines ?? []).map((sl, i) => ({ ...sl, i })),
        args,
        (x) => String(x.i),
        (x) => ({
          originalPriceSet: moneyBag(x.price, currency),
          discountedPriceSet: moneyBag(x.discountedPrice ?? x.price, currency),
        }),
      ),
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
          id: o.id.replace(/^.*\//, ''),
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
