/**
 * Shopify's webhooks, as the tests, the demo and the benchmarks send them: Shopify's published example
 * payloads (test/fixtures/shopify, see /work/shared/shopify/WEBHOOKS.md), builders that turn them into one
 * order, refund or customer of a test, and the HMAC signature and headers of a delivery.
 *
 * The builders start from the example and set every field the app reads from the spec (ids, email, customer,
 * amounts, line items, refunds, test, cancellation); the rest of the example (addresses, client details,
 * totals the app does not read) rides along as Shopify would send it. Timestamps the app reads (an order's
 * created/processed/updated time, a customer's updated_at) are left out unless given: without them the app
 * takes the shop's current settings and orders snapshots by their text, which is what the scenario tests
 * are written against.
 */
import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';

const EXAMPLES = new URL('../../test/fixtures/shopify/', import.meta.url);

/** An example payload from test/fixtures/shopify/<name>.json, as the raw text Shopify would send. */
export function fixtureText(name: string): string {
  return readFileSync(new URL(`${name}.json`, EXAMPLES), 'utf8');
}

/** An example payload, parsed (a fresh copy every call). */
export function fixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}

const cache = new Map<string, string>();
/** A fresh copy of an example, read from disk once per process. */
function example(name: string): Record<string, unknown> {
  let text = cache.get(name);
  if (text === undefined) {
    text = fixtureText(name);
    cache.set(name, text);
  }
  return JSON.parse(text) as Record<string, unknown>;
}

// ----- signing ----------------------------------------------------------------------------------------------

/** Base64 HMAC-SHA256 of the exact body bytes, keyed with the app's API secret — as Shopify signs webhooks. */
export function signWebhook(secret: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(body).digest('base64');
}

export interface WebhookHeaderOptions {
  topic: string;
  shop: string;
  secret: string;
  body: string | Buffer;
  eventId?: string;
  webhookId?: string;
  apiVersion?: string;
  triggeredAt?: string;
}

/** The headers Shopify sends with a webhook delivery (fresh ids unless given). */
export function webhookHeaders(o: WebhookHeaderOptions): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    'X-Shopify-Hmac-Sha256': signWebhook(o.secret, o.body),
    'X-Shopify-Topic': o.topic,
    'X-Shopify-Shop-Domain': o.shop,
    'X-Shopify-API-Version': o.apiVersion ?? '2026-07',
    'X-Shopify-Webhook-Id': o.webhookId ?? randomUUID(),
    'X-Shopify-Event-Id': o.eventId ?? randomUUID(),
    'X-Shopify-Triggered-At': o.triggeredAt ?? new Date().toISOString(),
  };
}

// ----- payload builders ---------------------------------------------------------------------------------------

let orderSeq = 5_000_000_000;

/** A fresh order id (unique within the process). */
export function nextOrderId(): string {
  orderSeq += 1;
  return String(orderSeq);
}

const usd = (amount: string, currency = 'USD') => ({
  shop_money: { amount, currency_code: currency },
  presentment_money: { amount, currency_code: currency },
});

export interface OrderSpec {
  id: string;
  /** null: a guest order without email or customer. */
  email?: string | null;
  /** Decimal string in the shop's currency (USD). */
  subtotal: string;
  customerId?: string;
  firstName?: string;
  lastName?: string;
  test?: boolean;
  refunds?: { id: string; subtotal: string }[];
  /** Subtotal after refunds and edits; default: subtotal. */
  currentSubtotal?: string;
  /** The order number (`name` is `#<number>`); default: the id's last four digits. */
  number?: number;
  financialStatus?: string;
  /** ISO time the order was created, paid and last updated; default: none (see above). */
  at?: string;
}

/** An `orders/paid` (or `orders/updated`) payload: Shopify's example order with the spec's facts. */
export function orderPayload(o: OrderSpec) {
  const base = example('orders-paid');
  const exampleCustomer = base.customer as Record<string, unknown>;
  const number = o.number ?? Number(o.id.slice(-4));
  const customerId = o.customerId ?? `7${o.id.slice(-6)}`;
  const current = o.currentSubtotal ?? o.subtotal;
  for (const k of ['created_at', 'processed_at', 'updated_at', 'closed_at']) delete base[k];
  return {
    ...base,
    id: Number(o.id),
    admin_graphql_api_id: `gid://shopify/Order/${o.id}`,
    name: `#${o.number ?? o.id.slice(-4)}`,
    number,
    order_number: number,
    email: o.email ?? null,
    contact_email: o.email ?? null,
    phone: null,
    customer:
      o.email === null
        ? null
        : {
            ...exampleCustomer,
            id: Number(customerId),
            admin_graphql_api_id: `gid://shopify/Customer/${customerId}`,
            email: o.email,
            first_name: o.firstName ?? 'Ada',
            last_name: o.lastName ?? 'Lovelace',
            phone: null,
            default_address: null,
            updated_at: undefined,
          },
    currency: 'USD',
    presentment_currency: 'USD',
    financial_status: o.financialStatus ?? 'paid',
    test: o.test ?? false,
    cancelled_at: null,
    cancel_reason: null,
    taxes_included: false,
    subtotal_price: o.subtotal,
    subtotal_price_set: usd(o.subtotal),
    current_subtotal_price: current,
    current_subtotal_price_set: usd(current),
    total_price: o.subtotal,
    total_price_set: usd(o.subtotal),
    // The app reads no line, tax or shipping here: the subtotal is the whole of what earns.
    line_items: [],
    shipping_lines: [],
    tax_lines: [],
    refunds: (o.refunds ?? []).map((r) => refundPayload(o.id, r.id, r.subtotal, o.at)),
    ...(o.at ? { created_at: o.at, processed_at: o.at, updated_at: o.at } : {}),
  };
}

/** An `orders/cancelled` payload: the order, cancelled at `at` (the reason: the customer's). */
export function cancelledPayload(o: OrderSpec, at = '2026-04-01T10:00:00-04:00') {
  return { ...orderPayload(o), cancelled_at: at, cancel_reason: 'customer' };
}

/** A `refunds/create` payload: Shopify's example refund giving back one line worth `subtotal`, no tax. */
export function refundPayload(orderId: string, refundId: string, subtotal: string, at?: string) {
  const base = example('refunds-create');
  const line = (base.refund_line_items as Record<string, unknown>[])[0] ?? {};
  const created = at ?? '2026-04-01T10:00:00-04:00';
  return {
    ...base,
    id: Number(refundId),
    admin_graphql_api_id: `gid://shopify/Refund/${refundId}`,
    order_id: Number(orderId),
    created_at: created,
    processed_at: created,
    refund_line_items: [
      {
        ...line,
        id: Number(refundId) + 1,
        line_item_id: 1,
        quantity: 1,
        subtotal: Number(subtotal),
        subtotal_set: usd(subtotal),
        total_tax: 0,
        total_tax_set: usd('0.00'),
        line_item: {
          ...(line.line_item as Record<string, unknown>),
          id: 1,
          admin_graphql_api_id: 'gid://shopify/LineItem/1',
          gift_card: false,
        },
      },
    ],
    refund_shipping_lines: [],
    order_adjustments: [],
    transactions: [{ kind: 'refund', status: 'success', amount: subtotal, currency: 'USD' }],
  };
}

/** A `customers/create` (or `customers/update`) payload: Shopify's example customer with the given facts. */
export function customerPayload(c: {
  id: string;
  email: string | null;
  firstName?: string | null;
  lastName?: string | null;
  phone?: string | null;
  /** ISO; default: none (see above). */
  updatedAt?: string;
}) {
  const base = example('customers-create');
  delete base.updated_at;
  return {
    ...base,
    id: Number(c.id),
    admin_graphql_api_id: `gid://shopify/Customer/${c.id}`,
    email: c.email,
    first_name: c.firstName ?? null,
    last_name: c.lastName ?? null,
    phone: c.phone ?? null,
    state: 'enabled',
    tags: '',
    verified_email: true,
    default_address: null,
    addresses: [],
    ...(c.updatedAt ? { updated_at: c.updatedAt } : {}),
  };
}
