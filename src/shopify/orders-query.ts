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
const REFUNDS_PER_ORDER = 20;
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
      currencyCode
      taxesIncluded
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
        lineItem { id isGiftCard }
        subtotalSet { shopMoney { amount currencyCode } }
        totalTaxSet { shopMoney { amount currencyCode } }
      }
    }
    refundShippingLines(first: 10) { nodes { subtotalAmountSet { shopMoney { amount currencyCode } } } }
    orderAdjustments(first: 10) { nodes { reason amountSet { shopMoney { amount currencyCode } } } }
  }
}`;

/** An order's line items (tax, gift cards, quantities now) and shipping, which the points settings read. */
export const ORDER_LINES_QUERY = `query CatchUpOrderLines($id: ID!, $first: Int!, $after: String) {
  order(id: $id) {
    lineItems(first: $first, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {
        id
        quantity
        currentQuantity
        isGiftCard
        originalUnitPriceSet { shopMoney { amount currencyCode } }
        taxLines { priceSet { shopMoney { amount currencyCode } } }
        discountAllocations { allocatedAmountSet { shopMoney { amount currencyCode } } }
      }
    }
    shippingLines(first: 20) {
      nodes {
        originalPriceSet { shopMoney { amount currencyCode } }
        discountedPriceSet { shopMoney { amount currencyCode } }
      }
    }
  }
}`;
export const LINE_ITEMS_PAGE_SIZE = 50;

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
  lineItem: z.object({ id: z.string(), isGiftCard: z.boolean().nullish() }).nullish(),
  subtotalSet: money,
  totalTaxSet: money,
});
type RefundLineNode = z.infer<typeof refundLine>;

export const refundPageSchema = z.object({
  refund: z
    .object({
      id: z.string(),
      createdAt: nullableString,
      refundLineItems: z.object({
        pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullish() }),
        nodes: z.array(refundLine),
      }),
      refundShippingLines: z.object({ nodes: z.array(z.object({ subtotalAmountSet: money })) }).nullish(),
      orderAdjustments: z
        .object({ nodes: z.array(z.object({ reason: nullableString, amountSet: money })) })
        .nullish(),
    })
    .nullable(),
});

const lineItemNode = z.object({
  id: z.string(),
  quantity: z.number(),
  currentQuantity: z.number().nullish(),
  isGiftCard: z.boolean().nullish(),
  originalUnitPriceSet: money,
  taxLines: z.array(z.object({ priceSet: money })).nullish(),
  discountAllocations: z.array(z.object({ allocatedAmountSet: money })).nullish(),
});
const shippingNode = z.object({ originalPriceSet: money, discountedPriceSet: money });
type LineItemNode = z.infer<typeof lineItemNode>;
type ShippingNode = z.infer<typeof shippingNode>;

export const orderLinesPageSchema = z.object({
  order: z
    .object({
      lineItems: z.object({
        pageInfo: z.object({ hasNextPage: z.boolean(), endCursor: z.string().nullish() }),
        nodes: z.array(lineItemNode),
      }),
      shippingLines: z.object({ nodes: z.array(shippingNode) }),
    })
    .nullable(),
});

/** An order's line items and shipping lines, read whole. */
export interface OrderLines {
  lineItems: LineItemNode[];
  shippingLines: ShippingNode[];
}

/** A refund with all its lines (read page by page), its shipping and its adjustments. */
export interface RefundDetail {
  id: string;
  createdAt?: string | null;
  lines: RefundLineNode[];
  shipping: { subtotalAmountSet: Money }[];
  adjustments: { reason?: string | null; amountSet: Money }[];
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
  currencyCode: nullableString,
  taxesIncluded: z.boolean().nullish(),
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
type Money = z.infer<typeof money>;

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

const amountOf = (m: Money) => (m ? String(m.shopMoney.amount) : undefined);
const moneySet = (m: Money) =>
  m
    ? { shop_money: { amount: String(m.shopMoney.amount), currency_code: m.shopMoney.currencyCode } }
    : undefined;

/**
 * One GraphQL order as the body of an order webhook (`orders/paid`, `orders/cancelled`): snake_case REST
 * field names, numeric ids with `admin_graphql_api_id`, money as strings in the shop's currency, and its
 * refunds (each read whole with REFUND_QUERY) as `refunds/create` bodies.
 */
export function toWebhookOrder(
  order: OrderNode,
  refunds: RefundDetail[],
  lines: OrderLines = { lineItems: [], shippingLines: [] },
): Record<string, unknown> {
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
    currency: order.currencyCode ?? undefined,
    taxes_included: order.taxesIncluded === true,
    line_items: lines.lineItems.map((li) => ({
      id: legacyId(li.id),
      admin_graphql_api_id: li.id,
      gift_card: li.isGiftCard === true,
      quantity: li.quantity,
      current_quantity: li.currentQuantity ?? li.quantity,
      price: amountOf(li.originalUnitPriceSet),
      price_set: moneySet(li.originalUnitPriceSet),
      tax_lines: (li.taxLines ?? []).map((t) => ({
        price: amountOf(t.priceSet),
        price_set: moneySet(t.priceSet),
      })),
      discount_allocations: (li.discountAllocations ?? []).map((a) => ({
        amount: amountOf(a.allocatedAmountSet),
        amount_set: moneySet(a.allocatedAmountSet),
      })),
    })),
    shipping_lines: lines.shippingLines.map((sl) => ({
      price: amountOf(sl.originalPriceSet),
      price_set: moneySet(sl.originalPriceSet),
      discounted_price: amountOf(sl.discountedPriceSet),
      discounted_price_set: moneySet(sl.discountedPriceSet),
    })),
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
    refunds: refunds.map((r) => toWebhookRefund(r, orderId)),
  };
}

/** One refund of the order as a `refunds/create` body. */
function toWebhookRefund(r: RefundDetail, orderId: string): Record<string, unknown> {
  return {
    id: legacyId(r.id),
    admin_graphql_api_id: r.id,
    order_id: orderId,
    created_at: r.createdAt ?? undefined,
    refund_line_items: r.lines.map((li) => ({
      id: li.id ? legacyId(li.id) : undefined,
      line_item_id: li.lineItem ? legacyId(li.lineItem.id) : undefined,
      line_item: li.lineItem
        ? { id: legacyId(li.lineItem.id), gift_card: li.lineItem.isGiftCard === true }
        : undefined,
      quantity: li.quantity ?? undefined,
      subtotal: li.subtotalSet?.shopMoney.amount.toString(),
      subtotal_set: moneySet(li.subtotalSet),
      total_tax: amountOf(li.totalTaxSet),
      total_tax_set: moneySet(li.totalTaxSet),
    })),
    refund_shipping_lines: r.shipping.map((sh) => ({
      subtotal_amount_set: moneySet(sh.subtotalAmountSet),
    })),
    order_adjustments: r.adjustments.map((a) => ({
      kind: a.reason?.toLowerCase(),
      amount: amountOf(a.amountSet),
      amount_set: moneySet(a.amountSet),
    })),
  };
}
