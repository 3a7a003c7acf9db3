import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { AdminJobData } from '../queue/jobs.js';
import type { SyncQueues } from '../queue/shards.js';
import type { Keys } from '../store/keys.js';
import type { BalanceReader } from './balance.js';
import type { RedemptionRules } from './redemption-rules.js';
import { type Redemption, RedemptionStore, redemptionJobId, redemptionRef } from './redemptions.js';

/**
 * `POST <proxy>/redeem` `{points, key}`: the rules are checked at once (a refusal changes nothing), the
 * redemption is recorded once per (shop, customer, key) and its job queued under an id made of the same,
 * then the answer waits (up to `waitMs`) for the worker: the code, a refusal, or "still working" (202; the
 * block asks again with the same key, which answers the same redemption).
 */

export interface RedeemDeps {
  redis: Redis;
  keys: Keys;
  queue: Pick<SyncQueues, 'forShop'>;
  links: { linkedByCustomer(shop: string, shopifyCustomerId: string): Promise<string | undefined> };
  balances?: BalanceReader;
  /** How long a request waits for the worker (default 8 s). */
  waitMs?: number;
}

export const redeemBodySchema = z.object({
  points: z
    .number({ error: 'points must be a whole number' })
    .int('points must be a whole number')
    .positive(),
  key: z.uuid({ error: 'key must be a UUID' }),
});

export interface RedeemAnswer {
  status: number;
  body: Record<string, unknown>;
}

const n = (x: number) => x.toLocaleString('en-US');

/** A rule the request breaks, in plain words (undefined: none). */
export function ruleProblem(points: number, rules: RedemptionRules): string | undefined {
  if (!rules.enabled) return 'Redeeming points is not available in this shop.';
  if (points < rules.minimumPoints) return `The least you can redeem is ${n(rules.minimumPoints)} points.`;
  if (points > rules.maximumPoints)
    return `The most you can redeem at once is ${n(rules.maximumPoints)} points.`;
  if (points % rules.stepPoints !== 0) return `Points are redeemed in steps of ${n(rules.stepPoints)}.`;
  return undefined;
}

export function answerFor(r: Redemption): RedeemAnswer {
  const done = {
    key: r.key,
    pointsRedeemed: r.points,
    value: r.value,
    currency: r.currency,
    status: r.status,
  };
  switch (r.status) {
    case 'issued':
    case 'used':
    case 'expired':
    case 'returned':
      return {
        status: 200,
        body: { ...done, code: r.code, points: r.balanceAfter, expiresAt: r.expiresAt },
      };
    case 'refused':
      return { status: 422, body: { error: r.error ?? 'These points cannot be redeemed.', ...done } };
    case 'failed':
      return {
        status: 502,
        body: {
          error: 'Your code could not be created, so your points were given back. Please try again later.',
          pointsReturned: true,
          points: r.balanceAfter,
          ...done,
        },
      };
    default:
      return {
        status: 202,
        body: {
          ...done,
          message: 'Your code is on its way. This can take a minute; ask again with the same request.',
        },
      };
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function redeem(
  deps: RedeemDeps,
  shop: string,
  customerId: string,
  rules: RedemptionRules,
  body: unknown,
): Promise<RedeemAnswer> {
  const parsed = redeemBodySchema.safeParse(body);
  if (!parsed.success) {
    return { status: 400, body: { error: parsed.error.issues[0]?.message ?? 'Bad request.' } };
  }
  const { points, key } = parsed.data;
  const store = new RedemptionStore(deps.redis, deps.keys);
  const ref = redemptionRef(customerId, key);
  let r = await store.get(shop, ref);
  if (!r) {
    const problem = ruleProblem(points, rules);
    if (problem) return { status: rules.enabled ? 422 : 403, body: { error: problem } };
    const itrId = await deps.links.linkedByCustomer(shop, customerId);
    if (!itrId) return { status: 422, body: { error: 'You have no points to redeem yet.' } };
    // A quick look at the (briefly cached) balance spares the queue a certain refusal; the worker checks
    // again under the customer's lock before anything is written.
    const b = await deps.balances?.balance(shop, customerId).catch(() => undefined);
    if (b?.linked && b.points < points) {
      return { status: 422, body: { error: `You have ${n(b.points)} points; this needs ${n(points)}.` } };
    }
    await store.create(shop, { customerId, key, points, rules, itrCustomerId: itrId });
    r = (await store.get(shop, ref)) as Redemption;
  }
  if (r.status === 'pending' || r.status === 'returning') {
    const data: AdminJobData = {
      kind: 'redeem',
      shop,
      requestedAt: new Date().toISOString(),
      redemption: ref,
    };
    // The same id every time: a repeat finds the job there (or finished) and adds nothing.
    await deps.queue.forShop(shop).add('redeem', data, {
      jobId: redemptionJobId(shop, ref, 'redeem'),
      attempts: 12,
      backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
      removeOnComplete: { age: 7 * 86_400 },
      removeOnFail: { age: 14 * 86_400 },
    });
    const deadline = Date.now() + (deps.waitMs ?? 8_000);
    while (Date.now() < deadline) {
      await sleep(50);
      r = (await store.get(shop, ref)) as Redemption;
      if (r.status !== 'pending' && r.status !== 'returning') break;
    }
  }
  return answerFor(r);
}
