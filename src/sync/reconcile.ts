import { AppError } from '../errors.js';
import { hashFromPairs } from '../store/redis.js';
import { appliedOutcome, type CustomerWriteDeps, withCustomer, writePoints } from './customer-writes.js';
import { MatchError } from './email-index.js';
import { ledgerKeys } from './ledger.js';
import { type Lock, type LockOptions, releaseLocks } from './locks.js';
import { isLiveWithEmail, type MatchInput, type SyncClient } from './matching.js';
import { type OrderMerge, takeOrderLock, type Via } from './order-lock.js';
import { orderStateFromHash, readOrderState } from './order-state.js';
import { type OrderState, worth, worthBasis } from './points.js';
import type { StagedRecord } from './staged-writes.js';
import type { PendingIntent } from './write-evidence.js';

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
   * The digest of the shop's settings the job decided on (SETTINGS_DIGEST_LUA): the order lock's script
   * checks it first (see takeOrderLock). Undefined: no check.
   */
  settingsDigest?: string;
  /**
   * The job's sync event for an outcome, written in the same transaction as the ledger commit that makes
   * it true (one round trip for both); undefined to leave the recording to the caller.
   */
  record?(o: ReconcileOutcome): StagedRecord | undefined;
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
  const taken = await takeOrderLock(d, shop, orderId, opts.merge, opts.settingsDigest);
  if (taken === 'compacted') {
    const reason = await opts.merge?.compacted();
    if (reason !== undefined) return { status: 'skipped', reason, worth: 0 };
    return reconcileOrder(d, shop, client, orderId, { ...opts, merge: undefined });
  }
  const { orderLock } = taken;
  const pre = { custLock: taken.custLock };
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
    const taken = await handOver(d, pre, ledgerKeys(d.keys, shop).custLock(t.id));
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

/** The customer lock the order lock's script took, when it is `key`'s (else it is freed): once. */
async function handOver(d: ReconcileDeps, pre: { custLock?: Lock }, key: string): Promise<Lock | undefined> {
  const lock = pre.custLock;
  pre.custLock = undefined;
  if (lock?.key === key) return lock;
  if (lock) await releaseLocks(d.redis, [lock]);
  return undefined;
}

/** The job's event, to go with the commit; none when a register change is to be given back first. */
function eventWithCommit(
  opts: ReconcileOptions,
  itrId: string,
  cardNo: string | undefined,
  w: number,
  orderName: string | undefined,
): ((intent: PendingIntent, overwritten: number) => StagedRecord | undefined) | undefined {
  const record = opts.record;
  if (!record) return undefined;
  return (intent, overwritten) =>
    overwritten ? undefined : record({ ...appliedOutcome(intent, itrId, cardNo), worth: w, orderName });
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
    record: eventWithCommit(opts, itrId, rec.CardNo ?? undefined, w, state.name),
  });
  return {
    ...appliedOutcome(r.intent, itrId, rec.CardNo ?? undefined),
    worth: w,
    registerOverwritten: r.overwritten || undefined,
    recorded: r.recorded,
  };
}
