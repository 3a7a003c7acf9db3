import express from 'express';
import { z } from 'zod';
import type { SyncEvent } from '../../sync/events.js';
import { fixFor } from '../explain.js';
import { registerUncertainWriteRoutes } from '../uncertain-writes.js';
import type { SectionContext } from './context.js';
import { BadRequest, Conflict, NotFound, pageQueryShape, parseQuery, route } from './http.js';

/**
 * Failures: listed with what to do, grouped by cause on the page; Retry where running the job again can
 * help, Dismiss where it cannot (the data itself is unusable, or the job is no longer kept). A dismissed
 * failure leaves the shop's failure list (so it no longer counts against the overview) and is kept per
 * shop under `failures-dismissed` for 30 days. The uncertain writes share this section.
 */

/** Errors no retry can fix: the data Shopify sent cannot be used as it is. */
const PERMANENT_CODES = new Set([
  'INVALID_PAYLOAD',
  'BAD_PAYLOAD',
  'INVALID_ORDER',
  'INVALID_INPUT',
  'MONEY_FORMAT',
  'PERMANENT',
]);

const DISMISSED_TTL_SECONDS = 30 * 24 * 3600;

export const dismissedKey = (ctx: Pick<SectionContext, 'keys'>, shop: string) =>
  ctx.keys.failuresDismissed(shop);

type JobState = string;

/** What the page may offer for one failure, from its error and its job's state. */
export function actionsFor(f: Pick<SyncEvent, 'errorCode'>, state: JobState) {
  // A job held for a decision runs again by itself once the change it waits for is decided.
  const held = f.errorCode === 'AWAITING_DECISION' && state === 'failed';
  const permanent = PERMANENT_CODES.has(f.errorCode ?? '') || state === 'unknown';
  const retryable = !held && !permanent && (state === 'failed' || state === 'delayed');
  const dismissable = !held && !retryable && state !== 'active' && state !== 'waiting';
  const retryNote = retryable
    ? undefined
    : held
      ? 'Runs again once the change above is decided.'
      : state === 'unknown'
        ? 'No longer kept (failed jobs are kept 14 days).'
        : permanent
          ? 'Retrying cannot help: the data itself cannot be used.'
          : 'Retrying now.';
  return { held, permanent, retryable, dismissable, retryNote };
}

const listQuery = z.object(pageQueryShape);

function jobIdFrom(value: unknown): string {
  const jobId = String(value ?? '');
  if (!jobId || jobId.length > 300) throw new BadRequest('Unknown job.');
  return jobId;
}

async function stateOf(ctx: SectionContext, shop: string, f: SyncEvent): Promise<JobState> {
  return f.jobId ? await ctx.queue.forShop(shop).getJobState(f.jobId) : 'unknown';
}

/** Runs one failed job again: BullMQ retry (or promote, when it waits for its backoff), and clears the failure. */
async function retryJob(
  ctx: SectionContext,
  shop: string,
  jobId: string,
): Promise<'retried' | 'promoted' | 'running' | 'gone'> {
  const job = await ctx.queue.forShop(shop).getJob(jobId);
  if (!job || job.data?.shop !== shop) return 'gone';
  const state = await job.getState();
  let outcome: 'retried' | 'promoted' | 'running' = 'running';
  if (state === 'failed') {
    // Fresh attempts: otherwise attemptsMade stays at its final value, so the next error would be final
    // (no backoff, no waiting out a busy customer lock).
    await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    outcome = 'retried';
  } else if (state === 'delayed') {
    await job.promote();
    outcome = 'promoted';
  }
  await ctx.events.clearFailure(shop, jobId);
  ctx.logger.info({ shop, jobId, outcome }, 'failed job retried from the admin page');
  return outcome;
}

/** Every failure of the shop (bounded), walking the pages first: clearing moves the cursor under our feet. */
async function allFailures(ctx: SectionContext, shop: string): Promise<SyncEvent[]> {
  const out: SyncEvent[] = [];
  let cursor: string | undefined;
  do {
    const page = await ctx.events.failures(shop, { cursor, limit: 200 });
    out.push(...page.failures);
    cursor = page.nextCursor;
  } while (cursor && out.length < 10_000);
  return out;
}

/** Takes a failure no retry can help off the shop's list, keeping it under `failures-dismissed`. */
async function dismiss(ctx: SectionContext, shop: string, jobId: string) {
  const failure = (await allFailures(ctx, shop)).find((f) => f.jobId === jobId);
  if (!failure)
    throw new NotFound('This failure is not listed for this shop (already retried or dismissed).');
  const { dismissable } = actionsFor(failure, await stateOf(ctx, shop, failure));
  if (!dismissable) {
    throw new Conflict('Retry this one instead: running it again can still help.', { retryable: true });
  }
  const key = dismissedKey(ctx, shop);
  const record = JSON.stringify({ ...failure, dismissedAt: new Date().toISOString() });
  await ctx.redis.multi().hset(key, jobId, record).expire(key, DISMISSED_TTL_SECONDS).exec();
  await ctx.events.clearFailure(shop, jobId);
  ctx.logger.info({ shop, jobId, errorCode: failure.errorCode }, 'failure dismissed from the admin page');
  return { ok: true, dismissed: await ctx.redis.hlen(key) };
}

export function failuresRouter(ctx: SectionContext): express.Router {
  const { redis, keys, events, logger } = ctx;
  const router = express.Router();

  router.get(
    '/failures',
    route(async (req, _res, shop) => {
      const q = parseQuery(listQuery, req.query);
      const [page, dismissed] = await Promise.all([
        events.failures(shop, { cursor: q.cursor, limit: q.limit ?? 25 }),
        redis.hlen(dismissedKey(ctx, shop)),
      ]);
      const failures = await Promise.all(
        page.failures.map(async (f) => {
          const state = await stateOf(ctx, shop, f);
          return { ...f, fix: fixFor(f.errorCode), jobState: state, ...actionsFor(f, state) };
        }),
      );
      return { failures, nextCursor: page.nextCursor, total: page.total, dismissed };
    }),
  );

  registerUncertainWriteRoutes(router, {
    redis,
    keys,
    logger,
    retryJob: (shop, jobId) => retryJob(ctx, shop, jobId),
    route,
  });

  router.post(
    '/failures/retry-all',
    route(async (_req, _res, shop) => {
      let retried = 0;
      let gone = 0;
      const seen = new Set<string>();
      for (const f of await allFailures(ctx, shop)) {
        if (!f.jobId || seen.has(f.jobId)) continue;
        seen.add(f.jobId);
        // Only what running again can help: a permanent failure would only fail again.
        if (PERMANENT_CODES.has(f.errorCode ?? '')) continue;
        if ((await retryJob(ctx, shop, f.jobId)) === 'gone') gone++;
        else retried++;
      }
      return { retried, gone };
    }),
  );

  router.post(
    '/failures/:jobId/retry',
    route(async (req, _res, shop) => {
      const outcome = await retryJob(ctx, shop, jobIdFrom(req.params.jobId));
      if (outcome === 'gone') {
        throw new NotFound(
          'This job is no longer kept or does not belong to this shop; it cannot be retried.',
        );
      }
      return { ok: true, outcome };
    }),
  );

  router.post(
    '/failures/:jobId/dismiss',
    route(async (req, _res, shop) => {
      return dismiss(ctx, shop, jobIdFrom(req.params.jobId));
    }),
  );

  return router;
}
