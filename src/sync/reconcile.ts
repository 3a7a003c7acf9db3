import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CustomerRecord } from '../itretail/schemas.js';
import type { Keys } from '../store/keys.js';
import { type Lock, LockLostError, type LockOptions, type LockRead, withLock } from './locks.js';
import {
  type CustomerMatcher,
  isLiveWithEmail,
  MatchError,
  type MatchInput,
  type SyncClient,
} from './matching.js';
import { hashFromPairs, orderKey, orderStateFromHash, readOrderState } from './order-state.js';
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
 *
 * Matching an order that is not bound yet: the candidate is the email's link (else the index's entry), read
 * with the order lock and without a GetOne of its own. The GetOne made under the customer lock for the Put
 * is what verifies it (it exists, is not Deleted, carries the order's email); a candidate that fails is
 * treated as gone: the order unlinks it and matches again through findOrCreate, which verifies under the
 * email lock and is the only path that may create a customer. So an order of a linked customer costs two
 * IT Retail calls: GetOne and Put.
 *
 * Redis round trips are kept few: the order lock is taken together with the order's hash and the
 * candidate (one script), the customer lock together with its pending intent and the order's hash (one
 * script; the hash is read again only if an intent had to be settled first), and the ledger commit frees
 * both locks in the same script.
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
  /** The order's name as stored (set by reconcileOrder). */
  orderName?: string;
}

export interface SkippedOutcome {
  status: 'skipped';
  reason: string;
  orderName?: string;
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

export function orderLockKey(keys: Keys, shop: string, orderId: string): string {
  return keys.shop(shop, 'lock', 'order', orderId);
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
 * With `orderId`, the order's hash is read in the same round trip as the lock is taken and given to fn —
 * unless an intent had to be settled first (that may move the order's ledger): then fn gets undefined and
 * must read the order itself.
 */
export async function withCustomer<T>(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  itrId: string,
  fn: (lock: Lock, orderHash?: Record<string, string>) => Promise<T>,
  orderId?: string,
): Promise<T> {
  const opts: LockOptions = { ttlMs: 60_000, waitMs: 15_000, ...d.customerLock };
  const read: LockRead = {
    lua: CUSTOMER_LOCK_READ,
    keys: [pendingKey(d, shop, itrId), ...(orderId ? [orderKey(d.keys, shop, orderId)] : [])],
  };
  return withLock(
    d.redis,
    customerLockKey(d.keys, shop, itrId),
    opts,
    async (lock) => {
      const [pending, pairs] = lock.read as [string, unknown];
      if (pending) {
        await settleIntent(d, shop, client, itrId, pending);
        return fn(lock);
      }
      return fn(lock, orderId ? hashFromPairs(pairs) : undefined);
    },
    read,
  );
}

/** Run right after the customer lock is taken: its pending intent ('' for none) and the order's hash. */
const CUSTOMER_LOCK_READ = `
local pending = redis.call('get', KEYS[2]) or ''
local h = {}
if KEYS[3] then h = redis.call('hgetall', KEYS[3]) end
return { pending, h }`;

async function settleIntent(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  itrId: string,
  raw: string,
): Promise<void> {
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
 * A token match means the lock was ours without a break since it was taken (tokens are never reused), so
 * the GetOne the Put is based on was made under it. When the order is being bound to a customer just
 * verified by that GetOne, the email (ARGV[5]) and the Shopify customer (ARGV[6]) are linked to it too.
 * KEYS: lock, pending, order, link:email, link:customer.
 */
const WRITE_INTENT = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('pexpire', KEYS[1], ARGV[2])
if redis.call('exists', KEYS[2]) == 1 then return -1 end
redis.call('set', KEYS[2], ARGV[3])
redis.call('hset', KEYS[3], 'itrCustomerId', ARGV[4])
if ARGV[5] ~= '' then redis.call('hset', KEYS[4], ARGV[5], ARGV[4]) end
if ARGV[6] ~= '' then redis.call('hset', KEYS[5], ARGV[6], ARGV[4]) end
return 1`;

/**
 * Moves the order's ledger by an intent's delta, once. Guard 'pending': only while the customer's pending
 * intent is still exactly this one (whoever settles it first counts it; the other one does nothing).
 * Guard 'lock': only while the customer's lock is still ours (a write that needed no Put).
 * Once counted, it frees the locks whose tokens are given (compare-and-delete), the last step of a job.
 * KEYS: order, pending, outcome, lock, order lock. ARGV: guard, expected, delta, itrId, outcome JSON or '',
 * outcome TTL, customer lock token or '', order lock token or ''.
 */
const COMMIT = `
if ARGV[1] == 'pending' then
  if redis.call('get', KEYS[2]) ~= ARGV[2] then return 0 end
  redis.call('del', KEYS[2])
elseif redis.call('get', KEYS[4]) ~= ARGV[2] then return 0 end
redis.call('hincrby', KEYS[1], 'appliedPoints', ARGV[3])
redis.call('hset', KEYS[1], 'itrCustomerId', ARGV[4])
if ARGV[5] ~= '' then redis.call('set', KEYS[3], ARGV[5], 'EX', ARGV[6]) end
if ARGV[7] ~= '' and redis.call('get', KEYS[4]) == ARGV[7] then redis.call('del', KEYS[4]) end
if ARGV[8] ~= '' and redis.call('get', KEYS[5]) == ARGV[8] then redis.call('del', KEYS[5]) end
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
  release: Lock[] = [],
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
  const custLockKey = customerLockKey(d.keys, shop, itrId);
  const custLock = release.find((l) => l.key === custLockKey);
  const orderLock = release.find((l) => l.key !== custLockKey);
  const r = await d.redis.eval(
    COMMIT,
    5,
    orderKey(d.keys, shop, intent.orderId),
    pendingKey(d, shop, itrId),
    outcomeKey(d, shop, intent.jobId ?? '-'),
    custLockKey,
    orderLock?.key ?? orderLockKey(d.keys, shop, intent.orderId),
    kind,
    expected,
    String(intent.delta),
    itrId,
    intent.jobId ? JSON.stringify(outcome) : '',
    String(d.outcomeTtlSeconds ?? 14 * 86_400),
    custLock?.token ?? '',
    orderLock?.token ?? '',
  );
  if (r !== 1) return false;
  for (const l of [custLock, orderLock]) l?.releasedByScript();
  return true;
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
  /** The shop's setting now; decides only for test orders whose paid facts do not carry the decision. */
  includeTestOrders: boolean;
  jobId?: string;
  /**
   * False when this is the job's first run (nothing of it can have been committed before), so its
   * remembered outcome need not be looked up. Default true.
   */
  mayHaveRunBefore?: boolean;
  /** Names and phone for a customer that has to be created (default: the buyer's kept with the order). */
  customer?: Omit<MatchInput, 'email'>;
}

/**
 * Run right after the order lock is taken: the order's hash and, for an order not bound to a customer yet,
 * the candidate for its email — the link ('' if none), else the index's entry ("<Id>|<CardNo>", '' if none).
 * KEYS: lock, order, link:email, idx.
 */
const ORDER_LOCK_READ = `
local h = redis.call('hgetall', KEYS[2])
local email, bound = nil, false
for i = 1, #h, 2 do
  if h[i] == 'email' then email = h[i + 1] elseif h[i] == 'itrCustomerId' and h[i + 1] ~= '' then bound = true end
end
local linked, indexed = '', ''
if email and email ~= '' and not bound then
  linked = redis.call('hget', KEYS[3], email) or ''
  if linked == '' then indexed = redis.call('hget', KEYS[4], email) or '' end
end
return { h, linked, indexed }`;

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
  const orderLockOpts: LockOptions = { ttlMs: 60_000, waitMs: 20_000, ...d.orderLock };
  const read: LockRead = {
    lua: ORDER_LOCK_READ,
    keys: [orderKey(d.keys, shop, orderId), d.keys.shop(shop, 'link', 'email'), d.keys.shop(shop, 'idx')],
  };
  return withLock(
    d.redis,
    orderLockKey(d.keys, shop, orderId),
    orderLockOpts,
    async (orderLock) => {
      const [pairs, linked, indexed] = orderLock.read as [unknown, string, string];
      // Unverified: the GetOne under the customer lock checks it; used once (a failed one goes to findOrCreate).
      let candidate = linked || (indexed ? indexed.slice(0, indexed.indexOf('|')) : '');
      let state = orderStateFromHash(hashFromPairs(pairs));
      for (let round = 0; round < 3; round++) {
        if (round > 0) state = await readOrderState(d.redis, d.keys, shop, orderId);
        const named = (o: ReconcileOutcome): ReconcileOutcome => ({ ...o, orderName: state.name });
        const w = worth(state, opts.includeTestOrders);
        let target = state.itrCustomerId;
        if (!target) {
          if (w === state.appliedPoints) {
            const remembered = await rememberedOutcome(d, shop, opts);
            return named(
              remembered ?? {
                status: 'skipped',
                reason: skipReason(state, opts.includeTestOrders, w),
                worth: w,
              },
            );
          }
          if (!state.email) return named({ status: 'skipped', reason: 'order has no email', worth: w });
          if (candidate) {
            target = candidate;
            candidate = '';
          } else {
            const match = await d.matcher.findOrCreate(shop, client, {
              ...opts.customer,
              firstName: opts.customer?.firstName ?? state.buyer?.firstName,
              lastName: opts.customer?.lastName ?? state.buyer?.lastName,
              phone: opts.customer?.phone ?? state.buyer?.phone,
              email: state.email,
              shopifyCustomerId: state.shopifyCustomerId,
            });
            target = match.id;
          }
        }
        const itrId = target;
        const email = state.email;
        const result = await withCustomer(
          d,
          shop,
          client,
          itrId,
          (lock, hash) =>
            applyUnderLock(d, shop, client, orderId, itrId, lock, opts, { hash, orderLock, email }),
          orderId,
        ).catch((e: unknown) => {
          if (e instanceof CustomerGoneError) return 'rebind' as const;
          throw e;
        });
        if (result !== 'rebind') return named(result);
        // The customer is gone (or, for an order not bound yet, the candidate did not check out): a bound
        // order's points went with it. Unbind and match again by email, through findOrCreate.
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
          { shop, orderId, itretailCustomerId: itrId, wasBound: Boolean(state.itrCustomerId) },
          'IT Retail customer gone or no longer matching; matching the order again',
        );
      }
      throw new MatchError('the matched IT Retail customer kept disappearing; will try again', true);
    },
    read,
  );
}

async function rememberedOutcome(
  d: ReconcileDeps,
  shop: string,
  opts: ReconcileOptions,
): Promise<AppliedOutcome | undefined> {
  if (!opts.jobId || opts.mayHaveRunBefore === false) return undefined;
  const v = await d.redis.get(outcomeKey(d, shop, opts.jobId));
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
  ctx: { hash?: Record<string, string>; orderLock: Lock; email?: string },
): Promise<ReconcileOutcome> {
  // Read under the lock (in the same round trip as taking it), or again if settling a lost write may just
  // have moved this order's ledger.
  const state = ctx.hash
    ? orderStateFromHash(ctx.hash)
    : await readOrderState(d.redis, d.keys, shop, orderId);
  if (state.itrCustomerId && state.itrCustomerId !== itrId) {
    throw new Error('order bound to another customer while waiting for the lock');
  }
  // This write binds the order to the customer: the customer must be one its email may be linked to.
  const binding = !state.itrCustomerId;
  const w = worth(state, opts.includeTestOrders);
  const delta = w - state.appliedPoints;
  if (delta === 0) {
    const remembered = await rememberedOutcome(d, shop, opts);
    if (remembered) return { ...remembered, worth: w };
    return {
      status: 'skipped',
      reason: skipReason(state, opts.includeTestOrders, w),
      itrCustomerId: itrId,
      worth: w,
    };
  }
  // No ownership check is needed before this read: the one in WRITE_INTENT, right before the Put, proves
  // the lock was ours without a break since it was taken, so this read was made under it.
  const rec = await client.getCustomer(itrId);
  if (!rec) throw new CustomerGoneError(itrId);
  const email = state.email ?? ctx.email;
  if (binding) {
    // Live, not Deleted, and still carrying the order's email (it may have changed at the register).
    if (!email || !isLiveWithEmail(rec, email)) throw new CustomerGoneError(itrId);
  } else if (rec.Deleted === true && state.appliedPoints === 0) throw new CustomerGoneError(itrId);

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
    if (!(await commit(d, shop, itrId, intent, rec.CardNo ?? undefined, { lock }, [lock, ctx.orderLock]))) {
      throw new LockLostError(lock.key);
    }
    return outcomeOf(intent, itrId, rec, w);
  }
  // The intent is durable before the Put is sent: a lost answer or a killed process leaves it to be settled.
  // Written only while the customer's lock is still ours, immediately before the Put.
  const intentJson = JSON.stringify(intent);
  const wrote = await d.redis.eval(
    WRITE_INTENT,
    5,
    customerLockKey(d.keys, shop, itrId),
    pendingKey(d, shop, itrId),
    orderKey(d.keys, shop, orderId),
    d.keys.shop(shop, 'link', 'email'),
    d.keys.shop(shop, 'link', 'customer'),
    lock.token,
    String(lock.ttlMs),
    intentJson,
    itrId,
    binding && email ? email : '',
    binding && state.shopifyCustomerId ? state.shopifyCustomerId : '',
  );
  if (wrote === 0) throw new LockLostError(lock.key);
  if (wrote !== 1) throw new Error('an earlier write to this IT Retail customer is still unsettled');
  const answer = await client.updateCustomer({ ...rec, LoyaltyPoints: after });
  const counted = await commit(d, shop, itrId, intent, rec.CardNo ?? undefined, { pendingIs: intentJson }, [
    lock,
    ctx.orderLock,
  ]);
  if (!counted) {
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
