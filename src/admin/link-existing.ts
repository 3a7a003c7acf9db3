import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import { type EnqueueContext, enqueueAdminJob } from '../queue/enqueue.js';
import type { AdminJobData } from '../queue/jobs.js';
import { CustomerPager, type GraphqlRequest, type PagerOptions } from '../shopify/graphql.js';
import type { Keys } from '../store/keys.js';
import type { SyncEventStore } from '../sync/events.js';
import type { MatchInput, MatchResult, SyncClient } from '../sync/matching.js';

/**
 * "Link existing customers": walks every customer of the shop through the GraphQL Admin API and finds
 * (or creates) each one in IT Retail, so points start flowing for customers who signed up before the app.
 *
 * Progress lives in one Redis hash per shop (`keys.linkExisting(shop)`) and is saved after every
 * page: {state, done, total, cursor, counts}. A restarted or retried job continues from the saved cursor;
 * customers of the page that was in flight are looked at again, which is harmless (findOrCreate is
 * idempotent: the second time it finds the link).
 */

type LinkState = 'idle' | 'queued' | 'running' | 'done' | 'failed';

export interface LinkExistingProgress {
  state: LinkState;
  runId?: string;
  jobId?: string;
  done: number;
  total?: number;
  cursor?: string;
  linked: number;
  created: number;
  skipped: number;
  failed: number;
  startedAt?: string;
  updatedAt?: string;
  finishedAt?: string;
  error?: string;
}

const NUMS = ['done', 'linked', 'created', 'skipped', 'failed'] as const;

export async function readProgress(redis: Redis, keys: Keys, shop: string): Promise<LinkExistingProgress> {
  const h = await redis.hgetall(keys.linkExisting(shop));
  const p: LinkExistingProgress = {
    state: (h.state as LinkState) || 'idle',
    done: 0,
    linked: 0,
    created: 0,
    skipped: 0,
    failed: 0,
  };
  for (const n of NUMS) p[n] = Number(h[n] ?? 0) || 0;
  if (h.total) p.total = Number(h.total);
  for (const k of ['runId', 'jobId', 'cursor', 'startedAt', 'updatedAt', 'finishedAt', 'error'] as const) {
    if (h[k]) p[k] = h[k];
  }
  return p;
}

async function writeProgress(
  redis: Redis,
  keys: Keys,
  shop: string,
  p: Partial<LinkExistingProgress>,
  drop: string[] = [],
) {
  const fields: Record<string, string> = { updatedAt: new Date().toISOString() };
  for (const [k, v] of Object.entries(p)) if (v !== undefined) fields[k] = String(v);
  const tx = redis.multi().hset(keys.linkExisting(shop), fields);
  if (drop.length) tx.hdel(keys.linkExisting(shop), ...drop);
  await tx.exec();
}

function linkExistingJobId(shop: string, runId: string): string {
  return ['link-existing', encodeURIComponent(shop), runId].join('|');
}

/**
 * Starts a run unless one is queued or running (then answers that one); a run that stopped resumes from
 * its cursor. The job id is new per run so a finished run (kept by BullMQ for a day) never blocks the next.
 */
export async function startLinkExisting(
  ctx: EnqueueContext,
  shop: string,
): Promise<{ started: boolean; progress: LinkExistingProgress }> {
  const current = await readProgress(ctx.redis, ctx.keys, shop);
  let resume = false;
  if (current.state === 'queued' || current.state === 'running') {
    const job = current.jobId ? await ctx.queue.forShop(shop).getJob(current.jobId) : undefined;
    const state = job ? await job.getState() : 'unknown';
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown')
      return { started: false, progress: current };
    resume = Boolean(current.cursor);
  } else if (current.state === 'failed') {
    resume = Boolean(current.cursor);
  }
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const jobId = linkExistingJobId(shop, runId);
  if (resume) {
    // Continue where the stopped run left off: same counters, same cursor, a new job.
    await writeProgress(ctx.redis, ctx.keys, shop, { state: 'queued', runId, jobId }, [
      'error',
      'finishedAt',
    ]);
  } else {
    await ctx.redis.del(ctx.keys.linkExisting(shop));
    await writeProgress(ctx.redis, ctx.keys, shop, {
      state: 'queued',
      runId,
      jobId,
      done: 0,
      linked: 0,
      created: 0,
      skipped: 0,
      failed: 0,
      startedAt: new Date().toISOString(),
    });
  }
  const data: AdminJobData = { kind: 'link-existing', shop, requestedAt: new Date().toISOString() };
  await enqueueAdminJob(ctx, data, { jobId });
  return { started: true, progress: await readProgress(ctx.redis, ctx.keys, shop) };
}

export interface LinkExistingDeps {
  redis: Redis;
  keys: Keys;
  logger?: Logger;
  events?: Pick<SyncEventStore, 'record'>;
  /** GraphQL Admin API access for the shop (its offline session). */
  graphqlFor(shop: string): Promise<GraphqlRequest>;
  /** The shop's IT Retail client. */
  clientFor(shop: string): Promise<SyncClient>;
  matcher: { findOrCreate(shop: string, client: SyncClient, input: MatchInput): Promise<MatchResult> };
  pager?: PagerOptions;
  /** Record the run's summary as an event (off when the job processor records the job's outcome itself). */
  recordSummary?: boolean;
}

/** The part of a BullMQ job the handler uses. */
export interface LinkExistingJob {
  id?: string;
  data: AdminJobData;
  updateProgress?(progress: object): Promise<void>;
}

export function summaryOf(p: LinkExistingProgress): string {
  return `Linked existing customers: ${p.linked} found in IT Retail, ${p.created} created, ${p.skipped} without email, ${p.failed} failed.`;
}

const isRetryable = (err: unknown) => Boolean((err as { retryable?: boolean })?.retryable);

/** The progress of this job's run: a job started outside the page (or whose progress was erased) begins afresh. */
async function beginRun(job: LinkExistingJob, deps: LinkExistingDeps): Promise<LinkExistingProgress> {
  const { redis, keys } = deps;
  const shop = job.data.shop;
  const p = await readProgress(redis, keys, shop);
  if (p.jobId && (!job.id || p.jobId === job.id)) {
    await writeProgress(redis, keys, shop, { state: 'running' }, ['error']);
    return p;
  }
  await redis.del(keys.linkExisting(shop));
  await writeProgress(redis, keys, shop, {
    state: 'running',
    jobId: job.id,
    startedAt: new Date().toISOString(),
    done: 0,
    linked: 0,
    created: 0,
    skipped: 0,
    failed: 0,
    cursor: job.data.cursor,
  });
  return readProgress(redis, keys, shop);
}

type PageCustomer = Awaited<ReturnType<CustomerPager['page']>>['customers'][number];

/**
 * Finds or creates each customer of one page in IT Retail. A retryable failure throws (the job resumes
 * later from the page's cursor); a customer refused for good is counted and recorded as a failed event.
 */
async function linkPage(
  shop: string,
  client: SyncClient,
  customers: PageCustomer[],
  deps: LinkExistingDeps,
): Promise<{ linked: number; created: number; skipped: number; failed: number }> {
  const counts = { linked: 0, created: 0, skipped: 0, failed: 0 };
  for (const c of customers) {
    if (!c.email) {
      counts.skipped++;
      continue;
    }
    try {
      const r = await deps.matcher.findOrCreate(shop, client, {
        email: c.email,
        firstName: c.firstName,
        lastName: c.lastName,
        phone: c.phone,
        shopifyCustomerId: c.id,
      });
      if (r.created) counts.created++;
      else counts.linked++;
    } catch (err) {
      if (isRetryable(err)) throw err;
      counts.failed++;
      const name = [c.firstName, c.lastName].filter(Boolean).join(' ') || undefined;
      await deps.events?.record({
        shop,
        topic: 'admin/link-existing',
        status: 'failed',
        error: `Could not link ${name ?? 'this customer'} to IT Retail: ${(err as Error).message}`,
        errorCode: (err as { code?: string }).code,
        shopifyCustomerId: c.id,
        customerName: name,
      });
    }
  }
  return counts;
}

/**
 * The handler of a 'link-existing' job. A retryable IT Retail failure (outage) throws, so BullMQ retries
 * the job later and it resumes from the saved cursor; a customer IT Retail refuses for good is counted as
 * failed, recorded as an event, and the walk goes on.
 */
export async function runLinkExisting(
  job: LinkExistingJob,
  deps: LinkExistingDeps,
): Promise<LinkExistingProgress> {
  const { redis, keys } = deps;
  const shop = job.data.shop;
  const log = deps.logger?.child({ shop, job: 'link-existing' });
  let p = await beginRun(job, deps);

  try {
    const request = await deps.graphqlFor(shop);
    const client = await deps.clientFor(shop);
    const pager = new CustomerPager(request, deps.pager);
    if (p.total === undefined) {
      const total = await pager.count();
      if (total !== undefined) await writeProgress(redis, keys, shop, { total });
    }
    let cursor = p.cursor;
    for (;;) {
      const page = await pager.page(cursor);
      const counts = await linkPage(shop, client, page.customers, deps);
      // One atomic step per page: counters and the cursor of the next page move together.
      const tx = redis.multi();
      const key = keys.linkExisting(shop);
      tx.hincrby(key, 'done', page.customers.length);
      for (const [k, v] of Object.entries(counts)) if (v) tx.hincrby(key, k, v);
      if (page.endCursor) tx.hset(key, 'cursor', page.endCursor);
      tx.hset(key, 'updatedAt', new Date().toISOString());
      await tx.exec();
      p = await readProgress(redis, keys, shop);
      await job.updateProgress?.({ done: p.done, total: p.total });
      if (!page.hasNextPage || !page.endCursor) break;
      cursor = page.endCursor;
    }
    await writeProgress(redis, keys, shop, { state: 'done', finishedAt: new Date().toISOString() });
    p = await readProgress(redis, keys, shop);
    log?.info(
      { done: p.done, linked: p.linked, created: p.created, failed: p.failed },
      'existing customers linked',
    );
    if (deps.recordSummary !== false) {
      await deps.events?.record({
        shop,
        topic: 'admin/link-existing',
        status: 'applied',
        reason: summaryOf(p),
      });
    }
    return p;
  } catch (err) {
    const message = `Stopped at ${p.done} customers: ${(err as Error).message}. ${
      isRetryable(err) ? 'It will continue automatically.' : 'Press Start to continue from here.'
    }`;
    await writeProgress(redis, keys, shop, {
      state: isRetryable(err) ? 'running' : 'failed',
      error: message,
    });
    log?.warn({ err: (err as Error).message }, 'linking existing customers stopped');
    throw err;
  }
}
