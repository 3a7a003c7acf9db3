/**
 * Shopify side of the benchmarks: the app's environment, and realistic signed `orders/paid` deliveries built
 * from test/fixtures/shopify/orders-paid.json (compact JSON, ~8.5 KB) with the ids and email of each order.
 */

import { fixture, webhookHeaders } from '../../fakes/shopify/webhooks.js';
import { TEST_APP } from '../../test/helpers/shopify.js';
import { REDIS_URL } from './common.js';

export const BENCH_SHOP = 'bench-store.myshopify.com';
const API_SECRET = TEST_APP.apiSecret;

/** Environment for loadConfig in a web or worker child (production settings, logging at info). */
export function appEnv(prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'info',
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    SHOPIFY_API_KEY: TEST_APP.apiKey,
    SHOPIFY_API_SECRET: TEST_APP.apiSecret,
    SHOPIFY_APP_URL: TEST_APP.appUrl,
    ENCRYPTION_KEY: TEST_APP.encryptionKey,
    POINTS_PER_DOLLAR: '1',
    ...extra,
  };
}

export interface OrderSpec {
  orderId: number;
  email: string;
  customerId: number;
  /** Decimal string, e.g. "54.00". */
  subtotal?: string;
}

const MARK = {
  id: '@@ORDER_ID@@',
  name: '@@ORDER_NAME@@',
  email: '@@EMAIL@@',
  customerId: '@@CUSTOMER_ID@@',
  subtotal: '@@SUBTOTAL@@',
  orderGid: '@@ORDER_GID@@',
  customerGid: '@@CUSTOMER_GID@@',
} as const;

type Part = string | keyof typeof MARK;

/** The fixture as a list of literal pieces and placeholders, so each body is one string concatenation. */
function compileTemplate(): Part[] {
  const o = fixture<Record<string, unknown>>('orders-paid');
  const customer = o.customer as Record<string, unknown>;
  o.id = MARK.id;
  // The worker takes ids from admin_graphql_api_id when present (exact beyond 2^53): keep them in step.
  o.admin_graphql_api_id = MARK.orderGid;
  o.name = MARK.name;
  o.order_number = MARK.id;
  o.email = MARK.email;
  o.contact_email = MARK.email;
  o.current_subtotal_price = MARK.subtotal;
  // Points are read from the shop-money amount: it must say the same.
  o.current_subtotal_price_set = {
    shop_money: { amount: MARK.subtotal, currency_code: 'USD' },
    presentment_money: { amount: MARK.subtotal, currency_code: 'USD' },
  };
  customer.id = MARK.customerId;
  customer.admin_graphql_api_id = MARK.customerGid;
  customer.email = MARK.email;
  const text = JSON.stringify(o);
  const re = /"@@(ORDER_ID|ORDER_NAME|EMAIL|CUSTOMER_ID|SUBTOTAL|ORDER_GID|CUSTOMER_GID)@@"/g;
  const byMark: Record<string, keyof typeof MARK> = {
    ORDER_ID: 'id',
    ORDER_NAME: 'name',
    EMAIL: 'email',
    CUSTOMER_ID: 'customerId',
    SUBTOTAL: 'subtotal',
    ORDER_GID: 'orderGid',
    CUSTOMER_GID: 'customerGid',
  };
  const parts: Part[] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    parts.push(text.slice(last, m.index));
    parts.push(byMark[m[1]!]!);
    last = m.index! + m[0].length;
  }
  parts.push(text.slice(last));
  return parts;
}

let template: Part[] | undefined;

/** The JSON text of one orders/paid delivery (ids as JSON numbers, as Shopify sends them). */
export function orderPaidBody(s: OrderSpec): string {
  template ??= compileTemplate();
  const values: Record<keyof typeof MARK, string> = {
    id: String(s.orderId),
    name: JSON.stringify(`#${s.orderId}`),
    email: JSON.stringify(s.email),
    customerId: String(s.customerId),
    subtotal: JSON.stringify(s.subtotal ?? '54.00'),
    orderGid: JSON.stringify(`gid://shopify/Order/${s.orderId}`),
    customerGid: JSON.stringify(`gid://shopify/Customer/${s.customerId}`),
  };
  let out = '';
  for (let i = 0; i < template.length; i++) {
    // Even positions are literal text, odd ones placeholders.
    out += i % 2 === 0 ? template[i] : values[template[i] as keyof typeof MARK];
  }
  return out;
}

/** Headers of a signed delivery of `body` with fresh webhook and event ids (names in lower case). */
export function deliveryHeaders(
  body: string,
  topic = 'orders/paid',
  shop = BENCH_SHOP,
): Record<string, string> {
  const headers = webhookHeaders({ topic, shop, secret: API_SECRET, body });
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/** The email of bench customer i (the simulator is seeded with these). */
export function benchEmail(i: number): string {
  return `bench.customer${i}@example.com`;
}
