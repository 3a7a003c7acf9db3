import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AdminJobData } from '../queue/jobs.js';
import type { SyncQueues } from '../queue/shards.js';
import {
  type LoyaltyAdmin,
  ShopifyThrottledError,
  ShopifyUnavailableError,
} from '../shopify/loyalty-documents.js';
import type { Keys } from '../store/keys.js';
import { withCustomer, writePoints } from '../sync/customer-writes.js';
import type { JobOutcome, ProcessorContext } from '../sync/jobs/types.js';
import { ledgerKeys } from '../sync/ledger.js';
import { pointsOf } from '../sync/write-evidence.js';
import { pointsValue, type RedemptionRules } from './redemption-rules.js';

/**
 * Redeeming points for a discount code, exactly once per (shop, Shopify customer, key).
 *
 * The app proxy records the redemption (`redemption:<customer>:<key>`, a hash created once) and queues a
 * `redeem` job with an id made of the same three, so a double click, a retried request or a second web
 * process all end in the one job. The worker then, like every points write:
 *   1. takes the points: GetOne → Put with `points` fewer, under the customer's lock, through writePoints
 *      (intent, evidence, ledger). The redemption's hash is its ledger (`appliedPoints`, moved only by the
 *      commit script, once per write), so a retry takes only what is still missing; a balance below the
 *      points refuses it with nothing changed. A lost answer is judged like any write's; one nobody can
 *      decide waits for a person under Failures, and the job runs again after the decision;
 *   2. creates the code (discountCodeBasicCreate: that customer only, one use, the shop's currency, ending
 *      after the shop's code lifetime). The code is chosen and saved before it is sent, so a lost answer
 *      is looked up by code instead of guessed;
 *   3. if the code cannot be created (userErrors, THROTTLED past the retries, a 5xx and no such code found)
 *      the points are given back by the same path — the ledger back to 0 — and the shopper told so.
 * A `redemption-expiry` job at the code's end reads its use (asyncUsageCount) and, unused and when the shop
 * gives points back, deactivates it and gives the points back once.
 */

export type RedemptionStatus =
  | 'pending'
  | 'issued'
  | 'refused'
  | 'returning'
  | 'failed'
  | 'returned'
  | 'used'
  | 'expired';

export interface Redemption {
  ref: string;
  key: string;
  customerId: string;
  points: number;
  /** Decimal string in the currency (e.g. "5.00"). */
  value: string;
  currency: string;
  status: RedemptionStatus;
  createdAt: string;
  /** When the code ends (set when the redemption is made). */
  expiresAt: string;
  lifetimeDays: number;
  giveBack: boolean;
  code?: string;
  discountId?: string;
  itrCustomerId?: string;
  /** The balance after the points were taken (or given back). */
  balanceAfter?: number;
  /** Points the redemption holds now (−points once taken, 0 once given back). */
  applied: number;
  error?: string;
  /** What a 'returning' redemption becomes once its points are back. */
  returnTo?: 'failed' | 'returned';
}

/** A redemption's expiry is checked this long after the code ends (Shopify counts uses asynchronously). */
export const EXPIRY_GRACE_MS = 10 * 60_000;

export const redemptionRef = (customerId: string, key: string) => `${customerId}:${key}`;
export const redemptionJobId = (shop: string, ref: string, kind: 'redeem' | 'redemption-expiry') =>
  `${kind}|${encodeURIComponent(shop)}|${ref.replace(':', '|')}`;

export const redemptionKeys = (keys: Keys, shop: string) => ({
  hash: (ref: string) => ledgerKeys(keys, shop).redemption(ref),
  byCustomer: (customerId: string) => keys.redemptionsOf(shop, customerId),
  expiring: keys.redemptionsExpiring(shop),
});

const CREATE = `
if redis.call('exists', KEYS[1]) == 1 then return 0 end
for i = 3, #ARGV, 2 do redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('zadd', KEYS[2], ARGV[1], ARGV[2])
return 1`;

function fromHash(ref: string, h: Record<string, string>): Redemption | undefined {
  if (!h.points) return undefined;
  return {
    ref,
    key: h.key ?? '',
    customerId: h.shopifyCustomerId ?? '',
    points: Number(h.points),
    value: h.value ?? '0',
    currency: h.currency ?? 'USD',
    status: (h.status ?? 'pending') as RedemptionStatus,
    createdAt: h.createdAt ?? '',
    expiresAt: h.expiresAt ?? '',
    lifetimeDays: Number(h.lifetimeDays ?? 30),
    giveBack: h.giveBack !== '0',
    code: h.code || undefined,
    discountId: h.discountId || undefined,
    itrCustomerId: h.itrCustomerId || undefined,
    balanceAfter: h.balanceAfter !== undefined ? Number(h.balanceAfter) : undefined,
    applied: Number(h.appliedPoints ?? 0),
    error: h.error || undefined,
    returnTo: (h.returnTo as Redemption['returnTo']) || undefined,
  };
}

export class RedemptionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  k(shop: string) {
    return redemptionKeys(this.keys, shop);
  }

  async get(shop: string, ref: string): Promise<Redemption | undefined> {
    return fromHash(ref, await this.redis.hgetall(this.k(shop).hash(ref)));
  }

  /** Records a new redemption; false when one with this ref exists already. */
  async create(
    shop: string,
    r: { customerId: string; key: string; points: number; rules: RedemptionRules; itrCustomerId?: string },
  ): Promise<boolean> {
    const ref = redemptionRef(r.customerId, r.key);
    const now = Date.now();
    const fields: Record<string, string> = {
      key: r.key,
      shopifyCustomerId: r.customerId,
      points: String(r.points),
      value: pointsValue(r.points, r.rules),
      currency: r.rules.currency,
      status: 'pending',
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + r.rules.codeLifetimeDays * 86_400_000).toISOString(),
      lifetimeDays: String(r.rules.codeLifetimeDays),
      giveBack: r.rules.giveBackExpired ? '1' : '0',
      ...(r.itrCustomerId ? { itrCustomerId: r.itrCustomerId } : {}),
    };
    const k = this.k(shop);
    const done = await this.redis.eval(
      CREATE,
      2,
      k.hash(ref),
      k.byCustomer(r.customerId),
      String(now),
      ref,
      ...Object.entries(fields).flat(),
    );
    return done === 1;
  }

  async set(shop: string, ref: string, fields: Record<string, string | number>): Promise<void> {
    await this.redis.hset(this.k(shop).hash(ref), fields);
  }

  /** Codes by when they end (what the expiry jobs check). */
  async markExpiring(shop: string, ref: string, atMs: number): Promise<void> {
    await this.redis.zadd(this.k(shop).expiring, atMs, ref);
  }

  /** The customer's redemptions, newest first. */
  async forCustomer(shop: string, customerId: string, limit = 50): Promise<Redemption[]> {
    const refs = await this.redis.zrevrange(this.k(shop).byCustomer(customerId), 0, limit - 1);
    const out: Redemption[] = [];
    for (const ref of refs) {
      const r = await this.get(shop, ref);
      if (r) out.push(r);
    }
    return out;
  }
}

// ----- the worker's side ------------------------------------------------------------------------------------

export interface RedemptionWorkerDeps {
  store: RedemptionStore;
  /** The shop's Admin API calls. */
  adminFor(shop: string): Promise<LoyaltyAdmin>;
  /** Where the expiry job goes. */
  queue?: Pick<SyncQueues, 'forShop'>;
  /** Check delay after the code's end (default EXPIRY_GRACE_MS). */
  expiryGraceMs?: number;
}

/** The redemption cannot go ahead: the shopper is told `message`, nothing was changed. */
class Refused extends Error {}

const newCode = () =>
  `PTS-${randomBytes(8)
    .toString('base64')
    .replace(/[^A-Za-z0-9]/g, '')
    .toUpperCase()
    .slice(0, 10)}`;

/** The tag in a code's title that says which redemption it belongs to. */
const titleTag = (ref: string) => `[${ref.slice(ref.indexOf(':') + 1, ref.indexOf(':') + 9)}]`;

export async function runRedeemJob(
  deps: RedemptionWorkerDeps,
  job: Job<AdminJobData>,
  ctx: ProcessorContext,
): Promise<JobOutcome> {
  const shop = job.data.shop;
  const ref = job.data.redemption ?? '';
  let r = await deps.store.get(shop, ref);
  if (!r) return { status: 'skipped', reason: 'redemption not found' };
  const base = { shopifyCustomerId: r.customerId };
  if (r.status === 'pending') {
    try {
      await takePoints(deps, job, ctx, r);
    } catch (e) {
      if (!(e instanceof Refused)) throw e;
      await deps.store.set(shop, ref, { status: 'refused', error: e.message });
      return { ...base, status: 'skipped', reason: `redemption refused: ${e.message}` };
    }
    r = (await deps.store.get(shop, ref)) as Redemption;
    await issueCode(deps, shop, r);
    r = (await deps.store.get(shop, ref)) as Redemption;
  }
  if (r.status === 'returning') {
    await givePointsBack(deps, job, ctx, r);
    r = (await deps.store.get(shop, ref)) as Redemption;
  }
  const common = {
    ...base,
    itretailCustomerId: r.itrCustomerId,
  };
  if (r.status === 'issued') {
    return {
      ...common,
      status: 'applied',
      reason: `${r.points} points redeemed for a ${r.value} ${r.currency} code (${r.code})`,
      pointsDelta: -r.points,
      pointsAfter: r.balanceAfter,
      pointsBefore: r.balanceAfter !== undefined ? r.balanceAfter + r.points : undefined,
    };
  }
  if (r.status === 'failed') {
    return {
      ...common,
      status: 'applied',
      reason: `redemption of ${r.points} points failed (${r.error ?? 'no code'}); the points were given back`,
      pointsDelta: 0,
      pointsAfter: r.balanceAfter,
    };
  }
  return { ...common, status: 'skipped', reason: `redemption ${r.status}` };
}

async function takePoints(
  deps: RedemptionWorkerDeps,
  job: Job<AdminJobData>,
  ctx: ProcessorContext,
  r: Redemption,
): Promise<void> {
  const shop = job.data.shop;
  const { redis } = ctx.deps;
  const itrId = r.itrCustomerId ?? (await ctx.matcher.linkedByCustomer(shop, r.customerId));
  if (!itrId) throw new Refused('You have no points to redeem yet.');
  if (!r.itrCustomerId) await deps.store.set(shop, r.ref, { itrCustomerId: itrId });
  const client = ctx.client();
  const hash = deps.store.k(shop).hash(r.ref);
  await withCustomer(
    ctx.reconcile,
    shop,
    client,
    itrId,
    async (lock) => {
      // Read under the lock, after any earlier write of this redemption was settled.
      const applied = Number((await redis.hget(hash, 'appliedPoints')) ?? 0);
      const delta = -r.points - applied;
      if (delta === 0) return;
      const rec = await ctx.matcher.getOrConfirmGone(shop, client, itrId);
      if (!rec || rec.Deleted === true) throw new Refused('Your points account could not be found.');
      const have = pointsOf(rec);
      if (have < -delta) {
        throw new Refused(
          `You have ${have.toLocaleString('en-US')} points; this needs ${(-delta).toLocaleString('en-US')}.`,
        );
      }
      // The balance this write leaves (a retry that finds it landed answers it too).
      await redis.hset(hash, 'balanceAfter', String(have + delta));
      await writePoints(ctx.reconcile, shop, client, itrId, lock, rec, {
        kind: 'redeem',
        ref: r.ref,
        jobId: job.id,
        delta,
        release: [lock],
      });
    },
    { jobId: job.id },
  );
}

async function issueCode(deps: RedemptionWorkerDeps, shop: string, r: Redemption): Promise<void> {
  const admin = await deps.adminFor(shop);
  const title = `Loyalty: ${r.points} points ${titleTag(r.ref)}`;
  let code = r.code;
  const issued = async (id: string) => {
    await deps.store.set(shop, r.ref, { status: 'issued', discountId: id, code: code ?? '' });
    await scheduleExpiry(deps, shop, r);
  };
  const notCreated = async (why: string) => {
    await deps.store.set(shop, r.ref, { status: 'returning', returnTo: 'failed', error: why });
  };
  // A code sent before (this job stopped, or its answer was lost): it may exist already.
  if (code) {
    const found = await admin.findCode(code);
    if (found?.title?.includes(titleTag(r.ref))) return issued(found.id);
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!code || attempt > 0) {
      code = newCode();
      await deps.store.set(shop, r.ref, { code });
    }
    let created: Awaited<ReturnType<LoyaltyAdmin['createCode']>>;
    try {
      created = await admin.createCode({
        code,
        title,
        customerId: r.customerId,
        amount: r.value,
        startsAt: new Date(Date.now() - 60_000).toISOString(),
        endsAt: r.expiresAt,
      });
    } catch (e) {
      // THROTTLED: Shopify did not run it. A 5xx or no answer: it may have; the code says.
      if (e instanceof ShopifyThrottledError) return notCreated('Shopify is busy right now');
      if (e instanceof ShopifyUnavailableError) {
        const found = await admin.findCode(code);
        if (found?.title?.includes(titleTag(r.ref))) return issued(found.id);
        return notCreated('Shopify did not answer');
      }
      return notCreated((e as Error).message);
    }
    if (created.id) return issued(created.id);
    const taken = created.userErrors.some((u) => u.code === 'TAKEN');
    if (taken) {
      const found = await admin.findCode(code);
      if (found?.title?.includes(titleTag(r.ref))) return issued(found.id);
      continue;
    }
    return notCreated(created.userErrors.map((u) => u.message).join('; ') || 'Shopify refused the code');
  }
  return notCreated('no free code was found');
}

async function scheduleExpiry(deps: RedemptionWorkerDeps, shop: string, r: Redemption): Promise<void> {
  const at = Date.parse(r.expiresAt);
  await deps.store.markExpiring(shop, r.ref, at);
  if (!deps.queue) return;
  const data: AdminJobData = {
    kind: 'redemption-expiry',
    shop,
    requestedAt: new Date().toISOString(),
    redemption: r.ref,
  };
  await deps.queue.forShop(shop).add('redemption-expiry', data, {
    jobId: redemptionJobId(shop, r.ref, 'redemption-expiry'),
    delay: Math.max(0, at - Date.now()) + (deps.expiryGraceMs ?? EXPIRY_GRACE_MS),
    attempts: 12,
    backoff: { type: 'exponential', delay: 60_000, jitter: 0.5 },
    removeOnComplete: { age: 7 * 86_400 },
    removeOnFail: { age: 14 * 86_400 },
  });
}

async function givePointsBack(
  deps: RedemptionWorkerDeps,
  job: Job<AdminJobData>,
  ctx: ProcessorContext,
  r: Redemption,
): Promise<void> {
  const shop = job.data.shop;
  const hash = deps.store.k(shop).hash(r.ref);
  const { redis } = ctx.deps;
  const itrId = r.itrCustomerId;
  if (itrId && r.applied !== 0) {
    const client = ctx.client();
    await withCustomer(
      ctx.reconcile,
      shop,
      client,
      itrId,
      async (lock) => {
        const applied = Number((await redis.hget(hash, 'appliedPoints')) ?? 0);
        if (applied === 0) return;
        const rec = await ctx.matcher.getOrConfirmGone(shop, client, itrId);
        if (!rec) return; // gone with its points; nothing to give back to
        await redis.hset(hash, 'balanceAfter', String(pointsOf(rec) - applied));
        await writePoints(ctx.reconcile, shop, client, itrId, lock, rec, {
          kind: 'redeem',
          ref: r.ref,
          jobId: job.id,
          delta: -applied,
          release: [lock],
        });
      },
      { jobId: job.id },
    );
  }
  await deps.store.set(shop, r.ref, { status: r.returnTo ?? 'failed' });
}

/** The code's end: used → kept; unused → deactivated and (when the shop gives back) the points back once. */
export async function runExpiryJob(
  deps: RedemptionWorkerDeps,
  job: Job<AdminJobData>,
  ctx: ProcessorContext,
): Promise<JobOutcome> {
  const shop = job.data.shop;
  const ref = job.data.redemption ?? '';
  let r = await deps.store.get(shop, ref);
  if (!r) return { status: 'skipped', reason: 'redemption not found' };
  const base = { shopifyCustomerId: r.customerId, itretailCustomerId: r.itrCustomerId };
  if (r.status === 'issued') {
    if (Date.parse(r.expiresAt) > Date.now()) {
      return { ...base, status: 'skipped', reason: 'code not expired yet', quiet: true };
    }
    const admin = await deps.adminFor(shop);
    const found = r.code ? await admin.findCode(r.code) : undefined;
    if (found && found.usageCount > 0) {
      await deps.store.set(shop, ref, { status: 'used' });
      return { ...base, status: 'skipped', reason: `code ${r.code} was used` };
    }
    if (!r.giveBack) {
      await deps.store.set(shop, ref, { status: 'expired' });
      return {
        ...base,
        status: 'skipped',
        reason: `code ${r.code} expired unused; the shop keeps the points`,
      };
    }
    if (found) await admin.deactivateCode(found.id);
    await deps.store.set(shop, ref, { status: 'returning', returnTo: 'returned' });
    r = (await deps.store.get(shop, ref)) as Redemption;
  }
  if (r.status === 'returning') {
    const before = r.applied;
    await givePointsBack(deps, job, ctx, r);
    const after = (await deps.store.get(shop, ref)) as Redemption;
    return {
      ...base,
      status: 'applied',
      reason: `code ${r.code ?? ''} expired unused: ${-before} points given back`,
      pointsDelta: -before,
      pointsAfter: after.balanceAfter,
    };
  }
  return { ...base, status: 'skipped', reason: `redemption already ${r.status}` };
}
