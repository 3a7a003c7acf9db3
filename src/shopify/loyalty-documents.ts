import { z } from 'zod';
import {
  BudgetedGraphql,
  type GraphqlRequest,
  ShopifyGraphqlError,
  ShopifyThrottledError,
  ShopifyUnavailableError,
} from './graphql.js';

/**
 * The Admin API calls of the storefront side: the `$app.loyalty_points` customer metafield (metafieldsSet,
 * at most 25 per call) and the discount codes points are redeemed for (discountCodeBasicCreate, looked up
 * by code for its use, deactivated when it expires unused). Each document is listed in admin-documents.ts.
 */

export const METAFIELDS_SET_MUTATION = `mutation LoyaltyPointsMetafieldsSet($metafields: [MetafieldsSetInput!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { key namespace value owner { ... on Customer { id } } }
    userErrors { field message code elementIndex }
  }
}`;

export const DISCOUNT_CREATE_MUTATION = `mutation RedeemPointsCreateCode($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field message code }
  }
}`;

export const DISCOUNT_BY_CODE_QUERY = `query RedeemedCodeByCode($code: String!) {
  codeDiscountNodeByCode(code: $code) {
    id
    codeDiscount {
      ... on DiscountCodeBasic { title asyncUsageCount status endsAt }
    }
  }
}`;

export const DISCOUNT_DEACTIVATE_MUTATION = `mutation RedeemedCodeDeactivate($id: ID!) {
  discountCodeDeactivate(id: $id) {
    codeDiscountNode { id }
    userErrors { field message code }
  }
}`;

/** The metafield the bridge keeps: app-owned, on the customer, declared in shopify.app.toml. */
export const LOYALTY_METAFIELD = {
  namespace: '$app',
  key: 'loyalty_points',
  type: 'number_integer',
} as const;
/** Shopify's limit of metafields per metafieldsSet call. */
export const METAFIELDS_PER_CALL = 25;

export const customerGid = (id: string) => `gid://shopify/Customer/${id}`;

const userErrorsSchema = z.array(
  z.object({
    field: z.array(z.string()).nullable().optional(),
    message: z.string(),
    code: z.string().nullable().optional(),
    elementIndex: z.number().nullable().optional(),
  }),
);
export type AdminUserError = z.infer<typeof userErrorsSchema>[number];

const metafieldsSetSchema = z.object({
  metafieldsSet: z.object({ userErrors: userErrorsSchema }).nullable(),
});
const createSchema = z.object({
  discountCodeBasicCreate: z
    .object({
      codeDiscountNode: z.object({ id: z.string() }).nullable().optional(),
      userErrors: userErrorsSchema,
    })
    .nullable(),
});
const byCodeSchema = z.object({
  codeDiscountNodeByCode: z
    .object({
      id: z.string(),
      codeDiscount: z
        .object({
          title: z.string().optional(),
          asyncUsageCount: z.number().optional(),
          status: z.string().optional(),
          endsAt: z.string().nullable().optional(),
        })
        .passthrough(),
    })
    .nullable(),
});
const deactivateSchema = z.object({
  discountCodeDeactivate: z.object({ userErrors: userErrorsSchema }).nullable(),
});

/** An answer with top-level GraphQL errors (a document Shopify refused, or its own failure). */
function dataOf(res: { data?: unknown; errors?: unknown }, what: string): unknown {
  const errors = (res as { errors?: { message?: string }[] }).errors;
  if (Array.isArray(errors) && errors.length) {
    throw new ShopifyGraphqlError(`Shopify refused ${what}: ${errors.map((e) => e.message).join('; ')}`);
  }
  return res.data;
}

export interface DiscountFound {
  id: string;
  title?: string;
  usageCount: number;
  status?: string;
  endsAt?: string | null;
}

/**
 * One shop's storefront Admin API calls within its cost budget: THROTTLED answers are waited out and sent
 * again (at most `maxThrottleRetries` times), a 5xx is tried again `maxUnavailableRetries` times.
 */
export class LoyaltyAdmin {
  private readonly budget: BudgetedGraphql;
  private readonly maxUnavailableRetries: number;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Admin API calls answered (each one counted once, retries included): for the benchmark. */
  calls = 0;

  constructor(
    request: GraphqlRequest,
    opts: {
      maxThrottleRetries?: number;
      maxUnavailableRetries?: number;
      sleep?: (ms: number) => Promise<void>;
    } = {},
  ) {
    this.sleep = opts.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.budget = new BudgetedGraphql(request, {
      costEstimate: 10,
      maxThrottleRetries: opts.maxThrottleRetries ?? 10,
      sleep: this.sleep,
    });
    this.maxUnavailableRetries = opts.maxUnavailableRetries ?? 2;
  }

  get throttledAnswers(): number {
    return this.budget.throttledAnswers;
  }

  private async send(query: string, variables: Record<string, unknown>, estimate: number) {
    for (let attempt = 0; ; attempt++) {
      try {
        this.calls++;
        return await this.budget.send(query, variables, estimate);
      } catch (err) {
        if (!(err instanceof ShopifyUnavailableError) || attempt >= this.maxUnavailableRetries) throw err;
        await this.sleep(100 * 2 ** attempt);
      }
    }
  }

  /** Sets `$app.loyalty_points` of each customer (≤ 25); answers Shopify's userErrors (none: all set). */
  async setLoyaltyPoints(entries: { customerId: string; points: number }[]): Promise<AdminUserError[]> {
    if (entries.length > METAFIELDS_PER_CALL) throw new RangeError('at most 25 metafields per call');
    const metafields = entries.map((e) => ({
      ownerId: customerGid(e.customerId),
      namespace: LOYALTY_METAFIELD.namespace,
      key: LOYALTY_METAFIELD.key,
      type: LOYALTY_METAFIELD.type,
      value: String(Math.trunc(e.points)),
    }));
    const res = await this.send(METAFIELDS_SET_MUTATION, { metafields }, 10);
    const parsed = metafieldsSetSchema.safeParse(dataOf(res, 'the metafield write'));
    if (!parsed.success || !parsed.data.metafieldsSet) {
      throw new ShopifyGraphqlError('Shopify answered metafieldsSet with an unexpected shape');
    }
    return parsed.data.metafieldsSet.userErrors;
  }

  /** Creates a one-use code for one customer: its id, or Shopify's userErrors. */
  async createCode(input: {
    code: string;
    title: string;
    customerId: string;
    amount: string;
    startsAt: string;
    endsAt: string;
  }): Promise<{ id?: string; userErrors: AdminUserError[] }> {
    const basicCodeDiscount = {
      title: input.title,
      code: input.code,
      startsAt: input.startsAt,
      endsAt: input.endsAt,
      context: { customers: { add: [customerGid(input.customerId)] } },
      customerGets: {
        value: { discountAmount: { amount: input.amount, appliesOnEachItem: false } },
        items: { all: true },
      },
      usageLimit: 1,
      appliesOncePerCustomer: true,
    };
    const res = await this.send(DISCOUNT_CREATE_MUTATION, { basicCodeDiscount }, 10);
    const parsed = createSchema.safeParse(dataOf(res, 'the discount code'));
    if (!parsed.success || !parsed.data.discountCodeBasicCreate) {
      throw new ShopifyGraphqlError('Shopify answered discountCodeBasicCreate with an unexpected shape');
    }
    const p = parsed.data.discountCodeBasicCreate;
    return { id: p.codeDiscountNode?.id, userErrors: p.userErrors };
  }

  /** The code's discount, or undefined when Shopify has none by that code. */
  async findCode(code: string): Promise<DiscountFound | undefined> {
    const res = await this.send(DISCOUNT_BY_CODE_QUERY, { code }, 2);
    const parsed = byCodeSchema.safeParse(dataOf(res, 'the code lookup'));
    if (!parsed.success)
      throw new ShopifyGraphqlError('Shopify answered the code lookup with an unexpected shape');
    const n = parsed.data.codeDiscountNodeByCode;
    if (!n) return undefined;
    return {
      id: n.id,
      title: n.codeDiscount.title,
      usageCount: n.codeDiscount.asyncUsageCount ?? 0,
      status: n.codeDiscount.status,
      endsAt: n.codeDiscount.endsAt,
    };
  }

  async deactivateCode(id: string): Promise<AdminUserError[]> {
    const res = await this.send(DISCOUNT_DEACTIVATE_MUTATION, { id }, 10);
    const parsed = deactivateSchema.safeParse(dataOf(res, 'the code deactivation'));
    if (!parsed.success || !parsed.data.discountCodeDeactivate) {
      throw new ShopifyGraphqlError('Shopify answered discountCodeDeactivate with an unexpected shape');
    }
    return parsed.data.discountCodeDeactivate.userErrors;
  }
}

export { ShopifyGraphqlError, ShopifyThrottledError, ShopifyUnavailableError };
