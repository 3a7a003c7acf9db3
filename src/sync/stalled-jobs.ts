import type { Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type SyncJobData, webhookPayload } from '../queue/jobs.js';
import type { Keys } from '../store/keys.js';
import type { NewSyncEvent } from './events.js';
import { looseContext } from './jobs/webhook.js';
import { type Chore, noChore, periodic } from './periodic.js';

/**
 * A job whose worker died too often while running it (BullMQ's maxStalledCount) is failed by BullMQ itself,
 * without the processor running: nothing would record it, so the merchant would never see it under Failures
 * and could not retry it. BullMQ 6 marks such a job when it finds it stalled and fails it in the worker that
 * takes it next (one of ours: only the sync workers consume the queue), which then emits 'failed' with the
 * stalled reason. Listening to the worker's own event costs nothing per job (no event-stream reads, no
 * parsing of other jobs' events); a marker per job and failure moment keeps the record single. A periodic
 * sweep of the failed jobs (scheduleStalledSweep) records what a worker that died meanwhile could not.
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
  const pending = new Set<Promise<unknown>>();
  worker.on('failed', (job, err) => {
    if (!job || err?.message !== STALLED_REASON) return;
    const p: Promise<unknown> = recordOne(deps, job)
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

/**
 * The gap the event leaves: a worker that dies between BullMQ failing the job and the record. Every
 * `everyMs` (default 10 minutes) each worker looks at the newest failed jobs of every shard and records the
 * stalled-out ones not recorded yet; the marker keeps each record single, whichever path gets there first.
 */
export function scheduleStalledSweep(deps: StalledSweepDeps & { everyMs?: number }): Chore {
  const everyMs = deps.everyMs ?? 10 * 60_000;
  if (everyMs <= 0) return noChore;
  return periodic({
    firstMs: Math.random() * everyMs,
    everyMs,
    onError: (err) => deps.logger.warn({ err }, 'looking for unrecorded stalled-out jobs failed'),
    run: async (stopped) => {
      await sweepStalledFailures(deps, stopped);
    },
  });
}

export interface StalledSweepDeps extends StalledRecorderDeps {
  queues: { shards: readonly Pick<Queue<SyncJobData>, 'getFailed'>[] };
  /** Failed jobs looked at per shard, newest first (default 200). */
  limit?: number;
}

/** One sweep (see scheduleStalledSweep); returns how many jobs it recorded. */
export async function sweepStalledFailures(
  deps: StalledSweepDeps,
  stopped: () => boolean = () => false,
): Promise<number> {
  let recorded = 0;
  for (const shard of deps.queues.shards) {
    if (stopped()) break;
    for (const job of await shard.getFailed(0, (deps.limit ?? 200) - 1)) {
      if (job?.failedReason === STALLED_REASON && (await recordOne(deps, job))) recorded++;
    }
  }
  return recorded;
}

/** Records the job's failure unless it was recorded already; true when this call recorded it. */
async function recordOne(deps: StalledRecorderDeps, job: Job<SyncJobData>): Promise<boolean> {
  const jobId = job.id!;
  const data = job.data;
  const marker = deps.keys.stalledRecorded(data.shop, `${jobId}:${job.finishedOn ?? 0}`);
  if ((await deps.redis.set(marker, '1', 'EX', 14 * 86_400, 'NX')) !== 'OK') return false;
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
  return true;
}
