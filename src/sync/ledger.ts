import type { Redis } from 'ioredis';
import { AppError, type Deferral } from '../errors.js';
import type { Keys } from '../store/keys.js';
import { evalScript } from '../store/redis.js';
import type { Lock } from './locks.js';
import { evalThenWrites, type StagedRecord } from './staged-writes.js';
import type { PendingIntent, UncertainWrite } from './write-evidence.js';

/**
 * The points ledger's durable steps, each one Lua script so it is atomic (and, keyed by the shop, within one
 * hash slot). Per IT Retail customer: at most one `pending` write (its intent, written right before the Put)
 * and at most one `uncertain` write (one nobody could decide; the customer is not written until a person
 * does). Per write: a marker, `counted` once the write is in an order's ledger (whoever confirms it first:
 * the job that got the Put's 200, the next holder of the lock from evidence, or a person), `void` once it was
 * judged not landed. The marker makes counting idempotent: a 200 that arrives after the next holder already
 * counted the write changes nothing, and one that arrives after the pending key was lost still counts.
 */

/** A write's marker outlives any answer that could still arrive for it. */
const MARKER_TTL_S = 30 * 86_400;

/** The keys of one shop the write protocol uses together (the named keys of store/keys.ts). */
export const ledgerKeys = (keys: Keys, shop: string) => ({
  pending: (itrId: string) => keys.pending(shop, itrId),
  uncertain: (itrId: string) => keys.uncertain(shop, itrId),
  uncertainIndex: keys.uncertainWrites(shop),
  held: (itrId: string) => keys.held(shop, itrId),
  marker: (writeId: string) => keys.writeMarker(shop, writeId),
  restoreDue: (itrId: string) => keys.restoreDue(shop, itrId),
  outcome: (jobId: string) => keys.jobOutcome(shop, jobId),
  order: (orderId: string) => keys.order(shop, orderId),
  custLock: (itrId: string) => keys.customerLock(shop, itrId),
  orderLock: (orderId: string) => keys.orderLock(shop, orderId),
  linkEmail: keys.linkEmail(shop),
  linkCustomer: keys.linkCustomer(shop),
  /** A storefront redemption (ref `<Shopify customer>:<key>`): its hash carries the points it took. */
  redemption: (ref: string) => keys.redemption(shop, ref),
  /** Shopify customer → balance the `$app.loyalty_points` metafield still has to get (see metafields.ts). */
  metafieldDirty: keys.metafieldDirty(shop),
  /** IT Retail id → the Shopify customer whose metafield shows its balance. */
  metafieldOwner: keys.metafieldOwner(shop),
});

/** The hash a write's ledger change lands in: its order's, its redemption's, else none (a restore). */
const ledgerHashOf = (k: ReturnType<typeof ledgerKeys>, i: PendingIntent, itrId: string) =>
  i.orderId ? k.order(i.orderId) : i.kind === 'redeem' ? k.redemption(i.ref) : k.pending(itrId);

/** A job cannot write to this customer: one of its writes waits for a person's decision. */
export class AwaitingDecisionError extends AppError {
  override readonly code = 'AWAITING_DECISION' as const;
  constructor(
    readonly itrId: string,
    readonly own: boolean,
  ) {
    super(
      own
        ? 'IT Retail may or may not have applied this change; decide it under Failures (It landed / Apply it)'
        : 'an earlier write to this IT Retail customer is uncertain; once it is decided under Failures, this runs again',
      { retryable: false },
    );
  }
}

/** A lost write's Put may still be in flight: nobody judges it before `untilMs`. */
export class WriteInFlightError extends AppError {
  override readonly code = 'WRITE_IN_FLIGHT' as const;
  constructor(readonly untilMs: number) {
    super('an earlier write to this IT Retail customer may still be in flight; checking it once it is over', {
      retryable: true,
    });
  }
  /** Put back until the Put can no longer be on its way. */
  override get deferral(): Deferral {
    return { ms: Math.max(50, this.untilMs - Date.now()) };
  }
}

/**
 * Writes the intent only while `lock` is still ours (renewing it), and only when the customer has no other
 * pending or uncertain write. 1: written; 0: the lock is lost; -1: another write is unsettled.
 * KEYS: lock, pending, uncertain, order, link:email, link:customer.
 * ARGV: token, ttl, intent, itrId, email to link, Shopify customer to link, '1' to bind the order.
 */
const WRITE_INTENT = `
if redis.call('get', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('pexpire', KEYS[1], ARGV[2])
if redis.call('exists', KEYS[2]) == 1 or redis.call('exists', KEYS[3]) == 1 then return -1 end
redis.call('set', KEYS[2], ARGV[3])
if ARGV[7] == '1' then redis.call('hset', KEYS[4], 'itrCustomerId', ARGV[4]) end
if ARGV[5] ~= '' then redis.call('hset', KEYS[5], ARGV[5], ARGV[4]) end
if ARGV[6] ~= '' then redis.call('hset', KEYS[6], ARGV[6], ARGV[4]) end
return 1`;

/**
 * Counts a write once: 1 counted now, 2 counted now although it had been judged not landed (its 200 is the
 * stronger evidence), 0 already counted. Settles its pending or uncertain record either way, remembers the
 * job's outcome, records a register change to give back (even when already counted: only the Put's own
 * answer can show one), frees the locks whose tokens are given.
 * A counted write also marks the customer's `$app.loyalty_points` metafield due with the new balance (the
 * Shopify customer from the order or redemption, else the one last seen for this IT Retail id).
 * KEYS: marker, order (or redemption), pending, uncertain, uncertain index, outcome, customer lock, order
 * lock, restore-due, metafield dirty, metafield owner.
 * ARGV: write id, kind, delta, itrId, outcome JSON or '', outcome TTL, customer lock token or '', order lock
 * token or '', marker TTL, amount to restore, ref (the restored write), points after.
 */
const COMMIT = `
local prev = redis.call('get', KEYS[1])
local counted = 0
if prev ~= 'counted' then
  redis.call('set', KEYS[1], 'counted', 'EX', ARGV[9])
  if prev == 'void' then counted = 2 else counted = 1 end
  local cust = false
  if ARGV[2] ~= 'restore' then
    redis.call('hincrby', KEYS[2], 'appliedPoints', ARGV[3])
    redis.call('hset', KEYS[2], 'itrCustomerId', ARGV[4])
    cust = redis.call('hget', KEYS[2], 'shopifyCustomerId')
  else
    redis.call('hdel', KEYS[9], ARGV[11])
  end
  if cust and cust ~= '' then redis.call('hset', KEYS[11], ARGV[4], cust)
  else cust = redis.call('hget', KEYS[11], ARGV[4]) end
  if cust and cust ~= '' then redis.call('hset', KEYS[10], cust, ARGV[12]) end
end
-- Only this write's 200 tells what it wrote over (from evidence it is 0): due even if already counted.
if tonumber(ARGV[10]) ~= 0 then redis.call('hset', KEYS[9], ARGV[1], ARGV[10]) end
local p = redis.call('get', KEYS[3])
if p and cjson.decode(p).id == ARGV[1] then redis.call('del', KEYS[3]) end
local u = redis.call('get', KEYS[4])
if u and cjson.decode(u).intent.id == ARGV[1] then
  redis.call('del', KEYS[4])
  redis.call('zrem', KEYS[5], ARGV[4])
end
if ARGV[5] ~= '' then redis.call('set', KEYS[6], ARGV[5], 'EX', ARGV[6]) end
if ARGV[7] ~= '' and redis.call('get', KEYS[7]) == ARGV[7] then redis.call('del', KEYS[7]) end
if ARGV[8] ~= '' and redis.call('get', KEYS[8]) == ARGV[8] then redis.call('del', KEYS[8]) end
return counted`;

/** Judged not landed: drops the pending write and marks it void. KEYS: marker, pending. ARGV: id, TTL. */
const DISCARD = `
local p = redis.call('get', KEYS[2])
if not p or cjson.decode(p).id ~= ARGV[1] then return 0 end
redis.call('del', KEYS[2])
redis.call('set', KEYS[1], 'void', 'NX', 'EX', ARGV[2])
return 1`;

/**
 * Undecidable: the pending write becomes the customer's uncertain write. KEYS: marker, pending, uncertain,
 * index. ARGV: id, uncertain JSON, itrId, score (ms).
 */
const MARK_UNCERTAIN = `
local p = redis.call('get', KEYS[2])
if not p or cjson.decode(p).id ~= ARGV[1] then return 0 end
if redis.call('get', KEYS[1]) == 'counted' then redis.call('del', KEYS[2]) return 0 end
redis.call('del', KEYS[2])
redis.call('set', KEYS[3], ARGV[2])
redis.call('zadd', KEYS[4], ARGV[4], ARGV[3])
return 1`;

/** The writer saw its Put end without an answer. KEYS: pending. ARGV: id, now (ms). */
const MARK_ENDED = `
local p = redis.call('get', KEYS[1])
if not p then return 0 end
local o = cjson.decode(p)
if o.id ~= ARGV[1] then return 0 end
o.endedAt = tonumber(ARGV[2])
redis.call('set', KEYS[1], cjson.encode(o))
return 1`;

/**
 * A person's decision on an uncertain write, once: 1 done, 0 already decided (or not this write).
 * KEYS: uncertain, index, marker, order, restore-due. ARGV: id, 'landed' | 'apply', itrId, marker TTL, kind,
 * delta, ref.
 */
const DECIDE = `
local u = redis.call('get', KEYS[1])
if not u or cjson.decode(u).intent.id ~= ARGV[1] then return 0 end
redis.call('del', KEYS[1])
redis.call('zrem', KEYS[2], ARGV[3])
if ARGV[2] == 'landed' then
  if redis.call('get', KEYS[3]) ~= 'counted' then
    redis.call('set', KEYS[3], 'counted', 'EX', ARGV[4])
    if ARGV[5] ~= 'restore' then
      redis.call('hincrby', KEYS[4], 'appliedPoints', ARGV[6])
      redis.call('hset', KEYS[4], 'itrCustomerId', ARGV[3])
    else
      redis.call('hdel', KEYS[5], ARGV[7])
    end
  end
else
  redis.call('set', KEYS[3], 'void', 'NX', 'EX', ARGV[4])
end
return 1`;

export class Ledger {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  k(shop: string) {
    return ledgerKeys(this.keys, shop);
  }

  /** 1 written, 0 lock lost, -1 another write unsettled. */
  async writeIntent(
    shop: string,
    lock: Lock,
    intent: PendingIntent,
    itrId: string,
    bind: { order: boolean; email?: string; shopifyCustomerId?: string },
  ): Promise<number> {
    const k = this.k(shop);
    const orderKey = intent.orderId ? k.order(intent.orderId) : k.pending(itrId);
    return (await evalScript(
      this.redis,
      WRITE_INTENT,
      6,
      lock.key,
      k.pending(itrId),
      k.uncertain(itrId),
      orderKey,
      k.linkEmail,
      k.linkCustomer,
      lock.token,
      String(lock.ttlMs),
      JSON.stringify(intent),
      itrId,
      bind.email ?? '',
      bind.shopifyCustomerId ?? '',
      bind.order ? '1' : '',
    )) as number;
  }

  /** 1 counted now, 2 counted though judged not landed before, 0 already counted. */
  async commit(
    shop: string,
    itrId: string,
    intent: PendingIntent,
    opts: {
      outcome?: string;
      outcomeTtlS: number;
      release?: Lock[];
      restore?: number;
      /** Written in the same MULTI as the commit. */
      alongside?: StagedRecord;
    },
  ): Promise<number> {
    const k = this.k(shop);
    const custLock = opts.release?.find((l) => l.key === k.custLock(itrId));
    const orderLock = opts.release?.find((l) => l !== custLock);
    const r = (await this.evalWith(
      opts.alongside,
      COMMIT,
      11,
      k.marker(intent.id),
      ledgerHashOf(k, intent, itrId),
      k.pending(itrId),
      k.uncertain(itrId),
      k.uncertainIndex,
      k.outcome(intent.jobId ?? '-'),
      k.custLock(itrId),
      orderLock?.key ?? k.pending(itrId),
      k.restoreDue(itrId),
      k.metafieldDirty,
      k.metafieldOwner,
      intent.id,
      intent.kind,
      String(intent.delta),
      itrId,
      intent.jobId && opts.outcome ? opts.outcome : '',
      String(opts.outcomeTtlS),
      custLock?.token ?? '',
      orderLock?.token ?? '',
      String(MARKER_TTL_S),
      String(opts.restore ?? 0),
      intent.ref,
      String(intent.after),
    )) as number;
    for (const l of [custLock, orderLock]) l?.releasedByScript();
    return r;
  }

  /** A script alone, or followed in the same script by the writes `alongside` stages: one round trip. */
  private evalWith(alongside: StagedRecord | undefined, script: string, numKeys: number, ...args: string[]) {
    if (!alongside) return evalScript(this.redis, script, numKeys, ...args);
    return evalThenWrites(this.redis, alongside, script, numKeys, ...args);
  }

  async discard(shop: string, itrId: string, intent: PendingIntent): Promise<boolean> {
    const k = this.k(shop);
    return (
      (await evalScript(
        this.redis,
        DISCARD,
        2,
        k.marker(intent.id),
        k.pending(itrId),
        intent.id,
        String(MARKER_TTL_S),
      )) === 1
    );
  }

  async markUncertain(shop: string, u: UncertainWrite): Promise<boolean> {
    const k = this.k(shop);
    const r = await evalScript(
      this.redis,
      MARK_UNCERTAIN,
      4,
      k.marker(u.intent.id),
      k.pending(u.itrCustomerId),
      k.uncertain(u.itrCustomerId),
      k.uncertainIndex,
      u.intent.id,
      JSON.stringify(u),
      u.itrCustomerId,
      String(Date.parse(u.at) || Date.now()),
    );
    return r === 1;
  }

  async markEnded(shop: string, itrId: string, writeId: string): Promise<void> {
    await evalScript(this.redis, MARK_ENDED, 1, this.k(shop).pending(itrId), writeId, String(Date.now()));
  }

  /** Jobs waiting for the customer's uncertain write to be decided (retried when it is). */
  async hold(shop: string, itrId: string, jobId: string | undefined): Promise<void> {
    if (jobId) await this.redis.sadd(this.k(shop).held(itrId), jobId);
  }

  async uncertainCount(shop: string): Promise<number> {
    return this.redis.zcard(this.k(shop).uncertainIndex);
  }

  async listUncertain(shop: string, limit = 100): Promise<UncertainWrite[]> {
    const k = this.k(shop);
    const ids = await this.redis.zrange(k.uncertainIndex, 0, limit - 1);
    if (ids.length === 0) return [];
    const raws = await this.redis.mget(ids.map((id) => k.uncertain(id)));
    return raws.filter((r): r is string => !!r).map((r) => JSON.parse(r) as UncertainWrite);
  }

  async getUncertain(shop: string, itrId: string): Promise<UncertainWrite | undefined> {
    const raw = await this.redis.get(this.k(shop).uncertain(itrId));
    return raw ? (JSON.parse(raw) as UncertainWrite) : undefined;
  }

  /**
   * Applies a person's decision once. Returns the jobs to run again (the held ones and the write's own), or
   * undefined when the write was already decided (or is not the customer's uncertain write any more).
   */
  async decide(
    shop: string,
    itrId: string,
    writeId: string,
    decision: 'landed' | 'apply',
  ): Promise<string[] | undefined> {
    const k = this.k(shop);
    const u = await this.getUncertain(shop, itrId);
    if (!u || u.intent.id !== writeId) return undefined;
    const i = u.intent;
    const done = await evalScript(
      this.redis,
      DECIDE,
      5,
      k.uncertain(itrId),
      k.uncertainIndex,
      k.marker(writeId),
      i.orderId || i.kind === 'redeem' ? ledgerHashOf(k, i, itrId) : k.uncertain(itrId),
      k.restoreDue(itrId),
      writeId,
      decision,
      itrId,
      String(MARKER_TTL_S),
      i.kind,
      String(i.delta),
      i.ref,
    );
    if (done !== 1) return undefined;
    const [[, held]] = (await this.redis.multi().smembers(k.held(itrId)).del(k.held(itrId)).exec()) as [
      [Error | null, string[]],
      unknown,
    ];
    return [...new Set([...(i.jobId ? [i.jobId] : []), ...(held ?? [])])];
  }
}
