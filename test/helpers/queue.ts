import { type Job, Worker, type WorkerOptions } from 'bullmq';
import type { SyncJobData } from '../../src/queue/jobs.js';
import type { SyncQueues } from '../../src/queue/shards.js';

/** A stand-in worker over every shard of the sync queue: `fn` runs each job; events are merged. */
export function shardWorkers(
  queues: SyncQueues,
  fn: (job: Job<SyncJobData>) => Promise<unknown>,
  opts: Omit<WorkerOptions, 'prefix'>,
) {
  const workers = queues.shards.map(
    (q) => new Worker<SyncJobData>(q.name, fn, { ...opts, prefix: q.opts.prefix }),
  );
  // biome-ignore lint/suspicious/noExplicitAny: listeners of either event, as the tests write them
  type Listener = (job: any, ...rest: unknown[]) => void;
  return {
    on(event: 'failed' | 'completed', cb: Listener) {
      for (const w of workers) w.on(event as 'failed', cb as never);
    },
    off(event: 'failed' | 'completed', cb: Listener) {
      for (const w of workers) w.off(event as 'failed', cb as never);
    },
    async close() {
      await Promise.all(workers.map((w) => w.close()));
    },
  };
}
