import {
  GraphqlQueryError,
  HttpRequestError,
  HttpResponseError,
  HttpRetriableError,
  type Session,
  type Shopify,
} from '@shopify/shopify-api';
import { z } from 'zod';
import { AppError } from '../errors.js';

/**
 * Paging the shop's customers with the GraphQL Admin API, within Shopify's query-cost budget.
 *
 * Shopify meters GraphQL by cost: each answer reports `extensions.cost.throttleStatus`
 * ({maximumAvailable, currentlyAvailable, restoreRate}) and the `requestedQueryCost` of the query. Before
 * the next request we wait until the bucket holds at least that cost again; a THROTTLED answer (the
 * bucket ran dry anyway, e.g. another app of the shop spent it) waits the same way and repeats the query.
 */

/** Sends one query; resolves to the raw `{data, extensions}` or throws `ShopifyThrottledError`. */
export type GraphqlRequest = (
  query: string,
  variables: Record<string, unknown>,
) => Promise<{ data?: unknown; extensions?: unknown }>;

export class ShopifyThrottledError extends AppError {
  override readonly code = 'SHOPIFY_THROTTLED' as const;
  constructor(
    readonly cost: QueryCost | undefined,
    readonly retryAfterMs?: number,
  ) {
    super('Shopify is throttling GraphQL requests', { retryable: true });
  }
}

/** Shopify answered 5xx or could not be reached; a later attempt may succeed. */
export class ShopifyUnavailableError extends AppError {
  override readonly code = 'SHOPIFY_UNAVAILABLE' as const;
  override readonly retryable = true;
  constructor(message: string) {
    super(message);
  }
}

export class ShopifyGraphqlError extends AppError {
  override readonly code = 'SHOPIFY_GRAPHQL' as const;
  constructor(message: string) {
    super(message, { retryable: true });
  }
}

const throttleStatusSchema = z.object({
  maximumAvailable: z.number(),
  currentlyAvailable: z.number(),
  restoreRate: z.number(),
});
const costSchema = z.object({
  requestedQueryCost: z.number().optional(),
  actualQueryCost: z.number().nullable().optional(),
  throttleStatus: throttleStatusSchema,
});
export type QueryCost = z.infer<typeof costSchema>;

function readCost(extensions: unknown): QueryCost | undefined {
  const parsed = z.object({ cost: costSchema }).safeParse(extensions);
  return parsed.success ? parsed.data.cost : undefined;
}

/**
 * Milliseconds to wait before a query that costs `cost` may run, given the last known bucket state.
 * Zero when enough is available.
 */
export function throttleWaitMs(status: QueryCost['throttleStatus'] | undefined, cost: number): number {
  if (!status) return 0;
  const need = Math.min(cost, status.maximumAvailable) - status.currentlyAvailable;
  if (need <= 0) return 0;
  const rate = status.restoreRate > 0 ? status.restoreRate : 1;
  return Math.ceil((need / rate) * 1000);
}

/** The real thing: `shopify.clients.Graphql` for the shop's session, with THROTTLED turned into a typed error. */
export function graphqlRequestFor(shopify: Shopify, session: Session): GraphqlRequest {
  const client = new shopify.clients.Graphql({ session });
  return async (query, variables) => {
    try {
      const res = await client.request(query, { variables });
      return { data: res.data, extensions: res.extensions };
    } catch (err) {
      if (err instanceof GraphqlQueryError) {
        const body = err.body as {
          errors?: { graphQLErrors?: { extensions?: { code?: string } }[] };
          extensions?: unknown;
        };
        const throttled = body?.errors?.graphQLErrors?.some((e) => e.extensions?.code === 'THROTTLED');
        if (throttled) throw new ShopifyThrottledError(readCost(body?.extensions));
        throw new ShopifyGraphqlError(`Shopify rejected the query: ${err.message}`);
      }
      if (err instanceof HttpRetriableError && err.response.code === 429) {
        const retryAfter = Number((err.response as { retryAfter?: number }).retryAfter);
        throw new ShopifyThrottledError(undefined, Number.isFinite(retryAfter) ? retryAfter * 1000 : 2_000);
      }
      if (err instanceof HttpRequestError) throw new ShopifyUnavailableError('Could not reach Shopify');
      if (err instanceof HttpRetriableError) {
        throw new ShopifyUnavailableError(`Shopify is unavailable (HTTP ${err.response.code})`);
      }
      if (err instanceof HttpResponseError && err.response.code === 401) {
        throw new ShopifyGraphqlError(
          'Shopify refused the access token: open the app from the Shopify admin to renew it',
        );
      }
      throw err;
    }
  };
}

interface ShopifyCustomer {
  /** `gid://shopify/Customer/<id>` */
  gid: string;
  /** The numeric id as a string (what webhooks carry). */
  id: string;
  firstName?: string;
  lastName?: string;
  email?: string;
  phone?: string;
}

export interface CustomerPage {
  customers: ShopifyCustomer[];
  endCursor?: string;
  hasNextPage: boolean;
  /** Only asked on the first page. */
  total?: number;
}

export const CUSTOMERS_PAGE_SIZE = 250;

export const CUSTOMERS_QUERY = `query LinkExistingCustomers($first: Int!, $after: String) {
  customers(first: $first, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      firstName
      lastName
      defaultEmailAddress { emailAddress }
      defaultPhoneNumber { phoneNumber }
    }
  }
}`;

export const CUSTOMERS_COUNT_QUERY = `query CustomersCount { customersCount { count } }`;

const pageSchema = z.object({
  customers: z.object({
    pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullable().optional() }),
    nodes: z.array(
      z.object({
        id: z.string(),
        firstName: z.string().nullable().optional(),
        lastName: z.string().nullable().optional(),
        defaultEmailAddress: z
          .object({ emailAddress: z.string().nullable().optional() })
          .nullable()
          .optional(),
        defaultPhoneNumber: z.object({ phoneNumber: z.string().nullable().optional() }).nullable().optional(),
      }),
    ),
  }),
});

export interface PagerOptions {
  sleep?: (ms: number) => Promise<void>;
  /** Attempts of one query while THROTTLED (default 10). */
  maxThrottleRetries?: number;
  /** Estimated cost of a page before the first answer reports it. */
  pageCostEstimate?: number;
}

const defaultSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Sends queries within the shop's cost budget: before each one waits until the last reported bucket holds
 * its cost, and repeats a THROTTLED query after waiting (at most `maxThrottleRetries` times). Keeps the
 * throttle state between calls, so one instance should serve a whole walk.
 */
export class BudgetedGraphql {
  private lastStatus: QueryCost['throttleStatus'] | undefined;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly maxThrottleRetries: number;
  /** Total milliseconds spent waiting for the cost budget (for progress reporting and tests). */
  waitedMs = 0;
  throttledAnswers = 0;
  /** The requested cost of the last answered query (an estimate for the next one of the same shape). */
  lastCost: number;
  /** Requested cost Shopify last reported per document: the estimate for its next request. */
  private readonly costs = new Map<string, number>();

  constructor(
    private readonly request: GraphqlRequest,
    opts: PagerOptions & { costEstimate: number },
  ) {
    this.sleep = opts.sleep ?? defaultSleep;
    this.maxThrottleRetries = opts.maxThrottleRetries ?? 10;
    this.lastCost = opts.costEstimate;
  }

  /** Sends `query` once the budget holds its cost (as last reported for this document, else `estimate`). */
  async send(query: string, variables: Record<string, unknown>, estimate: number) {
    const noteCost = (c: QueryCost) => {
      this.lastStatus = c.throttleStatus;
      if (c.requestedQueryCost) {
        this.lastCost = c.requestedQueryCost;
        this.costs.set(query, c.requestedQueryCost);
      }
    };
    for (let attempt = 0; ; attempt++) {
      const wait = throttleWaitMs(this.lastStatus, this.costs.get(query) ?? estimate);
      if (wait > 0) {
        this.waitedMs += wait;
        await this.sleep(wait);
        // The bucket has refilled by now as far as we know; forget the old reading.
        this.lastStatus = undefined;
      }
      try {
        const res = await this.request(query, variables);
        const c = readCost(res.extensions);
        if (c) noteCost(c);
        return res;
      } catch (err) {
        if (!(err instanceof ShopifyThrottledError) || attempt >= this.maxThrottleRetries) throw err;
        this.throttledAnswers++;
        if (err.cost) noteCost(err.cost);
        else {
          const ms = err.retryAfterMs ?? 1_000;
          this.waitedMs += ms;
          await this.sleep(ms);
        }
      }
    }
  }
}

/** Pages through the shop's customers; one pager should be used for the whole walk. */
export class CustomerPager {
  private readonly budget: BudgetedGraphql;

  constructor(request: GraphqlRequest, opts: PagerOptions = {}) {
    this.budget = new BudgetedGraphql(request, {
      ...opts,
      costEstimate: opts.pageCostEstimate ?? CUSTOMERS_PAGE_SIZE + 2,
    });
  }

  /** Total milliseconds spent waiting for the cost budget (for progress reporting and tests). */
  get waitedMs(): number {
    return this.budget.waitedMs;
  }
  get throttledAnswers(): number {
    return this.budget.throttledAnswers;
  }

  private send(query: string, variables: Record<string, unknown>, cost: number) {
    return this.budget.send(query, variables, cost);
  }

  async count(): Promise<number | undefined> {
    try {
      const res = await this.send(CUSTOMERS_COUNT_QUERY, {}, 2);
      const parsed = z.object({ customersCount: z.object({ count: z.number() }) }).safeParse(res.data);
      return parsed.success ? parsed.data.customersCount.count : undefined;
    } catch (err) {
      if (err instanceof ShopifyThrottledError) throw err;
      return undefined; // the count only feeds the progress bar
    }
  }

  async page(after?: string): Promise<CustomerPage> {
    const res = await this.send(
      CUSTOMERS_QUERY,
      { first: CUSTOMERS_PAGE_SIZE, after: after ?? null },
      this.budget.lastCost,
    );
    const parsed = pageSchema.safeParse(res.data);
    if (!parsed.success)
      throw new ShopifyGraphqlError('Shopify answered the customers query with an unexpected shape');
    const { pageInfo, nodes } = parsed.data.customers;
    return {
      hasNextPage: pageInfo.hasNextPage,
      endCursor: pageInfo.endCursor ?? undefined,
      customers: nodes.map((n) => ({
        gid: n.id,
        id: n.id.replace(/^gid:\/\/shopify\/Customer\//, ''),
        firstName: n.firstName ?? undefined,
        lastName: n.lastName ?? undefined,
        email: n.defaultEmailAddress?.emailAddress ?? undefined,
        phone: n.defaultPhoneNumber?.phoneNumber ?? undefined,
      })),
    };
  }
}
