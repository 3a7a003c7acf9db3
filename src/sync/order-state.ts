import type { Redis } from 'ioredis';
import { AppError } from '../errors.js';
import type { Keys } from '../store/keys.js';
import { evalScript } from '../store/redis.js';
import type { OrderPayload, RefundPayload } from './payloads.js';
import {
  DEFAULT_POINTS_RULES,
  type OrderFacts,
  type OrderSnapshot,
  type OrderState,
  type PaidFacts,
  type PointsRules,
  type RefundFact,
  snapshotText,
} from './points.js';

/**
 * An order's known facts in Redis: hash keys.order(shop, orderId).
 *   paid facts (set once, HSETNX): rateMilli, rules, test, testIncluded, paidAt, paidExp, paidSubtotalCents
 *   (written last: its presence marks the order paid)
 *   refund:<refundId> = the refund's amounts (HSETNX: a refund id counts once); a bare number is a refund
 *   stored before its parts were kept (line subtotals in cents)
 *   snapshot = the newest order snapshot (by updated_at, see points.ts snapshotText), replaced only by a
 *   newer one (ties: the greater text, byte by byte) — compared inside the merge script, so the merge stays one atomic step
 *   cancelled = "1"
 *   ledger (written only under the IT Retail customer's lock): appliedPoints, itrCustomerId
 * Every merge is idempotent and commutative, so merging needs no lock. Each order is also listed under
 * its email and its Shopify customer, so a resync or a redact can find it, and in the shop's orders-by-change
 * set (scored by the last merge), from which retention.ts compacts orders past the shop's horizon.
 */

class InvalidOrderError extends AppError {
  override readonly code = 'INVALID_ORDER' as const;
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** What the shop's settings say when an order's payment is merged. */
export interface PaidContext {
  rateMilli: number;
  includeTestOrders?: boolean;
  rules?: PointsRules;
}

/** Financial statuses that show the order was paid (an orders/updated can stand in for a lost orders/paid). */
const PAID_STATUSES = new Set(['paid', 'partially_refunded', 'refunded']);

/** A payload already cancelled (or voided: the payment was never taken) earns nothing. */
function isCancelled(order: OrderPayload): boolean {
  return Boolean(order.cancelledAt) || order.financialStatus === 'voided';
}

function paidFacts(order: OrderPayload, ctx: PaidContext): PaidFacts {
  if (order.currentSubtotalCents === undefined || !order.snapshot) {
    throw new InvalidOrderError(`order ${order.id} has no current_subtotal_price`);
  }
  // The payload's subtotal before the refunds it lists (kept for readers of the older layout).
  const listed = order.refunds.reduce((s, r) => s + r.amounts.lines * 10 ** (order.exp - r.amounts.exp), 0);
  return {
    subtotalCents: Math.max(0, order.currentSubtotalCents + listed),
    exp: order.exp,
    rateMilli: ctx.rateMilli,
    rules: { ...(ctx.rules ?? DEFAULT_POINTS_RULES) },
    test: order.test,
    testIncluded: ctx.includeTestOrders,
    paidAt: order.paidAt,
    name: order.name,
    email: order.email,
    shopifyCustomerId: order.customer?.id,
  };
}

/**
 * Facts of any order payload: its snapshot, the refunds it lists, cancelled when it shows so, and — when it
 * is an orders/paid, or shows the order paid — the payment with the shop's rate and rules as of now.
 */
export function factsFromOrder(order: OrderPayload, paid?: PaidContext, isPaidEvent = false): OrderFacts {
  const facts: OrderFacts = {
    refunds: refundFacts(order.refunds),
    email: order.email,
    name: order.name,
    shopifyCustomerId: order.customer?.id,
  };
  if (order.snapshot) facts.snapshot = order.snapshot;
  if (isCancelled(order)) facts.cancelled = true;
  const showsPaid = order.financialStatus !== undefined && PAID_STATUSES.has(order.financialStatus);
  if (paid && (isPaidEvent || (showsPaid && order.snapshot))) facts.paid = paidFacts(order, paid);
  return facts;
}

/** Facts of an orders/paid payload (refused without a subtotal). */
export function factsFromPaid(
  order: OrderPayload,
  rateMilli: number,
  includeTestOrders?: boolean,
  rules?: PointsRules,
): OrderFacts {
  return factsFromOrder(order, { rateMilli, includeTestOrders, rules }, true);
}

export function factsFromCancelled(order: OrderPayload): OrderFacts {
  return { ...factsFromOrder(order), cancelled: true };
}

export function factsFromRefund(refund: RefundPayload): OrderFacts {
  return { refunds: { [refund.id]: refund.amounts } };
}

function refundFacts(refunds: RefundPayload[]): Record<string, RefundFact> {
  const out: Record<string, RefundFact> = {};
  for (const r of refunds) out[r.id] ??= r.amounts;
  return out;
}

/** The buyer's names and phone kept with the order (personal data: erased by customers/redact). */
export const BUYER_FIELDS = ['buyerFirstName', 'buyerLastName', 'buyerPhone'] as const;

export interface BuyerFacts {
  firstName?: string;
  lastName?: string;
  phone?: string;
}

/** Rules as stored: "tax=1,gift=1,ship=0". */
function encodeRules(r: PointsRules): string {
  return `tax=${r.excludeTax ? 1 : 0},gift=${r.excludeGiftCards ? 1 : 0},ship=${r.includeShipping ? 1 : 0}`;
}

function decodeRules(v: string | undefined): PointsRules | undefined {
  if (!v) return undefined;
  const f = Object.fromEntries(v.split(',').map((p) => p.split('=') as [string, string]));
  return { excludeTax: f.tax === '1', excludeGiftCards: f.gift === '1', includeShipping: f.ship === '1' };
}

/** A refund as stored: "v2:exp:lines:tax:giftCards:giftCardTax:shipping" (a bare number: older layout). */
function encodeRefund(r: RefundFact): string {
  if (typeof r === 'number') return String(r);
  return ['v2', r.exp, r.lines, r.tax, r.giftCards, r.giftCardTax, r.shipping].join(':');
}

function decodeRefund(v: string): RefundFact {
  if (!v.startsWith('v2:')) return Number(v);
  const [, exp, lines, tax, giftCards, giftCardTax, shipping] = v.split(':').map(Number);
  return {
    exp: exp ?? 2,
    lines: lines ?? 0,
    tax: tax ?? 0,
    giftCards: giftCards ?? 0,
    giftCardTax: giftCardTax ?? 0,
    shipping: shipping ?? 0,
  };
}

function decodeSnapshot(v: string | undefined): OrderSnapshot | undefined {
  if (!v) return undefined;
  const a = JSON.parse(v) as [number, number, number, number, number, number, number, number, string[]];
  return {
    at: a[0],
    exp: a[1],
    subtotal: a[2],
    lineTax: a[3],
    giftCards: a[4],
    giftCardTax: a[5],
    shipping: a[6],
    taxesIncluded: a[7] === 1,
    refundIds: a[8],
  };
}

/**
 * The whole merge, atomic. KEYS: order hash, orders-by-change, ledger of compacted orders, then the index
 * sets the order joins. ARGV: orderId, now (ms), snapshot updated_at ('' for none), snapshot text,
 * cancelled ('1' or ''), restore ('1': the facts carry a whole snapshot, so a compacted order may be
 * restored from its ledger), then field/value pairs to set if absent, in order.
 * Returns 1 merged, 0 when the order was compacted and nothing was written (the facts are not enough).
 * Kept free of anything but these keys, so a lock script can run the same steps inside itself.
 */
export const MERGE_ORDER_FACTS = `
local function after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
if redis.call('exists', KEYS[1]) == 0 then
  local ledger = redis.call('hget', KEYS[3], ARGV[1])
  if ledger then
    if ARGV[6] ~= '1' then return 0 end
    local f = {}
    for part in string.gmatch(ledger .. '|', '([^|]*)|') do f[#f + 1] = part end
    redis.call('hset', KEYS[1], 'appliedPoints', f[1] ~= '' and f[1] or '0', 'restoredAt', ARGV[2])
    if f[2] ~= '' then redis.call('hset', KEYS[1], 'itrCustomerId', f[2]) end
    if f[8] == '1' then
      redis.call('hset', KEYS[1], 'rateMilli', f[3], 'test', f[5], 'paidSubtotalCents', '0')
      if f[4] ~= '' then redis.call('hset', KEYS[1], 'rules', f[4]) end
      if f[6] ~= '' then redis.call('hset', KEYS[1], 'testIncluded', f[6]) end
    end
    if f[7] == '1' then redis.call('hset', KEYS[1], 'cancelled', '1') end
    redis.call('hdel', KEYS[3], ARGV[1])
  end
end
for i = 7, #ARGV, 2 do redis.call('hsetnx', KEYS[1], ARGV[i], ARGV[i + 1]) end
if ARGV[3] ~= '' then
  local cur = redis.call('hget', KEYS[1], 'snapshot')
  local at = tonumber(ARGV[3])
  local curAt = tonumber(redis.call('hget', KEYS[1], 'snapAt') or '')
  if not cur or not curAt or at > curAt or (at == curAt and after(ARGV[4], cur)) then
    redis.call('hset', KEYS[1], 'snapshot', ARGV[4], 'snapAt', ARGV[3])
  end
end
if ARGV[5] == '1' then redis.call('hset', KEYS[1], 'cancelled', '1') end
for i = 4, #KEYS do redis.call('sadd', KEYS[i], ARGV[1]) end
redis.call('zadd', KEYS[2], ARGV[2], ARGV[1])
return 1`;

/** The keys and arguments of one MERGE_ORDER_FACTS run (so a lock script can run the merge inside itself). */
export interface OrderMergeCall {
  keys: string[];
  args: string[];
}

/** Builds the merge of `facts` (and the buyer's names and phone) into one order: see MERGE_ORDER_FACTS. */
export function orderMergeCall(
  keys: Keys,
  shop: string,
  orderId: string,
  facts: OrderFacts,
  buyer?: BuyerFacts,
  nowMs: number = Date.now(),
): OrderMergeCall {
  const pairs: string[] = [];
  const setnx = (field: string, value: string | undefined) => {
    if (value !== undefined && value !== '') pairs.push(field, value);
  };
  if (facts.paid) {
    const p = facts.paid;
    setnx('rateMilli', String(p.rateMilli));
    if (p.rules) setnx('rules', encodeRules(p.rules));
    setnx('test', p.test ? '1' : '0');
    if (p.testIncluded !== undefined) setnx('testIncluded', p.testIncluded ? '1' : '0');
    setnx('paidAt', p.paidAt);
    if (p.exp !== undefined && p.exp !== 2) setnx('paidExp', String(p.exp));
    // Written last: its presence is what marks the order paid (the script is atomic anyway).
    setnx('paidSubtotalCents', String(p.subtotalCents));
  }
  for (const [id, r] of Object.entries(facts.refunds ?? {})) setnx(`refund:${id}`, encodeRefund(r));
  const email = facts.paid?.email ?? facts.email;
  const customerId = facts.paid?.shopifyCustomerId ?? facts.shopifyCustomerId;
  setnx('email', email);
  setnx('name', facts.paid?.name ?? facts.name);
  setnx('shopifyCustomerId', customerId);
  if (buyer) {
    const values = [buyer.firstName, buyer.lastName, buyer.phone];
    BUYER_FIELDS.forEach((f, i) => {
      setnx(f, values[i]?.trim());
    });
  }
  // Makes the hash exist even for a refund alone, so "known order" checks work.
  setnx('firstSeenAt', new Date(nowMs).toISOString());
  const indexKeys: string[] = [];
  if (email) indexKeys.push(keys.ordersByEmail(shop, email));
  if (customerId) indexKeys.push(keys.ordersByCustomer(shop, customerId));
  const snap = facts.snapshot;
  return {
    keys: [keys.order(shop, orderId), keys.ordersByChange(shop), keys.orderLedger(shop), ...indexKeys],
    args: [
      orderId,
      String(nowMs),
      snap ? String(snap.at) : '',
      snap ? snapshotText(snap) : '',
      facts.cancelled ? '1' : '',
      snap ? '1' : '',
      ...pairs,
    ],
  };
}

/**
 * Merges facts (and the buyer's names and phone, each kept from its first non-empty value) into the order's
 * hash in one script (idempotent, commutative). 'compacted': the order's facts were compacted away after the
 * shop's retention horizon and these facts carry no whole snapshot to continue from; nothing was written.
 */
export async function mergeOrderFacts(
  redis: Redis,
  keys: Keys,
  shop: string,
  orderId: string,
  facts: OrderFacts,
  buyer?: BuyerFacts,
  nowMs: number = Date.now(),
): Promise<'merged' | 'compacted'> {
  const call = orderMergeCall(keys, shop, orderId, facts, buyer, nowMs);
  const r = await evalScript(redis, MERGE_ORDER_FACTS, call.keys.length, ...call.keys, ...call.args);
  return r === 1 ? 'merged' : 'compacted';
}

/** The order's state as stored (an unknown order reads as empty). */
export async function readOrderState(
  redis: Redis,
  keys: Keys,
  shop: string,
  orderId: string,
): Promise<OrderState> {
  return orderStateFromHash(await redis.hgetall(keys.order(shop, orderId)));
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
      exp: h.paidExp ? Number(h.paidExp) : 2,
      rateMilli: Number(h.rateMilli ?? 0),
      rules: decodeRules(h.rules),
      test: h.test === '1',
      testIncluded: h.testIncluded === undefined ? undefined : h.testIncluded === '1',
      paidAt: h.paidAt,
      name: h.name,
      email: h.email,
      shopifyCustomerId: h.shopifyCustomerId,
    };
  }
  for (const [f, v] of Object.entries(h)) {
    if (f.startsWith('refund:')) state.refunds[f.slice('refund:'.length)] = decodeRefund(v);
  }
  const snapshot = decodeSnapshot(h.snapshot);
  if (snapshot) state.snapshot = snapshot;
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
