import { randomBytes } from 'node:crypto';
import type { JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { AppError } from '../errors.js';
import type { Keys } from '../store/keys.js';
import { type AdminJobData, jobIdFor, type WebhookJobData } from './jobs.js';
import type { SyncQueues } from './shards.js';

/** How long a webhook's event id is remembered for deduplication (Shopify retries for ~4 h, may be a day late). */
export const DEDUPE_TTL_SECONDS = 48 * 3600;

/** How long a request waits on Redis before answering 503 (Shopify gives up after 5 s). */
export const QUEUE_TIMEOUT_MS = 2_000;

/** Redis (or the queue's connection to it) cannot take the job now; the caller answers 503. */
export class QueueUnavailableError extends AppError {
  override readonly code = 'QUEUE_UNAVAILABLE' as const;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, retryable: true });
  }
}

/** Rejects with QueueUnavailableError when `promise` has not settled within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QueueUnavailableError(`${what} timed out after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export interface EnqueueContext {
  /** The fail-fast 'request' connection, used for the dedupe keys and to tell whether Redis is up. */
  redis: Redis;
  keys: Keys;
  /** The sync queue's shards; a job goes to its shop's shard (`queue.forShop(shop)`). */
  queue: SyncQueues;
  timeoutMs?: number;
}

/**
 * Runs `fn` against Redis for a request: fails at once with QueueUnavailableError when the connection is not
 * ready, after `timeoutMs` when Redis does not answer, and maps any Redis error to QueueUnavailableError.
 */
export async function withRedis<T>(
  redis: Redis,
  what: string,
  fn: () => Promise<T>,
  timeoutMs = QUEUE_TIMEOUT_MS,
): Promise<T> {
  if (redis.status !== 'ready') throw new QueueUnavailableError(`Redis is not available (${redis.status})`);
  try {
    return await withTimeout(fn(), timeoutMs, what);
  } catch (err) {
    if (err instanceof QueueUnavailableError) throw err;
    // Connection refused, stream not writeable, command timeout: Redis cannot take it now.
    throw new QueueUnavailableError(`${what} failed: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * The Redis key (BullMQ's deduplication key, `<prefix>:<queue>:de:<id>`) remembering for DEDUPE_TTL_SECONDS
 * that one event of one shop and topic was queued. Its value is the id of the job that event became.
 */
export function dedupeKey(
  queue: Pick<Queue, 'toKey'>,
  shop: string,
  topic: string,
  eventKey: string,
): string {
  return queue.toKey(`de:${jobIdFor(shop, topic, eventKey)}`);
}

/** A job id suffix unique to this process and delivery: a random process tag and a counter. */
const PROCESS_TAG = randomBytes(4).toString('hex');
let deliverySeq = 0;

export type EnqueueWebhookResult =
  | { status: 'queued'; jobId: string }
  | { status: 'duplicate'; jobId: string };

/**
 * Puts one verified webhook on the queue, at most once per (shop, topic, event id) within
 * DEDUPE_TTL_SECONDS, in one Redis round trip: BullMQ's add script sets the deduplication key (SET NX with
 * the TTL) and stores the job in one atomic step, or — when the key is there — stores nothing and answers the
 * id of the job the event already became. So there is no moment with a job but no mark, or a mark but no
 * job. The key expires by its TTL only: finishing the job, and retention removing it, leave it in place.
 * The new job's id is the event's deterministic id (jobIdFor) plus a per-delivery suffix, so the answer
 * tells a new job from a duplicate. Throws QueueUnavailableError when Redis cannot take it.
 */
export async function enqueueWebhook(
  ctx: EnqueueContext,
  data: WebhookJobData,
): Promise<EnqueueWebhookResult> {
  const eventId = jobIdFor(data.shop, data.topic, data.eventId ?? data.webhookId);
  const jobId = `${eventId}|${PROCESS_TAG}${(++deliverySeq).toString(36)}`;
  const job = await withRedis(
    ctx.redis,
    'enqueue webhook',
    () => {
      // The shop's shard; a shop sending a burst has its surplus queued behind quieter shops.
      const priority = ctx.queue.priorityFor(data.shop);
      return ctx.queue.forShop(data.shop).add(data.topic, data, {
        jobId,
        deduplication: { id: eventId, ttl: DEDUPE_TTL_SECONDS * 1000 },
        ...(priority ? { priority } : {}),
      });
    },
    ctx.timeoutMs,
  );
  const id = String(job.id);
  return id === jobId ? { status: 'queued', jobId } : { status: 'duplicate', jobId: id };
}

/** Puts an admin action (resync a customer, link existing customers) on the queue. */
export async function enqueueAdminJob(
  ctx: Pick<EnqueueContext, 'redis' | 'queue' | 'timeoutMs'>,
  data: AdminJobData,
  opts: Pick<JobsOptions, 'jobId' | 'delay' | 'priority'> = {},
): Promise<{ jobId: string }> {
  if (opts.jobId?.includes(':')) throw new TypeError('job ids must not contain ":"');
  return withRedis(
    ctx.redis,
    'enqueue admin job',
    async () => {
      const job = await ctx.queue.forShop(data.shop).add(data.kind, data, opts);
      return { jobId: String(job.id) };
    },
    ctx.timeoutMs,
  );
}

/** Counts of the sync queue (every shard), or QueueUnavailableError when Redis cannot answer now. */
export async function queueCounts(
  ctx: Pick<EnqueueContext, 'redis' | 'queue' | 'timeoutMs'>,
): Promise<{ waiting: number; active: number; delayed: number; failed: number; completed: number }> {
  const c = await withRedis(
    ctx.redis,
    'queue counts',
    () => ctx.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'),
    ctx.timeoutMs,
  );
  return {
    // Prioritised jobs are waiting too, as far as a merchant is concerned.
    waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
    active: c.active ?? 0,
    delayed: c.delayed ?? 0,
    failed: c.failed ?? 0,
    completed: c.completed ?? 0,
  };
}
