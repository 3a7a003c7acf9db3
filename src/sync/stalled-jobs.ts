import { type Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type SyncJobData, webhookPayload } from '../queue/jobs.js';
import type { Keys } from '../store/keys.js';
import type { NewSyncEvent } from './events.js';
import { looseContext } from './jobs/webhook.js';

/**
 * A job whose worker died too often while running it (BullMQ's maxStalledCount) is failed by BullMQ itself,
 * without the processor running: nothing would record it, so the merchant would never see it under Failures
 * and could not retry it. This listens for those failures and records each once (every worker process
 * listens; a marker per job and failure moment makes one of them record it).
 */

/** BullMQ's own failedReason for a job moved to failed by the stalled-jobs check. */
const STALLED_REASON = 'job stalled more than allowable limit';

export interface StalledRecorderDeps {
  queue: Pick<Queue<SyncJobData>, 'getJob' | 'name'>;
  /** A connection QueueEvents may block on (it is closed with the recorder). */
  connection: Redis;
  prefix: string;
  redis: Redis;
  keys: Keys;
  logger: Logger;
  events: { record(e: NewSyncEvent): Promise<unknown> };
}

export function recordStalledFailures(deps: StalledRecorderDeps): {
  /** Resolves once the listener's connection is up (failures before that are not seen). */
  ready(): Promise<void>;
  close(): Promise<void>;
} {
  const qe = new QueueEvents(deps.queue.name, { connection: deps.connection, prefix: deps.prefix });
  qe.on('error', (err) => deps.logger.debug({ err: err.message }, 'stalled-job listener connection error'));
  qe.on('failed', ({ jobId, failedReason }) => {
    if (failedReason !== STALLED_REASON) return;
    recordOne(deps, jobId).catch((err: unknown) =>
      deps.logger.warn({ err, jobId }, 'recording a stalled-out job failed'),
    );
  });
  return {
    async ready() {
      await qe.waitUntilReady();
    },
    async close() {
      await qe.close();
    },
  };
}

async function recordOne(deps: StalledRecorderDeps, jobId: string): Promise<void> {
  const job = await deps.queue.getJob(jobId);
  if (!job) return;
  const data = job.data;
  const marker = deps.keys.stalledRecorded(data.shop, `${jobId}:${job.finishedOn ?? 0}`);
  if ((await deps.redis.set(marker, '1', 'EX', 14 * 86_400, 'NX')) !== 'OK') return;
  const topic = data.kind === 'webhook' ? data.topic : `admin/${data.kind}`;
  await deps.events.record({
    shop: data.shop,
    topic,
    jobId,
    status: 'failed',
    errorCode: 'STALLED',
    error:
      'The job was interrupted again and again (its worker stopped while running it); use Retry to run it again',
    attempts: job.attemptsStarted ?? job.attemptsMade,
    ...(data.kind === 'webhook' ? looseContext(data.topic, webhookPayload(data)) : {}),
  });
  deps.logger.warn({ shop: data.shop, topic, jobId }, 'job failed after stalling too often');
}
