import express, { type Response } from 'express';
import { QUEUE_TIMEOUT_MS, QueueUnavailableError, withTimeout } from '../../queue/enqueue.js';
import { newestHealth, readITRetailHealth } from '../../sync/itretail-health.js';
import { Ledger } from '../../sync/ledger.js';
import { itretailState, problemsOf, verdictOf } from '../explain.js';
import { readProgress } from '../link-existing.js';
import { shopQueueCounts } from '../queue-counts.js';
import type { SectionContext } from './context.js';
import { actionsFor, dismissedKey } from './failures.js';
import { route } from './http.js';

/**
 * The overview: one verdict (working / needs attention / not working), the problems most severe first each
 * with its action, the setup checklist of a fresh install, and the counts behind the cards.
 */

/** Failures looked at for "Retry N": the newest, each with its job's state. */
const FAILURES_SAMPLED = 50;

const guard = <T>(p: Promise<T>, what: string) => withTimeout(p, QUEUE_TIMEOUT_MS * 2, what);

/** How many of the newest failures a Retry can help, and how many it cannot. */
async function failureKinds(ctx: SectionContext, shop: string) {
  const { events, queue } = ctx;
  const page = await events.failures(shop, { limit: FAILURES_SAMPLED });
  let retryable = 0;
  let permanent = 0;
  for (const f of page.failures) {
    const state = f.jobId ? await queue.forShop(shop).getJobState(f.jobId) : 'unknown';
    const a = actionsFor(f, state);
    if (a.retryable) retryable++;
    else if (a.dismissable) permanent++;
  }
  return { total: page.total, latest: page.failures[0]?.errorCode, retryable, permanent };
}

async function gather(ctx: SectionContext, shop: string) {
  const { redis, keys, queue, events, settings, itretail } = ctx;
  const [pub, counts, hourly, pointsToday, failures, uncertainWrites, lastApplied] = await Promise.all([
    settings.publicView(shop),
    guard(shopQueueCounts(redis, queue.forShop(shop), shop), 'queue counts'),
    events.hourly(shop, 24),
    events.pointsToday(shop),
    failureKinds(ctx, shop),
    new Ledger(redis, keys).uncertainCount(shop),
    events.list(shop, { status: 'applied', limit: 1 }),
  ]);
  const [linked, dismissed, link, webHealth, workerHealth] = await Promise.all([
    redis.hlen(keys.linkEmail(shop)),
    redis.hlen(dismissedKey(ctx, shop)),
    readProgress(redis, keys, shop),
    itretail.health(shop).catch(() => undefined),
    readITRetailHealth(redis, keys, shop).catch(() => ({})),
  ]);
  return {
    pub,
    counts,
    hourly,
    pointsToday,
    failures,
    uncertainWrites,
    lastApplied,
    linked,
    dismissed,
    link,
    webHealth,
    workerHealth,
  };
}

async function overview(ctx: SectionContext, shop: string, res: Response) {
  const { redis } = ctx;
  const redisOk = await guard(redis.ping(), 'Redis PING').then(
    () => true,
    () => false,
  );
  if (!redisOk) throw new QueueUnavailableError('Redis did not answer');
  const g = await gather(ctx, shop);
  // The newest of what this page's own check saw and what the workers' calls saw.
  const health = { ...g.webHealth, ...newestHealth(g.webHealth, g.workerHealth) };
  const itr = {
    configured: g.pub.itretail.configured,
    source: g.pub.itretail.source,
    baseUrl: g.pub.itretail.baseUrl,
    lastOkAt: health?.lastOkAt,
    lastError: health?.lastError,
    token: health?.token ?? 'none',
    check: health?.check,
  };
  const queueCounts = {
    waiting: g.counts.waiting,
    active: g.counts.active,
    delayed: g.counts.delayed,
    capped: g.counts.capped,
  };
  const problems = problemsOf({
    installed: g.pub.installed,
    paused: g.pub.paused,
    itretail: itr,
    redisOk,
    shopifyAccess: res.locals.shopifyAccess,
    queue: queueCounts,
    failures: g.failures.total,
    retryableFailures: g.failures.retryable,
    permanentFailures: g.failures.permanent,
    uncertainWrites: g.uncertainWrites,
    latestFailureCode: g.failures.latest,
  });
  const connected = itr.configured && (Boolean(itr.lastOkAt) || itr.check?.ok === true);
  return {
    shop,
    verdict: verdictOf(problems),
    problems,
    installed: g.pub.installed,
    paused: g.pub.paused,
    itretail: { ...itr, state: itretailState(itr) },
    redis: { ok: redisOk },
    queue: queueCounts,
    failures: g.failures.total,
    dismissedFailures: g.dismissed,
    uncertainWrites: g.uncertainWrites,
    customersLinked: g.linked,
    linkExisting: { state: g.link.state, done: g.link.done, total: g.link.total, linked: g.link.linked },
    setup: {
      credentials: itr.configured,
      connected,
      linked: g.link.state === 'done' || g.linked > 0,
    },
    pointsToday: g.pointsToday,
    hourly: g.hourly,
    lastAppliedAt: g.lastApplied.events[0]?.at,
  };
}

export function overviewRouter(ctx: SectionContext): express.Router {
  const router = express.Router();
  router.get(
    '/overview',
    route(async (_req, res, shop) => overview(ctx, shop, res)),
  );

  return router;
}
