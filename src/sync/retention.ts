import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Keys } from '../store/keys.js';
import { ledgerKeys } from './ledger.js';
import { type Chore, eachShopPeriodically } from './periodic.js';

/**
 * Bounded Redis: an order's facts (snapshot, refunds, identity, buyer) and its index entries are compacted
 * away once the order has not changed for the shop's retention horizon. What stays is one field of the
 * shop's ledger hash — appliedPoints|itrCustomerId|rateMilli|rules|test|testIncluded|cancelled|paid —
 * enough for a later refund or edit to continue exactly once the order is read again (order-jobs.ts).
 */

export const DAY_MS = 86_400_000;

/**
 * Compacts one order if it is still past the cutoff and nothing is under way for it: no job holds its lock
 * and its IT Retail customer has no pending or uncertain write (counting that write moves this order's
 * ledger). KEYS: order, ledger, orders-by-change, order lock, the customer's pending and uncertain writes
 * (or the order key again, for an order with no customer), index sets.
 * ARGV: orderId, cutoff (ms), email, Shopify customer id, IT Retail customer id (as read before; any of
 * them changed since → left for the next run).
 * Returns 1 compacted, 0 changed since (skipped), -1 busy.
 */
const COMPACT = `
local score = redis.call('zscore', KEYS[3], ARGV[1])
if not score or tonumber(score) > tonumber(ARGV[2]) then return 0 end
if redis.call('exists', KEYS[4]) == 1 then return -1 end
if KEYS[5] ~= KEYS[1] and redis.call('exists', KEYS[5], KEYS[6]) > 0 then return -1 end
local h = {}
local flat = redis.call('hgetall', KEYS[1])
for i = 1, #flat, 2 do h[flat[i]] = flat[i + 1] end
if (h.email or '') ~= ARGV[3] or (h.shopifyCustomerId or '') ~= ARGV[4] or (h.itrCustomerId or '') ~= ARGV[5] then
  return 0
end
if #flat > 0 then
  local paid = h.paidSubtotalCents and '1' or ''
  local ledger = table.concat({ h.appliedPoints or '0', h.itrCustomerId or '', h.rateMilli or '',
    h.rules or '', h.test or '', h.testIncluded or '', h.cancelled or '', paid }, '|')
  redis.call('hset', KEYS[2], ARGV[1], ledger)
  redis.call('del', KEYS[1])
end
for i = 7, #KEYS do redis.call('srem', KEYS[i], ARGV[1]) end
redis.call('zrem', KEYS[3], ARGV[1])
return 1`;

export interface CompactResult {
  compacted: number;
  /** Orders skipped because a job was working on them (tried again next time). */
  busy: number;
}

/**
 * Compacts the shop's orders whose last change is older than `horizonMs` before `nowMs`, oldest first, in
 * batches, until none is left past the cutoff (or `maxOrders` were looked at).
 */
export async function compactOrders(
  redis: Redis,
  keys: Keys,
  shop: string,
  opts: { horizonMs: number; nowMs?: number; batch?: number; maxOrders?: number },
): Promise<CompactResult> {
  const cutoff = (opts.nowMs ?? Date.now()) - opts.horizonMs;
  const batch = opts.batch ?? 200;
  const out: CompactResult = { compacted: 0, busy: 0 };
  let offset = 0;
  for (let seen = 0; seen < (opts.maxOrders ?? Number.POSITIVE_INFINITY); ) {
    const ids = await redis.zrangebyscore(keys.ordersByChange(shop), '-inf', cutoff, 'LIMIT', offset, batch);
    if (ids.length === 0) break;
    seen += ids.length;
    const heads = redis.pipeline();
    for (const id of ids) heads.hmget(keys.order(shop, id), 'email', 'shopifyCustomerId', 'itrCustomerId');
    const fields = (await heads.exec()) ?? [];
    const tx = redis.pipeline();
    ids.forEach((id, i) => {
      const [email, customerId, itrId] = (fields[i]?.[1] as (string | null)[] | undefined) ?? [];
      const index: string[] = [];
      if (email) index.push(keys.ordersByEmail(shop, email));
      if (customerId) index.push(keys.ordersByCustomer(shop, customerId));
      const k = ledgerKeys(keys, shop);
      tx.eval(
        COMPACT,
        6 + index.length,
        keys.order(shop, id),
        keys.orderLedger(shop),
        keys.ordersByChange(shop),
        k.orderLock(id),
        itrId ? k.pending(itrId) : keys.order(shop, id),
        itrId ? k.uncertain(itrId) : keys.order(shop, id),
        ...index,
        id,
        String(cutoff),
        email ?? '',
        customerId ?? '',
        itrId ?? '',
      );
    });
    let kept = 0;
    for (const [err, r] of (await tx.exec()) ?? []) {
      if (err) throw err;
      if (r === 1) out.compacted++;
      else {
        kept++;
        if (r === -1) out.busy++;
      }
    }
    // Compacted orders left the set; those kept are stepped over.
    offset += kept;
  }
  return out;
}

/** The shop's ledger entry of a compacted order (undefined when the order is not compacted). */
export async function compactedLedger(redis: Redis, keys: Keys, shop: string, orderId: string) {
  const v = await redis.hget(keys.orderLedger(shop), orderId);
  if (v === null) return undefined;
  const [applied, itrCustomerId, rateMilli, rules, test, testIncluded, cancelled, paid] = v.split('|');
  return {
    appliedPoints: Number(applied || 0),
    itrCustomerId: itrCustomerId || undefined,
    rateMilli: rateMilli ? Number(rateMilli) : undefined,
    rules: rules || undefined,
    test: test === '1',
    testIncluded: testIncluded === '' ? undefined : testIncluded === '1',
    cancelled: cancelled === '1',
    paid: paid === '1',
  };
}

export interface CompactionScheduleDeps {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  settings: {
    get(shop: string): Promise<{ orderRetentionDays: number }>;
    listShops?(): Promise<string[]>;
  };
  /** How often every shop is swept (default hourly; 0 turns it off). */
  everyMs?: number;
}

/**
 * Sweeps every known shop on a timer (first run after a random part of the period, so workers started
 * together spread out). Several workers sweeping at once is harmless: each order is compacted by one script.
 */
export function scheduleCompaction(deps: CompactionScheduleDeps): Chore {
  return eachShopPeriodically({
    everyMs: deps.everyMs ?? 3_600_000,
    listShops: deps.settings.listShops?.bind(deps.settings),
    onError: (err) => deps.logger.warn({ err }, 'order compaction failed'),
    async visit(shop) {
      const { orderRetentionDays } = await deps.settings.get(shop);
      const r = await compactOrders(deps.redis, deps.keys, shop, { horizonMs: orderRetentionDays * DAY_MS });
      if (r.compacted) deps.logger.info({ shop, ...r }, 'orders past the retention horizon compacted');
    },
  });
}
