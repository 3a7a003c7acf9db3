import { randomBytes } from 'node:crypto';
import type { Job } from 'bullmq';
import type { AdminJobData } from '../queue/jobs.js';
import type { SyncQueues } from '../queue/shards.js';
import { ShopifyThrottledError, ShopifyUnavailableError } from '../shopify/graphql.js';
import type { LoyaltyAdmin } from '../shopify/loyalty-documents.js';
import { withCustomer, writePoints } from '../sync/customer-writes.js';
import type { JobOutcome, ProcessorContext } from '../sync/jobs/types.js';
import { pointsOf } from '../sync/write-evidence.js';
import {
  EXPIRY_GRACE_MS,
  type Redemption,
  type RedemptionStore,
  redemptionJobId,
} from './redemption-store.js';

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

// ----- the worker's side ------------------------------------------------------------------------------------

interface RedemptionWorkerDeps {
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

type RedemptionJob = (
  deps: RedemptionWorkerDeps,
  job: Job<AdminJobData>,
  ctx: ProcessorContext,
) => Promise<JobOutcome>;

/** A job of one redemption (`job.data.redemption`), given it as it stands; one that is gone is skipped. */
const ofRedemption =
  (
    fn: (
      deps: RedemptionWorkerDeps,
      job: Job<AdminJobData>,
      ctx: ProcessorContext,
      r: Redemption,
    ) => Promise<JobOutcome>,
  ): RedemptionJob =>
  async (deps, job, ctx) => {
    const r = await deps.store.get(job.data.shop, job.data.redemption ?? '');
    return r ? fn(deps, job, ctx, r) : { status: 'skipped', reason: 'redemption not found' };
  };

export const runRedeemJob = ofRedemption(async (deps, job, ctx, first) => {
  const shop = job.data.shop;
  const ref = first.ref;
  let r = first;
  const base = { shopifyCustomerId: r.customerId };
  if (r.status === 'pending') {
    try {
      // No Admin API access (no token for the shop): no code could be made, so no points are taken.
      if (r.applied === 0) {
        await deps.adminFor(shop).catch((e: unknown) => {
          throw new Refused(`Redeeming points is not available right now (${(e as Error).message})`);
        });
      }
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
});

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
  const overwrote = await withCustomer(
    ctx.reconcile,
    shop,
    client,
    itrId,
    async (lock) => {
      // Read under the lock, after any earlier write of this redemption was settled.
      const applied = Number((await redis.hget(hash, 'appliedPoints')) ?? 0);
      const delta = -r.points - applied;
      if (delta === 0) return 0;
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
      const w = await writePoints(ctx.reconcile, shop, client, itrId, lock, rec, {
        kind: 'redeem',
        ref: r.ref,
        jobId: job.id,
        delta,
        release: [lock],
      });
      return w.overwritten;
    },
    { jobId: job.id },
  );
  await giveBackNow(ctx, shop, client, itrId, job.id, overwrote);
}

/**
 * A register change the redemption's Put wrote over is given back at once, not left due until the next write
 * to this customer (it stays due if this fails).
 */
async function giveBackNow(
  ctx: ProcessorContext,
  shop: string,
  client: ReturnType<ProcessorContext['client']>,
  itrId: string,
  jobId: string | undefined,
  overwritten: number,
): Promise<void> {
  if (overwritten) await withCustomer(ctx.reconcile, shop, client, itrId, async () => undefined, { jobId });
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
    const overwrote = await withCustomer(
      ctx.reconcile,
      shop,
      client,
      itrId,
      async (lock) => {
        const applied = Number((await redis.hget(hash, 'appliedPoints')) ?? 0);
        if (applied === 0) return 0;
        const rec = await ctx.matcher.getOrConfirmGone(shop, client, itrId);
        if (!rec) return 0; // gone with its points; nothing to give back to
        await redis.hset(hash, 'balanceAfter', String(pointsOf(rec) - applied));
        const w = await writePoints(ctx.reconcile, shop, client, itrId, lock, rec, {
          kind: 'redeem',
          ref: r.ref,
          jobId: job.id,
          delta: -applied,
          release: [lock],
        });
        return w.overwritten;
      },
      { jobId: job.id },
    );
    await giveBackNow(ctx, shop, client, itrId, job.id, overwrote);
  }
  await deps.store.set(shop, r.ref, { status: r.returnTo ?? 'failed' });
}

/** The code's end: used → kept; unused → deactivated and (when the shop gives back) the points back once. */
export const runExpiryJob = ofRedemption(async (deps, job, ctx, first) => {
  const shop = job.data.shop;
  const ref = first.ref;
  let r = first;
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
});
