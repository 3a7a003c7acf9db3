import { DelayedError, type Job, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { ITRetailClientOptions } from '../itretail/client.js';
import type { Metrics } from '../metrics.js';
import { type SyncJobData, webhookPayload } from '../queue/jobs.js';
import { SYNC_QUEUE } from '../queue/names.js';
import { ShardGate } from '../queue/shard-gate.js';
import { createSyncQueues, type SyncQueues } from '../queue/shards.js';
import { scheduleCatchUp } from '../sync/catch-up-job.js';
import { isRecovered } from '../sync/catch-up-state.js';
import { ClientRegistry, CredentialsMissingError } from '../sync/clients.js';
import { ITRetailHealthRecorder } from '../sync/itretail-health.js';
import { buildJobHandlers } from '../sync/jobs/handlers.js';
import { createProcessor, type Processor } from '../sync/jobs/runner.js';
import type { JobHandlers, SyncDeps } from '../sync/jobs/types.js';
import { CustomerMatcher } from '../sync/matching.js';
import { type Chore, eachShopPeriodically } from '../sync/periodic.js';
import { scheduleCompaction } from '../sync/retention.js';
import { recordStalledFailures, scheduleStalledSweep } from '../sync/stalled-jobs.js';

/**
 * The sync worker: takes jobs off the `sync` queue and runs them through src/sync/jobs. Everything it needs is
 * passed in, so tests and the all-in-one entry can build it; run directly, it builds its dependencies from
 * the environment and stops gracefully on SIGTERM/SIGINT (active jobs finish, nothing is lost).
 */

export interface StartWorkerDeps extends Omit<SyncDeps, 'clientFor' | 'queue'> {
  /** What runs each job (jobs/handlers.ts; built without Shopify Admin API access when absent). */
  handlers?: JobHandlers;
  /** The sync queue's shards (built from `connection` and `queueShards` when absent). */
  queue?: SyncQueues;
  /** Number of queue shards when `queue` is absent (default 1). */
  queueShards?: number;
  /** BullMQ's connection (maxRetriesPerRequest: null). May be the same as `redis`. */
  connection: Redis;
  /** Per-shop IT Retail clients; built from `itretail` when absent. */
  clients?: ClientRegistry;
  itretail?: {
    baseUrl: string;
    defaultCredentials?: Config['itretail']['defaultCredentials'];
    /** Single-store mode: the environment's credentials serve this shop only. */
    defaultCredentialsOnlyFor?: string;
    /** Refuse private-network addresses for merchant-entered base URLs (production). */
    guardShopUrls?: boolean;
    clientOptions?: Omit<ITRetailClientOptions, 'baseUrl' | 'credentials'>;
  };
  /** Jobs this process runs at once, over all shards (default 10). */
  concurrency?: number;
  /** Extra BullMQ worker options (lockDuration, stalledInterval, maxStalledCount, …). */
  workerOptions?: Partial<WorkerOptions>;
  /** Prometheus metrics: jobs by outcome and duration, IT Retail calls by call and status. */
  metrics?: Metrics;
  /**
   * Scheduled refresh of every installed shop's email index (default every 15 min; 0 turns it off). All
   * workers run the timer; the index lock and its start time make one download per shop per period.
   */
  indexRefreshMs?: number;
  /** How often orders past each shop's retention horizon are compacted (default hourly; 0 turns it off). */
  compactionMs?: number;
  /**
   * Scheduled catch-up from the Admin API per installed shop (workerDepsFromConfig: every 15 min; unset or 0:
   * off, as it needs the catch-up handler), and how often each worker looks for shops that are due (default 60 s).
   */
  catchUpEveryMs?: number;
  catchUpCheckMs?: number;
  /** How often each worker looks for stalled-out jobs nobody recorded (default 10 min; 0 turns it off). */
  stalledSweepMs?: number;
}

export interface RunningWorker {
  /** One BullMQ worker per queue shard. */
  workers: Worker<SyncJobData>[];
  /** Stops / resumes taking new jobs from every shard. */
  pause(): Promise<void>;
  resume(): void;
  clients: ClientRegistry;
  /** Stops taking jobs, lets active ones finish, closes the IT Retail clients. */
  close(): Promise<void>;
}

export async function startWorker(deps: StartWorkerDeps): Promise<RunningWorker> {
  const health = new ITRetailHealthRecorder(deps.redis, deps.keys);
  const clients = deps.clients ?? clientRegistry(deps, health);
  const matcher =
    deps.matcher ?? new CustomerMatcher(deps.redis, deps.keys, deps.logger, deps.matcherOptions);
  // The worker's own handle on the queue (redact removes finished jobs' copies of personal data; the
  // catch-up queues the orders it reads).
  const queue = deps.queue ? undefined : createSyncQueues(deps.connection, deps.keys, deps.queueShards ?? 1);
  const queues = deps.queue ?? queue!;
  const processor = createProcessor(
    {
      ...deps,
      queue: queues,
      matcher,
      clientFor: (shop, settings) => clients.clientFor(shop, settings),
      onUninstalled: async (shop) => {
        await clients.forget(shop);
        await deps.onUninstalled?.(shop);
      },
    },
    deps.handlers ?? buildJobHandlers(),
  );
  // The web process queues a webhook's body as the text it came as; it is parsed here, once per run.
  const parsed: Processor = (job, token) => {
    if (job.data.kind === 'webhook') webhookPayload(job.data);
    return processor(job, token);
  };
  const run = deps.metrics
    ? measured(parsed, deps.metrics)
    : (job: Job<SyncJobData>, token?: string) => parsed(job, token);
  const workers = shardWorkers(deps, queues, run);
  for (const w of workers) w.on('error', (err) => deps.logger.error({ err }, 'sync worker error'));
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  // Jobs BullMQ fails itself (stalled too often) are recorded for the merchant, from each worker's own event.
  const stalled = workers.map((w) => recordStalledFailures(w, deps));
  const stalledSweep = scheduleStalledSweep({ ...deps, queues, everyMs: deps.stalledSweepMs });
  const refresher = scheduleIndexRefresh(deps, matcher, clients);
  const compactor = scheduleCompaction({ ...deps, everyMs: deps.compactionMs });
  const catchUp = scheduleCatchUp({
    ...deps,
    queue: queues,
    options: { everyMs: deps.catchUpEveryMs ?? 0 },
    checkMs: deps.catchUpCheckMs,
  });
  let closing: Promise<void> | undefined;
  return {
    workers,
    clients,
    async pause() {
      await Promise.all(workers.map((w) => w.pause()));
    },
    resume() {
      for (const w of workers) w.resume();
    },
    close() {
      closing ??= (async () => {
        await refresher.stop();
        await compactor.stop();
        await catchUp.stop();
        await stalledSweep.stop();
        await Promise.all(workers.map((w) => w.close()));
        await Promise.all(stalled.map((s) => s.settled()));
        await health.flush();
        await queue?.close();
        await clients.closeAll();
      })();
      return closing;
    },
  };
}

/** Per-shop IT Retail clients; their calls feed the shop's IT Retail health and the metrics. */
function clientRegistry(deps: StartWorkerDeps, health: ITRetailHealthRecorder): ClientRegistry {
  return new ClientRegistry({
    defaultBaseUrl: deps.itretail?.baseUrl ?? 'https://retailnext.itretail.com',
    defaultCredentials: deps.itretail?.defaultCredentials,
    defaultCredentialsOnlyFor: deps.itretail?.defaultCredentialsOnlyFor,
    guardShopUrls: deps.itretail?.guardShopUrls,
    onShopCall: (shop, e) => health.record(shop, e),
    clientOptions: {
      logger: deps.logger,
      ...(deps.metrics ? { onCall: (e) => deps.metrics?.observeITRetailCall(e) } : {}),
      ...deps.itretail?.clientOptions,
    },
    logger: deps.logger,
  });
}

/** Every shard has its worker; together they run at most `concurrency` jobs, shards served in turn. */
function shardWorkers(
  deps: StartWorkerDeps,
  queues: SyncQueues,
  run: (job: Job<SyncJobData>, token?: string) => Promise<unknown>,
): Worker<SyncJobData>[] {
  const concurrency = deps.concurrency ?? 10;
  const gate = new ShardGate(concurrency, queues.shards.length);
  return queues.shards.map(
    (q, i) =>
      new Worker<SyncJobData>(SYNC_QUEUE, (job, token) => gate.run(i, () => run(job, token)), {
        connection: deps.connection,
        prefix: q.opts.prefix,
        concurrency,
        // Processing is idempotent, so a job whose worker died may safely run again a few times.
        maxStalledCount: 5,
        ...deps.workerOptions,
      }),
  );
}

/**
 * Every `indexRefreshMs` (first run after a random part of it, so workers started together spread out):
 * brings each installed, unpaused shop's email index up to date unless one was started within the period.
 */
function scheduleIndexRefresh(
  deps: StartWorkerDeps,
  matcher: CustomerMatcher,
  clients: ClientRegistry,
): Chore {
  const everyMs = deps.indexRefreshMs ?? 15 * 60_000;
  return eachShopPeriodically({
    everyMs,
    listShops: deps.settings.listShops?.bind(deps.settings),
    onError: (err) => deps.logger.warn({ err }, 'scheduled customer index refresh failed'),
    async visit(shop) {
      try {
        const settings = await deps.settings.get(shop);
        if (!settings.installed || settings.paused) return;
        const client = clients.clientFor(shop, settings);
        await matcher.ensureIndex(shop, client, Date.now() - everyMs);
      } catch (err) {
        if (err instanceof CredentialsMissingError) return;
        deps.logger.warn({ shop, err }, 'scheduled customer index refresh failed');
      }
    },
  });
}

/**
 * Counts each run of a job by its outcome: applied or skipped (recorded), failed (permanent), deferred (put
 * back without using an attempt: paused shop, 429, busy lock) or retry (will run again after backoff).
 */
function measured(processor: Processor, metrics: Metrics) {
  return async (job: Job<SyncJobData>, token?: string) => {
    const topic = job.data.kind === 'webhook' ? job.data.topic : `admin/${job.data.kind}`;
    const end = metrics.jobDuration.startTimer({ topic });
    try {
      const event = await processor(job, token);
      const outcome = event?.status ?? 'done';
      metrics.jobsProcessed.inc({ topic, outcome });
      if (job.data.kind === 'webhook' && job.data.source === 'catch-up' && isRecovered(event?.reason)) {
        metrics.catchUpRecovered.inc({ topic });
      }
      end({ outcome });
      return event;
    } catch (err) {
      const outcome =
        err instanceof DelayedError ? 'deferred' : err instanceof UnrecoverableError ? 'failed' : 'retry';
      metrics.jobsProcessed.inc({ topic, outcome });
      end({ outcome });
      throw err;
    }
  };
}
