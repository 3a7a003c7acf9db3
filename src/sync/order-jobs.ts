import type { Redis } from 'ioredis';
import { AppError } from '../errors.js';
import type { ShopSettings } from '../settings.js';
import type { Keys } from '../store/keys.js';
import type { NewSyncEvent } from './events.js';
import { parseRateMilli } from './money.js';
import type { OrderMerge } from './order-lock.js';
import {
  type BuyerFacts,
  factsFromOrder,
  factsFromRefund,
  mergeOrderFacts,
  orderMergeCall,
  readOrderState,
} from './order-state.js';
import {
  type OrderEditPayload,
  type OrderPayload,
  orderSchema,
  type ParsedPayload,
  type RefundPayload,
} from './payloads.js';
import { mergeFacts, type OrderFacts } from './points.js';

/**
 * The order topics: orders/paid, orders/updated, orders/cancelled (each a whole snapshot of the order),
 * refunds/create (one refund) and orders/edited (a summary of an edit, no money). Each merges what it
 * carries into the order's facts, then the order is reconciled.
 *
 * An order compacted after the shop's retention horizon keeps only its ledger (retention.ts). A snapshot
 * payload restores it by itself; a refund or an edit needs the order read from Shopify: through
 * `fetchOrderSnapshot` when the app provides one, else the order is listed as needing that read and the
 * job is skipped with that reason.
 */

/** Reads one order from Shopify's Admin API, as a REST-shaped order (what orders/updated carries). */
export type FetchOrderSnapshot = (shop: string, orderId: string) => Promise<unknown | undefined>;

/**
 * 'reconcile': the order is to be reconciled; `merge` (when present) carries the job's facts, merged by the
 * order lock's own script (see reconcile.ts), so merging costs no round trip of its own.
 */
export type OrderJobOutcome =
  | { kind: 'reconcile'; orderId: string; customer: BuyerFacts; merge?: OrderMerge }
  | { kind: 'skipped'; reason: string; orderId: string };

export interface OrderJobDeps {
  shop: string;
  redis: Redis;
  keys: Keys;
  settings: ShopSettings;
  fetchOrderSnapshot?: FetchOrderSnapshot;
  setContext(c: Partial<NewSyncEvent>): void;
}

type OrderTopicPayload = Extract<
  ParsedPayload,
  { topic: 'orders/paid' | 'orders/updated' | 'orders/cancelled' | 'refunds/create' | 'orders/edited' }
>;

/** The ids of compacted orders a refund or edit arrived for, oldest first (for the catch-up to read). */
export async function ordersNeedingRead(redis: Redis, keys: Keys, shop: string, limit = 100) {
  return redis.zrange(keys.ordersNeedingRead(shop), 0, limit - 1);
}

function buyerOf(order: OrderPayload): BuyerFacts {
  return {
    firstName: order.customer?.first_name ?? undefined,
    lastName: order.customer?.last_name ?? undefined,
    phone: order.customer?.phone ?? undefined,
  };
}

function paidContext(settings: ShopSettings) {
  return {
    rateMilli: parseRateMilli(settings.pointsPerDollar),
    includeTestOrders: settings.includeTestOrders,
    rules: settings.pointsRules,
  };
}

export async function handleOrderTopic(d: OrderJobDeps, p: OrderTopicPayload): Promise<OrderJobOutcome> {
  switch (p.topic) {
    case 'orders/paid':
    case 'orders/updated':
    case 'orders/cancelled': {
      const order = p.data;
      d.setContext(orderContext(order));
      // A cancelled order earns nothing whatever its payment, so its payload brings no payment facts.
      const facts =
        p.topic === 'orders/cancelled'
          ? { ...factsFromOrder(order), cancelled: true }
          : factsFromOrder(order, paidContext(d.settings), p.topic === 'orders/paid');
      // Whichever job of the order creates the IT Retail customer (a refund may get there first), it does
      // so with the buyer's names and phone kept with the order.
      const buyer = buyerOf(order);
      return {
        kind: 'reconcile',
        orderId: order.id,
        customer: buyer,
        merge: merging(d, order.id, facts, buyer),
      };
    }
    case 'refunds/create': {
      const refund: RefundPayload = p.data;
      if (!refund.orderId) throw new InvalidRefundError();
      d.setContext({ shopifyOrderId: refund.orderId });
      const facts = factsFromRefund(refund);
      const merge = merging(d, refund.orderId, facts);
      merge.seen = (state) =>
        d.setContext({ orderName: state.name, shopifyCustomerId: state.shopifyCustomerId });
      return { kind: 'reconcile', orderId: refund.orderId, customer: {}, merge };
    }
    case 'orders/edited':
      return handleEdit(d, p.data);
  }
}

class InvalidRefundError extends AppError {
  override readonly code = 'INVALID_PAYLOAD' as const;
  constructor() {
    super('invalid refunds/create payload (order_id is missing)', { retryable: false });
  }
}

/**
 * An edit carries no subtotal: with an Admin API read available the order is read and merged now; without
 * one nothing changes here, because Shopify follows every edit with an orders/updated carrying the order
 * as edited, and that snapshot moves the points.
 */
async function handleEdit(d: OrderJobDeps, edit: OrderEditPayload): Promise<OrderJobOutcome> {
  d.setContext({ shopifyOrderId: edit.orderId });
  if (d.fetchOrderSnapshot) return readAndMerge(d, edit.orderId, {});
  const state = await readOrderState(d.redis, d.keys, d.shop, edit.orderId);
  d.setContext({ orderName: state.name, shopifyCustomerId: state.shopifyCustomerId });
  return {
    kind: 'skipped',
    orderId: edit.orderId,
    reason: `order edited (${edit.linesAdded} lines added, ${edit.linesRemoved} removed); the points follow the orders/updated Shopify sends with the edited order`,
  };
}

/** The job's facts, to be merged by the order lock's script; a compacted order goes through needsRead. */
function merging(d: OrderJobDeps, orderId: string, facts: OrderFacts, buyer?: BuyerFacts): OrderMerge {
  return {
    call: orderMergeCall(d.keys, d.shop, orderId, facts, buyer),
    async compacted() {
      const out = await needsRead(d, orderId, facts);
      return out.kind === 'skipped' ? out.reason : undefined;
    },
  };
}

/** A compacted order that these facts cannot restore: read it from Shopify, or note that it needs reading. */
async function needsRead(d: OrderJobDeps, orderId: string, facts: OrderFacts): Promise<OrderJobOutcome> {
  const shop = d.shop;
  const ledger = await d.redis.hget(d.keys.orderLedger(shop), orderId);
  const [applied, , , , , , cancelled] = (ledger ?? '').split('|');
  if (cancelled === '1' && Number(applied || 0) === 0) {
    return { kind: 'skipped', orderId, reason: 'order cancelled; nothing was applied and nothing changes' };
  }
  if (d.fetchOrderSnapshot) return readAndMerge(d, orderId, facts);
  await d.redis.zadd(d.keys.ordersNeedingRead(shop), 'NX', Date.now(), orderId);
  return {
    kind: 'skipped',
    orderId,
    reason:
      'the order’s details were compacted after the retention horizon; it waits to be read from the Shopify Admin API',
  };
}

/** Reads the order from Shopify and merges it (with the job's own facts) as one whole snapshot. */
async function readAndMerge(d: OrderJobDeps, orderId: string, facts: OrderFacts): Promise<OrderJobOutcome> {
  const shop = d.shop;
  const raw = await d.fetchOrderSnapshot?.(shop, orderId);
  if (raw === undefined || raw === null) {
    return { kind: 'skipped', orderId, reason: 'order not found in Shopify' };
  }
  const parsed = orderSchema.safeParse(raw);
  if (!parsed.success)
    throw new Error(`the order read from Shopify is not readable: ${parsed.error.message}`);
  const order = parsed.data;
  d.setContext(orderContext(order));
  const read = factsFromOrder(order, paidContext(d.settings));
  const all = mergeFacts(mergeFacts({ refunds: {}, cancelled: false, appliedPoints: 0 }, read), facts);
  const combined: OrderFacts = { ...read, refunds: all.refunds, cancelled: all.cancelled || undefined };
  const buyer = buyerOf(order);
  await mergeOrderFacts(d.redis, d.keys, shop, orderId, combined, buyer);
  await d.redis.zrem(d.keys.ordersNeedingRead(shop), orderId);
  return { kind: 'reconcile', orderId, customer: buyer };
}

function orderContext(o: OrderPayload): Partial<NewSyncEvent> {
  const name = [o.customer?.first_name, o.customer?.last_name].filter(Boolean).join(' ');
  return {
    shopifyOrderId: o.id,
    orderName: o.name,
    shopifyCustomerId: o.customer?.id,
    customerName: name || undefined,
  };
}
