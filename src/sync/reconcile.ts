import { AppError } from '../errors.js';
import { appliedOutcome, type CustomerWriteDeps, withCustomer, writePoints } from './customer-writes.js';
import { MatchError } from './email-index.js';
import { ledgerKeys, type StagedRecord } from './ledger.js';
import {
  acquireLock,
  heldLock,
  type Lock,
  type LockOptions,
  LockPreludeStop,
  type LockRead,
  newLockToken,
  releaseLocks,
} from './locks.js';
import { isLiveWithEmail, type MatchInput, type SyncClient } from './matching.js';
import {
  hashFromPairs,
  MERGE_ORDER_FACTS,
  type OrderMergeCall,
  orderStateFromHash,
  readOrderState,
} from './order-state.js';
import { type OrderState, worth, worthBasis } from './points.js';

/**
 * Moving an IT Retail balance by exactly what an order is worth now minus what was already applied.
 *
 * Locks (always taken in this order, never the reverse, so they cannot deadlock):
 *   order lock  keys.orderLock(shop, orderId)  — one job per order decides and acts at a time
 *   email lock  (inside findOrCreate, released before the next one is taken)
 *   customer lock keys.customerLock(shop, itrId)   — one writer per IT Retail customer (customer-writes.ts)
 *
 * Who the buyer is: the Shopify customer. An order of a Shopify customer that is linked goes to the linked
 * IT Retail record whatever email the order carries; a guest order (or a customer not linked yet) is matched
 * by email. From its first write on, the order is bound to one IT Retail customer (`itrCustomerId` in the
 * order hash), so later refunds and cancellations go where its points went. A binding is never undone and
 * what an order applied is never reset: a bound customer confirmed gone ends the order's syncing, with its
 * ledger as it was.
 *
 * A GetOne `null` is not proof of deletion (a wrong token or base URL answers the same): the customer list
 * must confirm it (see CustomerMatcher.confirmAbsent) before a link is dropped; until then the job retries.
 *
 * Matching an order that is not bound yet: the candidate (the Shopify customer's link, else the email's
 * link, else the index's entry) is read with the order lock, and verified by the GetOne made under the
 * customer lock for the Put. A candidate that fails is unlinked and the order matched again through
 * findOrCreate, the only path that may create a customer. So an order of a linked customer costs two IT
 * Retail calls: GetOne and Put.
 */

interface AppliedOutcome {
  status: 'applied';
  itrCustomerId: string;
  cardNo?: string;
  pointsBefore: number;
  pointsDelta: number;
  pointsAfter: number;
  shortfall: number;
  worth: number;
  /** The order's name as stored (set by reconcileOrder). */
  orderName?: string;
  /** A register change the Put overwrote (given back by a follow-up write). */
  registerOverwritten?: number;
  /** What `ReconcileOptions.record` staged, written with the commit. */
  recorded?: unknown;
}

interface SkippedOutcome {
  status: 'skipped';
  reason: string;
  orderName?: string;
  itrCustomerId?: string;
  cardNo?: string;
  worth: number;
}

export type ReconcileOutcome = AppliedOutcome | SkippedOutcome;

export interface ReconcileDeps extends CustomerWriteDeps {
  /** Per-order lock (default ttl 60 s, wait 20 s). */
  orderLock?: LockOptions;
}

/** The candidate customer failed its check (gone, deleted, or no longer carrying the order's email). */
class CustomerGoneError extends AppError {
  override readonly code = 'CUSTOMER_GONE' as const;
  constructor(readonly itrId: string) {
    super('the IT Retail customer no longer exists', { retryable: false });
  }
}

export const GONE_REASON =
  'the IT Retail customer that holds this order’s points no longer exists; nothing more is applied';

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
  /** The job's facts, merged into the order by the script that takes the order lock (see OrderMerge). */
  merge?: OrderMerge;
  /**
   * The job's sync event for an outcome, written in the same transaction as the ledger commit that makes
   * it true (one round trip for both); undefined to leave the recording to the caller.
   */
  record?(o: ReconcileOutcome): StagedRecord | undefined;
}

/**
 * An order's facts merged in the order lock's script, ahead of taking the lock (the merge is idempotent and
 * commutative, so it needs no lock, and being in the same script nothing can reorder it with the read).
 */
export interface OrderMerge {
  call: OrderMergeCall;
  /**
   * The order was compacted after the retention horizon and these facts cannot restore it: a reason to skip
   * it, or undefined once the order was restored another way (read from Shopify and merged); then the
   * reconcile goes on.
   */
  compacted(): Promise<string | undefined>;
  /** Told the order's state as read with the lock (e.g. to name the order and its customer in the job). */
  seen?(state: OrderState): void;
}

/**
 * The order lock's script. Prelude, whether or not the lock is free: the job's facts merged into the order
 * (MERGE_ORDER_FACTS, run as a function over its own keys and arguments); a compacted order these facts
 * cannot restore stops the script before any lock is taken.
 * After the lock is taken: the order's hash and, for an order bound to a customer, that customer; else its
 * candidate: the Shopify customer's link ('customer'), else the email's link ('email'), else the index's
 * entry ('index', "<Id>|<CardNo>"). Then, when a customer lock token is given, the customer's lock is tried
 * once (never waited for) and, when taken, what withCustomer reads with it: pending write, uncertain write,
 * register changes to give back. Locks are taken order first, customer second, as everywhere.
 * The customer's keys are named from the shop's prefixes passed in ARGV: they carry the shop's hash tag,
 * so they are in the slot of the declared keys (Redis checks that on a cluster).
 * KEYS: lock, order, link:email, idx, link:customer, then the merge's keys.
 * ARGV: token, ttl, customer lock token ('' none), its ttl, prefixes of the customer lock, pending,
 * uncertain and restore-due keys, number of merge keys (0: no merge), then the merge's arguments.
 */
const ORDER_LOCK_PRELUDE = `
local function mergeFacts(KEYS, ARGV)
${MERGE_ORDER_FACTS}
end
local nmk = tonumber(ARGV[9])
if nmk > 0 then
  local mk, ma = {}, {}
  for i = 1, nmk do mk[i] = KEYS[5 + i] end
  for i = 10, #ARGV do ma[#ma + 1] = ARGV[i] end
  if mergeFacts(mk, ma) == 0 then return { 'stop', 'compacted' } end
end`;

const ORDER_LOCK_READ = `
local h = redis.call('hgetall', KEYS[2])
local email, customer, bound = nil, nil, nil
for i = 1, #h, 2 do
  if h[i] == 'email' then email = h[i + 1]
  elseif h[i] == 'shopifyCustomerId' then customer = h[i + 1]
  elseif h[i] == 'itrCustomerId' and h[i + 1] ~= '' then bound = h[i + 1] end
end
local cand, via = '', ''
if bound then cand, via = bound, 'bound'
else
  if customer and customer ~= '' then
    local c = redis.call('hget', KEYS[5], customer)
    if c then cand, via = c, 'customer' end
  end
  if cand == '' and email and email ~= '' then
    local l = redis.call('hget', KEYS[3], email)
    if l then cand, via = l, 'email'
    else
      local i = redis.call('hget', KEYS[4], email)
      if i then cand, via = string.sub(i, 1, string.find(i, '|', 1, true) - 1), 'index' end
    end
  end
end
local cust = false
if cand ~= '' and ARGV[3] ~= '' and redis.call('set', ARGV[5] .. cand, ARGV[3], 'PX', ARGV[4], 'NX') then
  cust = { redis.call('get', ARGV[6] .. cand) or '', redis.call('get', ARGV[7] .. cand) or '',
    redis.call('hgetall', ARGV[8] .. cand) }
end
return { h, cand, via, cust }`;

type Via = 'customer' | 'email' | 'index' | 'matched' | 'bound';

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
  const k = ledgerKeys(d.keys, shop);
  const custOpts: LockOptions = { ttlMs: 60_000, waitMs: 15_000, ...d.customerLock };
  const custToken = newLockToken();
  const custTtl = custOpts.ttlMs ?? 60_000;
  const merge = opts.merge;
  const read: LockRead = {
    prelude: ORDER_LOCK_PRELUDE,
    lua: ORDER_LOCK_READ,
    keys: [
      k.order(orderId),
      k.linkEmail,
      d.keys.emailIndex(shop),
      k.linkCustomer,
      ...(merge?.call.keys ?? []),
    ],
    args: [
      custToken,
      String(custTtl),
      k.custLock(''),
      k.pending(''),
      k.uncertain(''),
      k.restoreDue(''),
      String(merge?.call.keys.length ?? 0),
      ...(merge?.call.args ?? []),
    ],
  };
  const lockKey = k.orderLock(orderId);
  const lockOpts: LockOptions = { ttlMs: 60_000, waitMs: 20_000, ...d.orderLock };
  let orderLock: Lock;
  try {
    orderLock = await acquireLock(d.redis, lockKey, lockOpts, read);
  } catch (e) {
    if (!(e instanceof LockPreludeStop) || !merge) throw e;
    const reason = await merge.compacted();
    if (reason !== undefined) return { status: 'skipped', reason, worth: 0 };
    return reconcileOrder(d, shop, client, orderId, { ...opts, merge: undefined });
  }
  const [pairs, linked, , custRead] = orderLock.read as [unknown, string, Via | '', unknown[] | null];
  // The customer's lock, when the script could take it: withCustomer goes on from it.
  const pre = {
    custLock: custRead
      ? heldLock(d.redis, k.custLock(linked), custToken, custTtl, custOpts.autoExtend !== false, [
          ...custRead,
          pairs,
        ])
      : undefined,
  };
  let out: ReconcileOutcome;
  try {
    out = await reconcileLocked(d, shop, client, orderId, opts, orderLock, pre);
  } finally {
    // Whatever the commit did not free (a skip, a failure): both in one round trip.
    await releaseLocks(d.redis, [orderLock, pre.custLock]);
  }
  if (out.status === 'applied' && out.registerOverwritten && out.itrCustomerId) {
    // Give the register's change back now. It is due durably: if this fails, the job's retry (or whoever
    // next holds the customer's lock) gives it back, and the retry reports the order's remembered outcome.
    await withCustomer(d, shop, client, out.itrCustomerId, async () => undefined, { jobId: opts.jobId });
  }
  return out;
}

/**
 * Under the order's lock: the order's customer (bound, linked, or matched by email) and its balance moved;
 * a candidate that no longer checks out is unlinked and the order matched again (at most three rounds).
 */
async function reconcileLocked(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  orderId: string,
  opts: ReconcileOptions,
  orderLock: Lock,
  /** The customer's lock the order lock's script took (handed to withCustomer, or left for the caller). */
  pre: { custLock?: Lock },
): Promise<ReconcileOutcome> {
  const [pairs, linked, via] = orderLock.read as [unknown, string, Via | ''];
  let candidate: { id: string; via: Via } | undefined =
    linked && via !== 'bound' ? { id: linked, via: via as Via } : undefined;
  let state = orderStateFromHash(hashFromPairs(pairs));
  opts.merge?.seen?.(state);
  for (let round = 0; round < 3; round++) {
    if (round > 0) state = await readOrderState(d.redis, d.keys, shop, orderId);
    const named = (o: ReconcileOutcome): ReconcileOutcome => ({ ...o, orderName: state.name });
    const w = worth(state, opts.includeTestOrders);
    let target: { id: string; via: Via } | undefined = state.itrCustomerId
      ? { id: state.itrCustomerId, via: 'bound' }
      : undefined;
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
      if (!state.email && !candidate) {
        return named({ status: 'skipped', reason: 'order has no email', worth: w });
      }
      if (candidate) {
        target = candidate;
        candidate = undefined;
      } else {
        const match = await d.matcher.findOrCreate(shop, client, {
          ...opts.customer,
          firstName: opts.customer?.firstName ?? state.buyer?.firstName,
          lastName: opts.customer?.lastName ?? state.buyer?.lastName,
          phone: opts.customer?.phone ?? state.buyer?.phone,
          email: state.email ?? '',
          shopifyCustomerId: state.shopifyCustomerId,
        });
        target = { id: match.id, via: 'matched' };
      }
    }
    const t = target;
    const k = ledgerKeys(d.keys, shop);
    const taken = pre.custLock?.key === k.custLock(t.id) ? pre.custLock : undefined;
    if (pre.custLock && !taken) await releaseLocks(d.redis, [pre.custLock]);
    pre.custLock = undefined;
    const result = await withCustomer(
      d,
      shop,
      client,
      t.id,
      (lock, hash) => applyUnderLock(d, shop, client, orderId, t, lock, opts, { hash, orderLock }),
      { orderId, jobId: opts.jobId, taken },
    ).catch((e: unknown) => {
      if (e instanceof CustomerGoneError) return 'rebind' as const;
      throw e;
    });
    if (result !== 'rebind') return named(result);
    // The candidate did not check out (an order not bound yet: nothing was applied). Unlink it and match
    // again by email, through findOrCreate.
    await d.matcher.unlinkCustomer(shop, t.id, {
      email: t.via === 'customer' ? undefined : state.email,
      shopifyCustomerId: state.shopifyCustomerId,
    });
    d.logger?.warn(
      { shop, orderId, itretailCustomerId: t.id, via: t.via },
      'IT Retail customer gone or no longer matching; matching the order again',
    );
  }
  throw new MatchError('the matched IT Retail customer kept disappearing; will try again', true);
}

async function rememberedOutcome(
  d: ReconcileDeps,
  shop: string,
  opts: ReconcileOptions,
): Promise<AppliedOutcome | undefined> {
  if (!opts.jobId || opts.mayHaveRunBefore === false) return undefined;
  const v = await d.redis.get(ledgerKeys(d.keys, shop).outcome(opts.jobId));
  return v ? (JSON.parse(v) as AppliedOutcome) : undefined;
}

async function applyUnderLock(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  orderId: string,
  target: { id: string; via: Via },
  lock: Lock,
  opts: ReconcileOptions,
  ctx: { hash?: Record<string, string>; orderLock: Lock },
): Promise<ReconcileOutcome> {
  const itrId = target.id;
  // Read with the lock (in the same round trip as taking it), or again if settling a lost write may just
  // have moved this order's ledger.
  const state = ctx.hash
    ? orderStateFromHash(ctx.hash)
    : await readOrderState(d.redis, d.keys, shop, orderId);
  if (state.itrCustomerId && state.itrCustomerId !== itrId) {
    throw new Error('order bound to another customer while waiting for the lock');
  }
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
  // No ownership check is needed before this read: the one made with the intent, right before the Put,
  // proves the lock was ours without a break since it was taken, so this read was made under it.
  const rec = await d.matcher.getOrConfirmGone(shop, client, itrId);
  if (!rec) {
    if (binding) throw new CustomerGoneError(itrId);
    return { status: 'skipped', reason: GONE_REASON, itrCustomerId: itrId, worth: w };
  }
  if (binding) {
    // The Shopify customer's own link needs a live record; an email's candidate must still carry the email.
    const ok =
      target.via === 'customer' ? rec.Deleted !== true : !!state.email && isLiveWithEmail(rec, state.email);
    if (!ok) throw new CustomerGoneError(itrId);
  } else if (rec.Deleted === true && state.appliedPoints === 0) {
    // Bound but never credited, and deleted at the register since: free to match again.
    await d.redis.hdel(d.keys.order(shop, orderId), 'itrCustomerId');
    throw new CustomerGoneError(itrId);
  }
  const r = await writePoints(d, shop, client, itrId, lock, rec, {
    kind: 'order',
    ref: orderId,
    orderId,
    orderName: state.name,
    jobId: opts.jobId,
    delta,
    bind: binding
      ? {
          order: true,
          email: state.email && isLiveWithEmail(rec, state.email) ? state.email : undefined,
          shopifyCustomerId: state.shopifyCustomerId,
        }
      : { order: false },
    release: [lock, ctx.orderLock],
    // The job's event goes with the commit, unless a register change is to be given back first.
    record: opts.record
      ? (intent, overwritten) =>
          overwritten
            ? undefined
            : opts.record?.({
                ...appliedOutcome(intent, itrId, rec.CardNo ?? undefined),
                worth: w,
                orderName: state.name,
              })
      : undefined,
  });
  return {
    ...appliedOutcome(r.intent, itrId, rec.CardNo ?? undefined),
    worth: w,
    registerOverwritten: r.overwritten || undefined,
    recorded: r.recorded,
  };
}
