import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CustomerRecord } from '../itretail/schemas.js';
import type { Keys } from '../store/keys.js';
import { type Lock, LockLostError, type LockOptions, withLock } from './locks.js';
import { type CustomerMatcher, MatchError, type MatchInput, type SyncClient } from './matching.js';
import { orderKey, readOrderState } from './order-state.js';
import { type OrderState, worth, worthBasis } from './points.js';

/**
 * Moving an IT Retail balance by exactly what an order is worth now minus what was already applied.
 *
 * Locks (always taken in this order, never the reverse, so they cannot deadlock):
 *   order lock  keys.shop(shop,'lock','order',orderId)  — one job per order decides and acts at a time
 *   email lock  (inside findOrCreate, released before the next one is taken)
 *   customer lock keys.shop(shop,'lock','cust',itrId)   — one writer per IT Retail customer
 *
 * The order is bound to one IT Retail customer (`itrCustomerId` in the order hash) from its first write on,
 * so later refunds and cancellations go to the customer that received the points, even if the email's link
 * changes. A bound customer that is gone (GetOne null) releases the binding: its points went with it.
 *
 * Exactly once: before a Put, an intent {orderId, delta, before, after, …} is written for the customer. A Put
 * whose answer is lost leaves the intent; whoever next holds that customer's lock settles it from the
 * record as it is then (step 1 of every locked section), before anything else writes to the customer.
 */

export interface PendingIntent {
  orderId: string;
  jobId?: string;
  /** Ledger change this write stands for (worth − applied at the time). */
  delta: number;
  before: number;
  after: number;
  shortfall: number;
  /** Manual operations with LoyaltyPointsAfterAdd === after before the Put (null: the record had no list). */
  matchingOpsBefore: number | null;
  modifiedBefore: string | null;
  at: string;
}

export interface AppliedOutcome {
  status: 'applied';
  itrCustomerId: string;
  cardNo?: string;
  pointsBefore: number;
  pointsDelta: number;
  pointsAfter: number;
  shortfall: number;
  worth: number;
  /** The answer suggests the register changed points between our read and our write. */
  inStoreOverwriteSuspected?: boolean;
}

export interface SkippedOutcome {
  status: 'skipped';
  reason: string;
  itrCustomerId?: string;
  cardNo?: string;
  worth: number;
}

export type ReconcileOutcome = AppliedOutcome | SkippedOutcome;

export interface ReconcileDeps {
  redis: Redis;
  keys: Keys;
  matcher: CustomerMatcher;
  logger?: Logger;
  /** Per-IT-Retail-customer lock (default ttl 60 s, wait 15 s). The TTL must outlast one IT Retail call. */
  customerLock?: LockOptions;
  /** Per-order lock (default ttl 60 s, wait 20 s). */
  orderLock?: LockOptions;
  /** How long a job's outcome is remembered for its retries (default 14 days). */
  outcomeTtlSeconds?: number;
}

export class CustomerGoneError extends Error {
  readonly code = 'CUSTOMER_GONE' as const;
  constructor(readonly itrId: string) {
    super('the IT Retail customer no longer exists');
    this.name = 'CustomerGoneError';
  }
}

const pendingKey = (d: ReconcileDeps, shop: string, itrId: string) => d.keys.shop(shop, 'pending', itrId);
const outcomeKey = (d: ReconcileDeps, shop: string, jobId: string) => d.keys.shop(shop, 'job-outcome', jobId);

export function customerLockKey(keys: Keys, shop: string, itrId: string): string {
  return keys.shop(shop, 'lock', 'cust', itrId);
}

const points = (r: CustomerRecord) => (typeof r.LoyaltyPoints === 'number' ? Math.trunc(r.LoyaltyPoints) : 0);

function matchingManualOps(r: CustomerRecord, after: number): number | null {
  const ops = r.CustomerLoyaltyPointOperations;
  if (!Array.isArray(ops)) return null;
  let n = 0;
  for (const op of ops) if (op && op.IsManualUpdate !== false && op.LoyaltyPointsAfterAdd === after) n++;
  return n;
}

/**
 * Did the intent's Put land? Yes when the record now carries one more manual loyalty operation ending at
 * `after` than it did before the Put (our Put is the only manual writer while we hold the lock). When the
 * service gives no operations list: the record was modified and holds exactly `after` — weaker, since a
 * register change after our Put would hide it; documented as such.
 */
export function intentLanded(intent: PendingIntent, r: CustomerRecord): boolean {
  const now = matchingManualOps(r, intent.after);
  if (intent.matchingOpsBefore !== null && now !== null) return now > intent.matchingOpsBefore;
  return (r.Modified ?? null) !== intent.modifiedBefore && points(r) === intent.after;
}

/**
 * Runs fn holding the customer's lock, after settling any write to that customer whose answer was lost.
 * Throws CustomerGoneError when the customer does not exist any more (after dropping its pending intent).
 */
export async function withCustomer<T>(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  itrId: string,
  fn: (lock: Lock) => Promise<T>,
): Promise<T> {
  const opts: LockOptions = { ttlMs: 60_000, waitMs: 15_000, ...d.customerLock };
  return withLock(d.redis, customerLockKey(d.keys, shop, itrId), opts, async (lock) => {
    await settlePending(d, shop, client, itrId);
    return fn(lock);
  });
}

/** Settles the customer's pending intent, if any (call only while holding the customer's lock). */
export async function settlePending(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  itrId: string,
): Promise<void> {
  const raw = await d.redis.get(pendingKey(d, shop, itrId));
  if (!raw) return;
  const intent = JSON.parse(raw) as PendingIntent;
  const rec = await client.getCustomer(itrId);
  if (!rec) {
    // Landed or not, the points went with the record; the order is rebound when next processed.
    await d.redis.del(pendingKey(d, shop, itrId));
    return;
  }
  if (intentLanded(intent, rec)) {
    await commit(d, shop, itrId, intent, rec.CardNo ?? undefined, { pendingIs: raw });
    d.logger?.info({ shop, orderId: intent.orderId, itretailCustomerId: itrId }, 'lost write found applied');
  } else {
    await d.redis.eval(DISCARD_INTENT, 1, pendingKey(d, shop, itrId), raw);
    d.logger?.info(
      { shop, orderId: intent.orderId, itretailCustomerId: itrId },
      'lost write found not applied',
    );
  }
}

/**
 * Writes the intent only while `lock` is still ours (and renews it to its full TTL): the ownership check
 * right before the Put, with no other I/O between the two. 0: the lock is lost; -1: an unsettled intent.
 */
const WRITE_INTENT = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('pexpire', KEYS[1], ARGV[2])
if redis.call('exists', KEYS[2]) == 1 then return -1 end
redis.call('set', KEYS[2], ARGV[3])
redis.call('hset', KEYS[3], 'itrCustomerId', ARGV[4])
return 1`;

/**
 * Moves the order's ledger by an intent's delta, once. Guard 'pending': only while the customer's pending
 * intent is still exactly this one (whoever settles it first counts it; the other one does nothing).
 * Guard 'lock': only while the customer's lock is still ours (a write that needed no Put).
 * KEYS: order, pending, outcome, lock. ARGV: guard, expected, delta, itrId, outcome JSON or '', outcome TTL.
 */
const COMMIT = `
if ARGV[1] == 'pending' then
  if redis.call('get', KEYS[2]) ~= ARGV[2] then return 0 end
  redis.call('del', KEYS[2])
elseif redis.call('get', KEYS[4]) ~= ARGV[2] then return 0 end
redis.call('hincrby', KEYS[1], 'appliedPoints', ARGV[3])
redis.call('hset', KEYS[1], 'itrCustomerId', ARGV[4])
if ARGV[5] ~= '' then redis.call('set', KEYS[3], ARGV[5], 'EX', ARGV[6]) end
return 1`;

const DISCARD_INTENT = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/** Counts the intent in the order's ledger; false when the guard failed and nothing was counted. */
async function commit(
  d: ReconcileDeps,
  shop: string,
  itrId: string,
  intent: PendingIntent,
  cardNo: string | undefined,
  guard: { pendingIs: string } | { lock: Lock },
): Promise<boolean> {
  const outcome: AppliedOutcome = {
    status: 'applied',
    itrCustomerId: itrId,
    cardNo,
    pointsBefore: intent.before,
    pointsDelta: intent.after - intent.before,
    pointsAfter: intent.after,
    shortfall: intent.shortfall,
    worth: NaN,
  };
  const [kind, expected] = 'pendingIs' in guard ? ['pending', guard.pendingIs] : ['lock', guard.lock.token];
  const r = await d.redis.eval(
    COMMIT,
    4,
    orderKey(d.keys, shop, intent.orderId),
    pendingKey(d, shop, itrId),
    outcomeKey(d, shop, intent.jobId ?? '-'),
    customerLockKey(d.keys, shop, itrId),
    kind,
    expected,
    String(intent.delta),
    itrId,
    intent.jobId ? JSON.stringify(outcome) : '',
    String(d.outcomeTtlSeconds ?? 14 * 86_400),
  );
  return r === 1;
}

function skipReason(state: OrderState, includeTestOrders: boolean, w: number): string {
  if (state.appliedPoints !== 0 || w !== 0) return 'already applied';
  switch (worthBasis(state, includeTestOrders)) {
    case 'not-paid':
      return 'waiting for payment';
    case 'cancelled':
      return 'order cancelled before any points were applied';
    case 'test-order':
      return 'test order';
    default:
      return 'order earns no points';
  }
}

export interface ReconcileOptions {
  includeTestOrders: boolean;
  jobId?: string;
  /** Names and phone for a customer that has to be created. */
  customer?: Omit<MatchInput, 'email'>;
}

/**
 * Brings one order's IT Retail balance in line with what it is worth now. Idempotent: a repeat, a retry, or
 * any order of arrival ends with the same ledger and balance.
 */
export async function reconcileOrder(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  orderId: string,
  opts: ReconcileOptions,
): Promise<ReconcileOutcome> {
  const orderLock: LockOptions = { ttlMs: 60_000, waitMs: 20_000, ...d.orderLock };
  return withLock(d.redis, d.keys.shop(shop, 'lock', 'order', orderId), orderLock, async () => {
    for (let round = 0; round < 3; round++) {
      const state = await readOrderState(d.redis, d.keys, shop, orderId);
      const w = worth(state, opts.includeTestOrders);
      let target = state.itrCustomerId;
      if (!target) {
        const remembered = await rememberedOutcome(d, shop, opts.jobId);
        if (w === state.appliedPoints) {
          return (
            remembered ?? {
              status: 'skipped',
              reason: skipReason(state, opts.includeTestOrders, w),
              worth: w,
            }
          );
        }
        if (!state.email) return { status: 'skipped', reason: 'order has no email', worth: w };
        const match = await d.matcher.findOrCreate(shop, client, {
          ...opts.customer,
          email: state.email,
          shopifyCustomerId: state.shopifyCustomerId,
        });
        target = match.id;
      }
      const itrId = target;
      const result = await withCustomer(d, shop, client, itrId, (lock) =>
        applyUnderLock(d, shop, client, orderId, itrId, lock, opts),
      ).catch((e: unknown) => {
        if (e instanceof CustomerGoneError) return 'rebind' as const;
        throw e;
      });
      if (result !== 'rebind') return result;
      // The bound customer is gone: its points went with it. Unbind and match again by email.
      await d.redis
        .multi()
        .hdel(orderKey(d.keys, shop, orderId), 'itrCustomerId')
        .hset(orderKey(d.keys, shop, orderId), 'appliedPoints', '0')
        .exec();
      if (state.email)
        await d.matcher.unlinkCustomer(shop, itrId, {
          email: state.email,
          shopifyCustomerId: state.shopifyCustomerId,
        });
      d.logger?.warn(
        { shop, orderId, itretailCustomerId: itrId },
        'IT Retail customer gone; matching the order again',
      );
    }
    throw new MatchError('the matched IT Retail customer kept disappearing; will try again', true);
  });
}

async function rememberedOutcome(
  d: ReconcileDeps,
  shop: string,
  jobId?: string,
): Promise<AppliedOutcome | undefined> {
  if (!jobId) return undefined;
  const v = await d.redis.get(outcomeKey(d, shop, jobId));
  return v ? (JSON.parse(v) as AppliedOutcome) : undefined;
}

async function applyUnderLock(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  orderId: string,
  itrId: string,
  lock: Lock,
  opts: ReconcileOptions,
): Promise<ReconcileOutcome> {
  // Read again under the lock: settling a lost write may just have moved this order's ledger.
  const state = await readOrderState(d.redis, d.keys, shop, orderId);
  if (state.itrCustomerId && state.itrCustomerId !== itrId) {
    throw new Error('order bound to another customer while waiting for the lock');
  }
  const w = worth(state, opts.includeTestOrders);
  const delta = w - state.appliedPoints;
  if (delta === 0) {
    const remembered = await rememberedOutcome(d, shop, opts.jobId);
    if (remembered) return { ...remembered, worth: w };
    return {
      status: 'skipped',
      reason: skipReason(state, opts.includeTestOrders, w),
      itrCustomerId: itrId,
      worth: w,
    };
  }
  await lock.ensure();
  const rec = await client.getCustomer(itrId);
  if (!rec) throw new CustomerGoneError(itrId);
  if (rec.Deleted === true && state.appliedPoints === 0) throw new CustomerGoneError(itrId);

  const before = points(rec);
  const raw = before + delta;
  const after = Math.max(0, raw);
  const shortfall = raw < 0 ? -raw : 0;
  const intent: PendingIntent = {
    orderId,
    jobId: opts.jobId,
    delta,
    before,
    after,
    shortfall,
    matchingOpsBefore: matchingManualOps(rec, after),
    modifiedBefore: rec.Modified ?? null,
    at: new Date().toISOString(),
  };
  if (after === before) {
    // Nothing to write (a deduction from a balance already at 0): the ledger still moves, the shortfall is kept.
    if (!(await commit(d, shop, itrId, intent, rec.CardNo ?? undefined, { lock }))) {
      throw new LockLostError(lock.key);
    }
    return outcomeOf(intent, itrId, rec, w);
  }
  // The intent is durable before the Put is sent: a lost answer or a killed process leaves it to be settled.
  // Written only while the customer's lock is still ours, immediately before the Put.
  const intentJson = JSON.stringify(intent);
  const wrote = await d.redis.eval(
    WRITE_INTENT,
    3,
    customerLockKey(d.keys, shop, itrId),
    pendingKey(d, shop, itrId),
    orderKey(d.keys, shop, orderId),
    lock.token,
    String(lock.ttlMs),
    intentJson,
    itrId,
  );
  if (wrote === 0) throw new LockLostError(lock.key);
  if (wrote !== 1) throw new Error('an earlier write to this IT Retail customer is still unsettled');
  const answer = await client.updateCustomer({ ...rec, LoyaltyPoints: after });
  if (!(await commit(d, shop, itrId, intent, rec.CardNo ?? undefined, { pendingIs: intentJson }))) {
    // Our lock lapsed while the Put was out and the next holder already settled (and counted) this write.
    d.logger?.warn(
      { shop, orderId, itretailCustomerId: itrId },
      'write confirmed after another job had settled it',
    );
  }
  const out = outcomeOf(intent, itrId, rec, w);
  const lastOp = (answer.CustomerLoyaltyPointOperations ?? []).at(-1);
  if (
    lastOp &&
    typeof lastOp.LoyaltyPointsAdded === 'number' &&
    lastOp.LoyaltyPointsAdded !== after - before
  ) {
    out.inStoreOverwriteSuspected = true;
    d.logger?.warn(
      {
        shop,
        orderId,
        itretailCustomerId: itrId,
        expected: after - before,
        reported: lastOp.LoyaltyPointsAdded,
      },
      'the register may have changed points between our read and our write',
    );
  }
  return out;
}

function outcomeOf(intent: PendingIntent, itrId: string, rec: CustomerRecord, w: number): AppliedOutcome {
  return {
    status: 'applied',
    itrCustomerId: itrId,
    cardNo: rec.CardNo ?? undefined,
    pointsBefore: intent.before,
    pointsDelta: intent.after - intent.before,
    pointsAfter: intent.after,
    shortfall: intent.shortfall,
    worth: w,
  };
}
