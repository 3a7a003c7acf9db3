import { fixture } from './webhooks.js';

/**
 * Variants of Shopify's published payload shapes (test/fixtures/shopify): the fixture with its money and
 * lines replaced, so every other field stays as Shopify sends it.
 */

type Json = Record<string, unknown>;

export interface Presentment {
  currency: string;
  /** The presentment amount of a shop amount (deliberately different, so using it would show). */
  of(shop: string): string;
}

const set = (shop: string, currency: string, p?: Presentment) => ({
  shop_money: { amount: shop, currency_code: currency },
  presentment_money: { amount: p ? p.of(shop) : shop, currency_code: p ? p.currency : currency },
});

export interface LineSpec {
  id?: number;
  price: string;
  quantity?: number;
  currentQuantity?: number;
  tax?: string;
  discount?: string;
  giftCard?: boolean;
}

export interface OrderSpec {
  id?: number;
  currency?: string;
  presentment?: Presentment;
  taxesIncluded?: boolean;
  lines: LineSpec[];
  /** current_subtotal_price in shop money. */
  subtotal: string;
  shipping?: string;
  updatedAt?: string;
  financialStatus?: string;
  cancelledAt?: string | null;
  refunds?: Json[];
}

let lineSeq = 16_000_000_000_000;

export function orderVariant(o: OrderSpec): Json {
  const base = fixture('orders-paid');
  const cur = o.currency ?? 'USD';
  const p = o.presentment;
  const money = (v: string) => set(v, cur, p);
  const lineItems = o.lines.map((l) => {
    const id = l.id ?? ++lineSeq;
    return {
      ...(base.line_items as Json[])[0],
      id,
      admin_graphql_api_id: `gid://shopify/LineItem/${id}`,
      gift_card: l.giftCard === true,
      taxable: l.giftCard !== true,
      price: l.price,
      price_set: money(l.price),
      quantity: l.quantity ?? 1,
      current_quantity: l.currentQuantity ?? l.quantity ?? 1,
      tax_lines: l.tax
        ? [{ channel_liable: false, price: l.tax, price_set: money(l.tax), rate: 0.1, title: 'GST' }]
        : [],
      discount_allocations: l.discount
        ? [{ amount: l.discount, amount_set: money(l.discount), discount_application_index: 0 }]
        : [],
    };
  });
  const ship = o.shipping ?? '0.00';
  return {
    ...base,
    id: o.id ?? base.id,
    admin_graphql_api_id: `gid://shopify/Order/${o.id ?? base.id}`,
    currency: cur,
    presentment_currency: p ? p.currency : cur,
    taxes_included: o.taxesIncluded === true,
    current_subtotal_price: o.subtotal,
    current_subtotal_price_set: money(o.subtotal),
    subtotal_price: o.subtotal,
    subtotal_price_set: money(o.subtotal),
    financial_status: o.financialStatus ?? 'paid',
    cancelled_at: o.cancelledAt ?? null,
    updated_at: o.updatedAt ?? base.updated_at,
    line_items: lineItems,
    shipping_lines: [
      {
        ...(base.shipping_lines as Json[])[0],
        price: ship,
        price_set: money(ship),
        discounted_price: ship,
        discounted_price_set: money(ship),
      },
    ],
    total_shipping_price_set: money(ship),
    refunds: o.refunds ?? [],
  };
}

export interface RefundSpec {
  id: number;
  orderId?: number;
  currency?: string;
  presentment?: Presentment;
  lines?: { lineItemId?: number; subtotal: string; tax?: string; giftCard?: boolean; quantity?: number }[];
  adjustments?: { kind: 'shipping_refund' | 'refund_discrepancy'; amount: string }[];
}

export function refundVariant(r: RefundSpec): Json {
  const base = fixture('refunds-create');
  const cur = r.currency ?? 'USD';
  const money = (v: string) => set(v, cur, r.presentment);
  const baseLine = (base.refund_line_items as Json[])[0] as Json;
  return {
    ...base,
    id: r.id,
    admin_graphql_api_id: `gid://shopify/Refund/${r.id}`,
    order_id: r.orderId ?? base.order_id,
    refund_line_items: (r.lines ?? []).map((l, i) => ({
      ...baseLine,
      id: r.id * 10 + i,
      line_item_id: l.lineItemId ?? baseLine.line_item_id,
      quantity: l.quantity ?? 1,
      subtotal: Number(l.subtotal),
      subtotal_set: money(l.subtotal),
      total_tax: Number(l.tax ?? '0'),
      total_tax_set: money(l.tax ?? '0.00'),
      line_item: { ...(baseLine.line_item as Json), gift_card: l.giftCard === true },
    })),
    order_adjustments: (r.adjustments ?? []).map((a, i) => ({
      id: r.id * 10 + 5 + i,
      order_id: r.orderId ?? base.order_id,
      refund_id: r.id,
      amount: a.amount,
      tax_amount: '0.00',
      kind: a.kind,
      reason: a.kind === 'shipping_refund' ? 'Shipping refund' : 'Refund discrepancy',
      amount_set: money(a.amount),
      tax_amount_set: money('0.00'),
    })),
  };
}

/** An orders/edited body as Shopify sends it: a summary of the edit, no order and no money. */
export function orderEditedPayload(orderId: number, added: number[], removed: number[]): Json {
  return {
    order_edit: {
      id: 78912345678,
      app_id: null,
      created_at: '2026-05-20T10:00:00-04:00',
      notify_customer: false,
      order_id: orderId,
      staff_note: '',
      user_id: 98123456789,
      line_items: {
        additions: added.map((id) => ({ id, delta: 1 })),
        removals: removed.map((id) => ({ id, delta: 1 })),
      },
      discounts: { line_item: { additions: [], removals: [] } },
      shipping_lines: { additions: [], removals: [] },
    },
  };
}
