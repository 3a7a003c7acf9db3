import { z } from 'zod';

/**
 * Orders read back from the GraphQL Admin API (catch-up), turned into the shape of Shopify's order
 * webhooks, so they go through the very parser and facts merge a delivered webhook goes through
 * (src/sync/payloads.ts). Only the fields that parser reads are asked for.
 */

/**
 * Orders per page. Shopify charges a page by what it may return (connections multiply by `first`), so the
 * page asks only the refunds' ids; each refund's lines are read with REFUND_QUERY. Both stay far inside the
 * 1,000-point limit of one query.
 */
export const ORDERS_PAGE_SIZE = 20;
/** Refund ids asked per order; an order with this many or more is reported, not guessed. */
export const REFUNDS_PER_ORDER = 20;
export const REFUND_LINES_PAGE_SIZE = 50;

export const ORDERS_UPDATED_QUERY = `query CatchUpOrders($first: Int!, $after: String, $query: String!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      name
      email
      test
      createdAt
      processedAt
      updatedAt
      cancelledAt
      displayFinancialStatus
      currentSubtotalPriceSet { shopMoney { amount currencyCode } }
      subtotalPriceSet { shopMoney { amount currencyCode } }
      customer {
        id
        firstName
        lastName
        defaultEmailAddress { emailAddress }
        defaultPhoneNumber { phoneNumber }
      }
      refunds(first: ${REFUNDS_PER_ORDER}) { id }
    }
  }
}`;

export const REFUND_QUERY = `query CatchUpRefund($id: ID!, $first: Int!, $after: String) {
  refund(id: $id) {
    id
    createdAt
    refundLineItems(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id
        quantity
        lineItem { id }
        subtotalSet { shopMoney { amount currencyCode } }
      }
    }
  }
}`;

/** The search of orders changed after `since` and at or before `until` (ISO 8601 instants). */
export function updatedBetweenQuery(since: string, until: string): string {
  return `updated_at:>'${since}' AND updated_at:<='${until}'`;
}

const nullableString = z.string().nullish();
const money = z
  .object({ shopMoney: z.object({ amount: z.union([z.string(), z.number()]), currencyCode: z.string() }) })
  .nullish();

const refundLine = z.object({
  id: nullableString,
  quantity: z.number().nullish(),
  lineItem: z.object({ id: z.string() }).nullish(),
  subtotalSet: money,
});
export type RefundLineNode = z.infer<typeof refundLine>;

export const refundPageSchema = z.object({
  refund: z
    .object({
      id: z.string(),
      createdAt: nullableString,
      refundLineItems: z.object({
        pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullish() }),
        nodes: z.array(refundLine),
      }),
    })
    .nullable(),
});

/** A refund with all its lines (read page by page). */
export interface RefundDetail {
  id: string;
  createdAt?: string | null;
  lines: RefundLineNode[];
}

export const orderNodeSchema = z.object({
  id: z.string(),
  name: nullableString,
  email: nullableString,
  test: z.boolean().nullish(),
  createdAt: nullableString,
  processedAt: nullableString,
  updatedAt: z.string(),
  cancelledAt: nullableString,
  displayFinancialStatus: nullableString,
  currentSubtotalPriceSet: money,
  subtotalPriceSet: money,
  customer: z
    .object({
      id: z.string(),
      firstName: nullableString,
      lastName: nullableString,
      defaultEmailAddress: z.object({ emailAddress: nullableString }).nullish(),
      defaultPhoneNumber: z.object({ phoneNumber: nullableString }).nullish(),
    })
    .nullish(),
  refunds: z.array(z.object({ id: z.string() })).nullish(),
});
export type OrderNode = z.infer<typeof orderNodeSchema>;

export const ordersPageSchema = z.object({
  orders: z.object({
    pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullish() }),
    nodes: z.array(z.unknown()),
  }),
});

/** The numeric id of a `gid://shopify/<Type>/<id>` (the form webhooks carry). */
export function legacyId(gid: string): string {
  const m = /^gid:\/\/shopify\/[A-Za-z]+\/(\d+)/.exec(gid);
  return m ? (m[1] as string) : gid;
}

/** Financial states in which Shopify has sent (or would have sent) orders/paid. */
const PAID_STATES = new Set(['PAID', 'PARTIALLY_REFUNDED', 'REFUNDED']);

export function isPaid(order: OrderNode): boolean {
  return PAID_STATES.has(order.displayFinancialStatus ?? '');
}

/** Why an order cannot be read whole (more refunds than one page asks), if so. */
export function truncation(order: OrderNode): string | undefined {
  if ((order.refunds ?? []).length >= REFUNDS_PER_ORDER) return `it has ${REFUNDS_PER_ORDER} or more refunds`;
  return undefined;
}

const moneySet = (m: OrderNode['currentSubtotalPriceSet']) =>
  m
    ? { shop_money: { amount: String(m.shopMoney.amount), currency_code: m.shopMoney.currencyCode } }
    : undefined;

/**
 * One GraphQL order as the body of an order webhook (`orders/paid`, `orders/cancelled`): snake_case REST
 * field names, numeric ids with `admin_graphql_api_id`, money as strings in the shop's currency, and its
 * refunds (each read whole with REFUND_QUERY) as `refunds/create` bodies.
 */
export function toWebhookOrder(order: OrderNode, refunds: RefundDetail[]): Record<string, unknown> {
  const orderId = legacyId(order.id);
  const c = order.customer;
  return {
    id: orderId,
    admin_graphql_api_id: order.id,
    name: order.name ?? undefined,
    email: order.email ?? undefined,
    test: order.test === true,
    created_at: order.createdAt ?? undefined,
    processed_at: order.processedAt ?? undefined,
    updated_at: order.updatedAt,
    cancelled_at: order.cancelledAt ?? null,
    financial_status: order.displayFinancialStatus?.toLowerCase(),
    current_subtotal_price: order.currentSubtotalPriceSet?.shopMoney.amount.toString(),
    current_subtotal_price_set: moneySet(order.currentSubtotalPriceSet),
    subtotal_price: order.subtotalPriceSet?.shopMoney.amount.toString(),
    subtotal_price_set: moneySet(order.subtotalPriceSet),
    customer: c
      ? {
          id: legacyId(c.id),
          admin_graphql_api_id: c.id,
          email: c.defaultEmailAddress?.emailAddress ?? null,
          first_name: c.firstName ?? null,
          last_name: c.lastName ?? null,
          phone: c.defaultPhoneNumber?.phoneNumber ?? null,
        }
      : null,
    refunds: refunds.map((r) => ({
      id: legacyId(r.id),
      admin_graphql_api_id: r.id,
      order_id: orderId,
      created_at: r.createdAt ?? undefined,
      refund_line_items: r.lines.map((li) => ({
        id: li.id ? legacyId(li.id) : undefined,
        line_item_id: li.lineItem ? legacyId(li.lineItem.id) : undefined,
        quantity: li.quantity ?? undefined,
        subtotal: li.subtotalSet?.shopMoney.amount.toString(),
        subtotal_set: moneySet(li.subtotalSet),
      })),
    })),
  };
}
