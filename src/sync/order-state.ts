import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import type { OrderPayload, RefundPayload } from './payloads.js';
import type { OrderFacts, OrderState } from './points.js';

/**
 * An order's known facts in Redis: hash keys.shop(shop, 'order', orderId).
 *   paid facts (set once, HSETNX): paidSubtotalCents, rateMilli, test, testIncluded, paidAt, name, email,
 *   shopifyCustomerId
 *   refund:<refundId> = refunded line-item subtotal in cents (HSETNX: a refund id counts once)
 *   cancelled = "1"
 *   ledger (written only under the IT Retail customer's lock): appliedPoints, itrCustomerId
 * Every merge is idempotent and commutative, so merging needs no lock. Each order is also listed under
 * its email and its Shopify customer, so a resync or a redact can find it.
 */

export class InvalidOrderError extends Error {
  readonly code = 'INVALID_ORDER' as const;
  constructor(message: string) {
    super(message);
    this.name = 'InvalidOrderError';
  }
}

export const orderKey = (keys: Keys, shop: string, orderId: string) => keys.shop(shop, 'order', orderId);
export const ordersByEmailKey = (keys: Keys, shop: string, email: string) =>
  keys.shop(shop, 'orders-by-email', email);
export const ordersByCustomerKey = (keys: Keys, shop: string, shopifyCustomerId: string) =>
  keys.shop(shop, 'orders-by-customer', shopifyCustomerId);

/**
 * Facts of an orders/paid payload. The subtotal kept is the one before any refund: Shopify's
 * `current_subtotal_price` already reflects the refunds the payload lists in `refunds[]`, and those refunds
 * are merged by id as well, so they are added back here to avoid subtracting them twice.
 */
export function factsFromPaid(
  order: OrderPayload,
  rateMilli: number,
  includeTestOrders?: boolean,
): OrderFacts {
  if (order.currentSubtotalCents === undefined) {
    throw new InvalidOrderError(`order ${order.id} has no current_subtotal_price`);
  }
  const refunds = refundFacts(order.refunds);
  const listed = Object.values(refunds).reduce((s, c) => s + c, 0);
  return {
    paid: {
      subtotalCents: order.currentSubtotalCents + listed,
      rateMilli,
      test: order.test,
      testIncluded: includeTestOrders,
      paidAt: order.paidAt,
      name: order.name,
      email: order.email,
      shopifyCustomerId: order.customer?.id,
    },
    refunds,
  };
}

export function factsFromCancelled(order: OrderPayload): OrderFacts {
  return {
    cancelled: true,
    refunds: refundFacts(order.refunds),
    email: order.email,
    name: order.name,
    shopifyCustomerId: order.customer?.id,
  };
}

export function factsFromRefund(refund: RefundPayload): OrderFacts {
  return { refunds: { [refund.id]: refund.subtotalCents } };
}

function refundFacts(refunds: RefundPayload[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of refunds) out[r.id] ??= r.subtotalCents;
  return out;
}

/** The buyer's names and phone kept with the order (personal data: erased by customers/redact). */
export const BUYER_FIELDS = ['buyerFirstName', 'buyerLastName', 'buyerPhone'] as const;

export interface BuyerFacts {
  firstName?: string;
  lastName?: string;
  phone?: string;
}

/**
 * Merges facts (and the buyer's names and phone, each kept from its first non-empty value) into the order's
 * hash in one MULTI (idempotent, commutative).
 */
export async function mergeOrderFacts(
  redis: Redis,
  keys: Keys,
  shop: string,
  orderId: string,
  facts: OrderFacts,
  buyer?: BuyerFacts,
): Promise<void> {
  const key = orderKey(keys, shop, orderId);
  const tx = redis.multi();
  const setnx = (field: string, value: string | undefined) => {
    if (value !== undefined && value !== '') tx.hsetnx(key, field, value);
  };
  if (facts.paid) {
    const p = facts.paid;
    // The subtotal is written last: its presence is what marks the order paid, and MULTI makes it atomic anyway.
    setnx('rateMilli', String(p.rateMilli));
    setnx('test', p.test ? '1' : '0');
    if (p.testIncluded !== undefined) setnx('testIncluded', p.testIncluded ? '1' : '0');
    setnx('paidAt', p.paidAt);
    setnx('paidSubtotalCents', String(p.subtotalCents));
  }
  for (const [id, cents] of Object.entries(facts.refunds ?? {})) setnx(`refund:${id}`, String(cents));
  if (facts.cancelled) tx.hset(key, 'cancelled', '1');
  const email = facts.paid?.email ?? facts.email;
  const name = facts.paid?.name ?? facts.name;
  const customerId = facts.paid?.shopifyCustomerId ?? facts.shopifyCustomerId;
  setnx('email', email);
  setnx('name', name);
  setnx('shopifyCustomerId', customerId);
  if (email) tx.sadd(ordersByEmailKey(keys, shop, email), orderId);
  if (customerId) tx.sadd(ordersByCustomerKey(keys, shop, customerId), orderId);
  if (buyer) {
    const values = [buyer.firstName, buyer.lastName, buyer.phone];
    BUYER_FIELDS.forEach((f, i) => {
      setnx(f, values[i]?.trim());
    });
  }
  // Makes the hash exist even for a refund alone, so "known order" checks work.
  tx.hsetnx(key, 'firstSeenAt', new Date().toISOString());
  await tx.exec();
}

/** The order's state as stored (an unknown order reads as empty). */
export async function readOrderState(
  redis: Redis,
  keys: Keys,
  shop: string,
  orderId: string,
): Promise<OrderState> {
  return orderStateFromHash(await redis.hgetall(orderKey(keys, shop, orderId)));
}

/** A hash as a Lua script returns HGETALL (a flat [field, value, …] list) → an object. */
export function hashFromPairs(pairs: unknown): Record<string, string> {
  const h: Record<string, string> = {};
  if (!Array.isArray(pairs)) return h;
  for (let i = 0; i + 1 < pairs.length; i += 2) h[String(pairs[i])] = String(pairs[i + 1]);
  return h;
}

export function orderStateFromHash(h: Record<string, string>): OrderState {
  const state: OrderState = {
    refunds: {},
    cancelled: h.cancelled === '1',
    appliedPoints: h.appliedPoints ? Number(h.appliedPoints) : 0,
  };
  if (h.paidSubtotalCents !== undefined) {
    state.paid = {
      subtotalCents: Number(h.paidSubtotalCents),
      rateMilli: Number(h.rateMilli ?? 0),
      test: h.test === '1',
      testIncluded: h.testIncluded === undefined ? undefined : h.testIncluded === '1',
      paidAt: h.paidAt,
      name: h.name,
      email: h.email,
      shopifyCustomerId: h.shopifyCustomerId,
    };
  }
  for (const [f, v] of Object.entries(h)) {
    if (f.startsWith('refund:')) state.refunds[f.slice('refund:'.length)] = Number(v);
  }
  if (h.email) state.email = h.email;
  if (h.name) state.name = h.name;
  if (h.shopifyCustomerId) state.shopifyCustomerId = h.shopifyCustomerId;
  if (h.itrCustomerId) state.itrCustomerId = h.itrCustomerId;
  if (h.buyerFirstName || h.buyerLastName || h.buyerPhone) {
    state.buyer = {
      firstName: h.buyerFirstName || undefined,
      lastName: h.buyerLastName || undefined,
      phone: h.buyerPhone || undefined,
    };
  }
  return state;
}
