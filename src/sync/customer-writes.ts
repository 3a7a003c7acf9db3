import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CustomerRecord } from '../itretail/schemas.js';
import type { Keys } from '../store/keys.js';
import { hashFromPairs } from '../store/redis.js';
import { pooledRandomBytes } from './entropy.js';
import { AwaitingDecisionError, Ledger, WriteInFlightError } from './ledger.js';
import { acquireLock, type Lock, LockLostError, type LockOptions, type LockRead } from './locks.js';
import type { CustomerMatcher, SyncClient } from './matching.js';
import type { StagedRecord } from './staged-writes.js';
import {
  judgeWrite,
  matchingManualOps,
  overwrittenByPut,
  type PendingIntent,
  pointsOf,
} from './write-evidence.js';

/**
 * Every points write to an IT Retail customer: GetOne → change LoyaltyPoints → Put the whole record, under
 * the customer's lock, with a durable intent written right before the Put. Whoever next holds the lock first
 * settles a write whose answer was lost (from evidence, see write-evidence.ts), then gives back any register
 * change a Put overwrote, and only then writes anything of its own.
 */

export interface CustomerWriteDeps {
  redis: Redis;
  keys: Keys;
  matcher: CustomerMatcher;
  logger?: Logger;
  /** Per-IT-Retail-customer lock (default ttl 60 s, wait 15 s). The TTL must outlast one IT Retail call. */
  customerLock?: LockOptions;
  /**
   * How long a Put may still be in flight after its intent was written (its request timeouts and a margin;
   * default 35 000 ms). A lost write is judged only after that, unless its writer saw it end.
   */
  writeInFlightMs?: number;
  /** How long a job's outcome is remembered for its retries (default 14 days). */
  outcomeTtlSeconds?: number;
  /** Told once per register change given back (the processor records it as an event of its own). */
  onRegisterRestored?(shop: string, r: RegisterRestore): Promise<void>;
  /**
   * Told after a write was counted (its commit already marked the customer's metafield due): starts the
   * shop's metafield sync. Must not throw or wait (see storefront/metafields.ts).
   */
  onBalanceChanged?(shop: string): void;
}

interface RegisterRestore {
  itrCustomerId: string;
  cardNo?: string;
  amount: number;
  pointsBefore: number;
  pointsAfter: number;
  /** The write that overwrote the register's change. */
  ref: string;
  orderId?: string;
}

const newWriteId = () => pooledRandomBytes(9).toString('base64url');

const ledgerOf = (d: CustomerWriteDeps) => new Ledger(d.redis, d.keys);
const outcomeTtlOf = (d: CustomerWriteDeps) => d.outcomeTtlSeconds ?? 14 * 86_400;

/** An undecidable write as it is kept for a person: what was meant, and what the record showed. */
const uncertainOf = (intent: PendingIntent, itrId: string, seen: CustomerRecord, why: string) => ({
  intent,
  itrCustomerId: itrId,
  observed: { points: pointsOf(seen), modified: seen.Modified ?? null },
  why,
  at: new Date().toISOString(),
});

/** Run right after the customer lock is taken: pending write, uncertain write, register changes to give back, order hash. */
const CUSTOMER_LOCK_READ = `
local pending = redis.call('get', KEYS[2]) or ''
local uncertain = redis.call('get', KEYS[3]) or ''
local due = redis.call('hgetall', KEYS[4])
local h = {}
if KEYS[5] then h = redis.call('hgetall', KEYS[5]) end
return { pending, uncertain, due, h }`;

/**
 * Runs fn holding the customer's lock, after settling what an earlier holder left. fn gets the order's hash
 * read with the lock (when `orderId` is given) unless settling may have moved it: then undefined.
 * Throws AwaitingDecisionError while the customer has an uncertain write (the job is held and run again once
 * a person decides), WriteInFlightError while an earlier Put may still be on its way.
 * `taken`: the customer's lock, already taken by the caller's own script with CUSTOMER_LOCK_READ's answer as
 * its `read` (see reconcile.ts); it is released here like one taken here.
 */
export async function withCustomer<T>(
  d: CustomerWriteDeps,
  shop: string,
  client: SyncClient,
  itrId: string,
  fn: (lock: Lock, orderHash?: Record<string, string>) => Promise<T>,
  opts: { orderId?: string; jobId?: string; taken?: Lock } = {},
): Promise<T> {
  const ledger = ledgerOf(d);
  const k = ledger.k(shop);
  const read: LockRead = {
    lua: CUSTOMER_LOCK_READ,
    keys: [
      k.pending(itrId),
      k.uncertain(itrId),
      k.restoreDue(itrId),
      ...(opts.orderId ? [k.order(opts.orderId)] : []),
    ],
  };
  const lockOpts: LockOptions = { ttlMs: 60_000, waitMs: 15_000, ...d.customerLock };
  const lock = opts.taken ?? (await acquireLock(d.redis, k.custLock(itrId), lockOpts, read));
  try {
    const [pending, uncertain, due, pairs] = lock.read as [string, string, string[], string[]];
    if (uncertain) {
      await ledger.hold(shop, itrId, opts.jobId);
      const own = (JSON.parse(uncertain) as { intent: PendingIntent }).intent.jobId === opts.jobId;
      throw new AwaitingDecisionError(itrId, own && !!opts.jobId);
    }
    let fresh = true;
    let owed = due;
    if (pending) {
      await settleWrite(d, shop, client, itrId, pending, opts.jobId);
      fresh = false;
      // Settling may have counted (and so cleared) a give-back that was on its way.
      if (owed.length > 0) owed = flat(await d.redis.hgetall(k.restoreDue(itrId)));
    }
    if (owed.length > 0) {
      await restoreRegisterChanges(d, shop, client, itrId, lock, owed, opts.jobId);
      fresh = false;
    }
    return await fn(lock, fresh && opts.orderId ? hashFromPairs(pairs) : undefined);
  } finally {
    await lock.release().catch(() => false);
  }
}

const flat = (h: Record<string, string>) => Object.entries(h).flat();

/** Decides a write whose answer was lost: landed (counted once), not landed (dropped), or uncertain. */
async function settleWrite(
  d: CustomerWriteDeps,
  shop: string,
  client: SyncClient,
  itrId: string,
  raw: string,
  jobId: string | undefined,
): Promise<void> {
  const ledger = ledgerOf(d);
  const intent = JSON.parse(raw) as PendingIntent;
  if (!intent.endedAt && Date.now() < intent.inFlightUntil)
    throw new WriteInFlightError(intent.inFlightUntil);
  const log = { shop, itretailCustomerId: itrId, writeId: intent.id, orderId: intent.orderId };
  const rec = await d.matcher.getOrConfirmGone(shop, client, itrId);
  if (!rec) {
    // Landed or not, its points went with the record; what the order applied stays in its ledger.
    await ledger.discard(shop, itrId, intent);
    d.logger?.warn(log, 'lost write to a customer confirmed gone: dropped');
    return;
  }
  const j = judgeWrite(intent, rec);
  if (j.verdict === 'landed') {
    const counted = await ledger.commit(shop, itrId, intent, {
      outcome: JSON.stringify(appliedOutcome(intent, itrId, rec.CardNo ?? undefined)),
      outcomeTtlS: outcomeTtlOf(d),
    });
    if (counted) d.onBalanceChanged?.(shop);
    if (counted && intent.kind === 'restore') await announceRestore(d, shop, itrId, intent, rec);
    const { before, after } = intent;
    d.logger?.info({ ...log, before, after, why: j.why }, 'lost write found applied');
  } else if (j.verdict === 'not-landed') {
    await ledger.discard(shop, itrId, intent);
    d.logger?.info({ ...log, why: j.why }, 'lost write found not applied');
  } else {
    await ledger.markUncertain(shop, uncertainOf(intent, itrId, rec, j.why));
    await ledger.hold(shop, itrId, jobId);
    d.logger?.warn({ ...log, why: j.why }, 'lost write cannot be decided: waiting for a person');
    throw new AwaitingDecisionError(itrId, intent.jobId === jobId && !!jobId);
  }
}

/** The outcome a job reports for a write counted in its order's ledger. */
export function appliedOutcome(intent: PendingIntent, itrId: string, cardNo: string | undefined) {
  return {
    status: 'applied' as const,
    itrCustomerId: itrId,
    cardNo,
    pointsBefore: intent.before,
    pointsDelta: intent.after - intent.before,
    pointsAfter: intent.after,
    shortfall: intent.shortfall,
    worth: Number.NaN,
  };
}

export interface WriteRequest {
  kind: PendingIntent['kind'];
  ref: string;
  orderId?: string;
  orderName?: string;
  jobId?: string;
  delta: number;
  /** Binds the order to the customer and links these to it, atomically with the intent. */
  bind?: { order: boolean; email?: string; shopifyCustomerId?: string };
  /** Locks the commit frees (the customer's, the order's); none keeps the lock held. */
  release?: Lock[];
  /**
   * A record (the job's sync event) to write in the same transaction as the commit, given what was written
   * and any register change the Put overwrote; undefined for none.
   */
  record?(intent: PendingIntent, overwritten: number): StagedRecord | undefined;
}

export interface WriteResult {
  intent: PendingIntent;
  answer: CustomerRecord;
  /** 0 when the write had already been counted (by the next holder of the lock, from evidence). */
  counted: number;
  /** A register change this Put overwrote, now due to be given back (counted or not). */
  overwritten: number;
  /** What `record` staged, written with the commit. */
  recorded?: unknown;
}

/** The intent of moving `rec`'s points by `req.delta` (never below 0), written before the Put. */
function pointsIntent(d: CustomerWriteDeps, rec: CustomerRecord, req: WriteRequest): PendingIntent {
  const before = pointsOf(rec);
  const raw = before + req.delta;
  const after = Math.max(0, raw);
  const now = Date.now();
  const intent: PendingIntent = {
    id: newWriteId(),
    kind: req.kind,
    ref: req.ref,
    orderId: req.orderId,
    orderName: req.orderName,
    jobId: req.jobId,
    delta: req.delta,
    before,
    after,
    shortfall: raw < 0 ? -raw : 0,
    matchingOpsBefore: matchingManualOps(rec, after),
    modifiedBefore: rec.Modified ?? null,
    at: new Date(now).toISOString(),
    inFlightUntil: now + (d.writeInFlightMs ?? 35_000),
  };
  return intent;
}

/**
 * Puts `rec` back with its points moved by `req.delta` (never below 0), exactly once. `rec` must have been
 * read under `lock`: the intent is written only while the lock is still ours, right before the Put.
 */
export async function writePoints(
  d: CustomerWriteDeps,
  shop: string,
  client: SyncClient,
  itrId: string,
  lock: Lock,
  rec: CustomerRecord,
  req: WriteRequest,
): Promise<WriteResult> {
  const ledger = ledgerOf(d);
  const intent = pointsIntent(d, rec, req);
  const { before, after } = intent;
  const outcomeTtlS = outcomeTtlOf(d);
  const outcome = JSON.stringify(appliedOutcome(intent, itrId, rec.CardNo ?? undefined));
  if (after === before) {
    // Nothing to send (a deduction from a balance already at 0): the ledger still moves, the shortfall is kept.
    await lock.ensure();
    const alongside = req.record?.(intent, 0);
    const opts = { outcome, outcomeTtlS, release: req.release, alongside };
    const counted = await ledger.commit(shop, itrId, intent, opts);
    return { intent, answer: rec, counted, overwritten: 0, recorded: alongside?.value };
  }
  const wrote = await ledger.writeIntent(shop, lock, intent, itrId, req.bind ?? { order: false });
  if (wrote === 0) throw new LockLostError(lock.key);
  if (wrote !== 1) throw new Error('an earlier write to this IT Retail customer is still unsettled');
  let answer: CustomerRecord;
  try {
    answer = await client.updateCustomer({ ...rec, LoyaltyPoints: after });
  } catch (e) {
    // Our side of the Put is over: the next holder need not wait out its in-flight window.
    await ledger.markEnded(shop, itrId, intent.id).catch(() => undefined);
    throw e;
  }
  if (pointsOf(answer) !== after) {
    // The service says the record holds other points than we sent: what landed is not ours to guess.
    const why = `IT Retail answered the write with ${pointsOf(answer)} points, not the ${after} written`;
    await ledger.markUncertain(shop, uncertainOf(intent, itrId, answer, why));
    await ledger.hold(shop, itrId, req.jobId);
    throw new AwaitingDecisionError(itrId, !!req.jobId);
  }
  const overwritten = overwrittenByPut(intent, answer);
  const alongside = req.record?.(intent, overwritten);
  const counted = await ledger.commit(shop, itrId, intent, {
    outcome,
    outcomeTtlS,
    release: req.release,
    restore: overwritten,
    alongside,
  });
  afterCommit(d, shop, itrId, intent, counted, overwritten);
  if (counted && req.kind === 'restore') await announceRestore(d, shop, itrId, intent, answer);
  return { intent, answer, counted, overwritten, recorded: alongside?.value };
}

/** After a Put's commit: the metafield hook for a counted write, and what the count says in the log. */
function afterCommit(
  d: CustomerWriteDeps,
  shop: string,
  itrId: string,
  intent: PendingIntent,
  counted: number,
  overwritten: number,
): void {
  if (counted) d.onBalanceChanged?.(shop);
  const log = { shop, itretailCustomerId: itrId, writeId: intent.id, orderId: intent.orderId };
  if (counted === 0) d.logger?.warn(log, 'write confirmed after the next holder had already counted it');
  if (counted === 2) d.logger?.error(log, 'write confirmed by IT Retail after it had been judged not landed');
  if (counted && overwritten) {
    d.logger?.warn({ ...log, overwritten }, 'the register changed points between our read and our write');
  }
}

/**
 * After a Put that meant to leave the points alone (a customer's names or email): a loyalty operation in
 * its answer means the register changed the points between our GetOne and our Put, and our Put put them
 * back. That amount is given back now, under the same lock (and stays due if this fails).
 */
export async function giveBackOverwrite(
  d: CustomerWriteDeps,
  shop: string,
  client: SyncClient,
  itrId: string,
  lock: Lock,
  sent: CustomerRecord,
  answer: CustomerRecord,
  jobId?: string,
): Promise<void> {
  const p = pointsOf(sent);
  const amount = overwrittenByPut({ before: p, after: p }, answer);
  if (!amount) return;
  const ref = newWriteId();
  const key = ledgerOf(d).k(shop).restoreDue(itrId);
  await d.redis.hset(key, ref, String(amount));
  d.logger?.warn(
    { shop, itretailCustomerId: itrId, overwritten: amount },
    'the register changed points during a customer update',
  );
  await restoreRegisterChanges(d, shop, client, itrId, lock, [ref, String(amount)], jobId);
}

/**
 * Gives back register changes earlier Puts overwrote (each once; `due` is the restore-due hash as pairs).
 * A give-back's own Put may write over one too: that is given back in turn (up to 20 in one hold, any more
 * stay due for the next holder), not left waiting for a later job that may never come for this customer.
 */
async function restoreRegisterChanges(
  d: CustomerWriteDeps,
  shop: string,
  client: SyncClient,
  itrId: string,
  lock: Lock,
  due: string[],
  jobId: string | undefined,
): Promise<void> {
  const todo: [string, number][] = [];
  for (let i = 0; i + 1 < due.length; i += 2) todo.push([due[i]!, Number(due[i + 1])]);
  for (let n = 0; todo.length > 0 && n < 20; n++) {
    const [ref, delta] = todo.shift()!;
    const rec = await d.matcher.getOrConfirmGone(shop, client, itrId);
    if (!rec) {
      await d.redis.hdel(ledgerOf(d).k(shop).restoreDue(itrId), ref);
      continue;
    }
    const r = await writePoints(d, shop, client, itrId, lock, rec, { kind: 'restore', ref, delta, jobId });
    if (r.overwritten) todo.push([r.intent.id, r.overwritten]);
  }
}

async function announceRestore(
  d: CustomerWriteDeps,
  shop: string,
  itrId: string,
  intent: PendingIntent,
  rec: CustomerRecord,
): Promise<void> {
  d.logger?.info({ shop, itretailCustomerId: itrId, amount: intent.delta }, 'register change restored');
  await d
    .onRegisterRestored?.(shop, {
      itrCustomerId: itrId,
      cardNo: rec.CardNo ?? undefined,
      amount: intent.delta,
      pointsBefore: intent.before,
      pointsAfter: intent.after,
      ref: intent.ref,
      orderId: intent.orderId,
    })
    .catch((err: unknown) => d.logger?.warn({ err, shop }, 'recording a restored register change failed'));
}
