import type { Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type SyncJobData, webhookPayload } from '../queue/jobs.js';
import type { Keys } from '../store/keys.js';
import type { NewSyncEvent } from './events.js';
import { looseContext } from './jobs/webhook.js';

/**
 * A job whose worker died too often while running it (BullMQ's maxStalledCount) is failed by BullMQ itself,
 * without the processor running: nothing would record it, so the merchant would never see it under Failures
 * and could not retry it. BullMQ 6 marks such a job when it finds it stalled and fails it in the worker that
 * takes it next (one of ours: only the sync workers consume the queue), which then emits 'failed' with the
 * stalled reason. Listening to the worker's own event costs nothing per job (no event-stream reads, no
 * parsing of other jobs' events); a marker per job and failure moment keeps the record single.
 */

/** BullMQ's own failedReason for a job failed after stalling more than maxStalledCount times. */
const STALLED_REASON = 'job stalled more than allowable limit';

export interface StalledRecorderDeps {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  events: { record(e: NewSyncEvent): Promise<unknown> };
}

/** Records every job `worker` fails as stalled too often; returns a promise of the recordings under way. */
export function recordStalledFailures(
  worker: Pick<Worker<SyncJobData>, 'on'>,
  deps: StalledRecorderDeps,
): { settled(): Promise<void> } {
  const pending = new Set<Promise<void>>();
  worker.on('failed', (job, err) => {
    if (!job || err?.message !== STALLED_REASON) return;
    const p = recordOne(deps, job)
      .catch((e: unknown) =>
        deps.logger.warn({ err: e, jobId: job.id }, 'recording a stalled-out job failed'),
      )
      .finally(() => pending.delete(p));
    pending.add(p);
  });
  return {
    async settled() {
      await Promise.all([...pending]);
    },
  };
}

async function recordOne(deps: StalledRecorderDeps, job: Job<SyncJobData>): Promise<void> {
  const jobId = job.id!;
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
