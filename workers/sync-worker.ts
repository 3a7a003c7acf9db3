import { createServer, type Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { DelayedError, type Job, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { registerLinkExistingFromConfig } from '../src/admin/link-existing.js';
import { type Config, loadConfig } from '../src/config.js';
import type { ITRetailClientOptions } from '../src/itretail/client.js';
import { createLogger } from '../src/logger.js';
import { createMetrics, type Metrics } from '../src/metrics.js';
import { type SyncJobData, webhookPayload } from '../src/queue/jobs.js';
import { SYNC_QUEUE } from '../src/queue/names.js';
import { ShardGate } from '../src/queue/shard-gate.js';
import { createSyncQueues, type SyncQueues } from '../src/queue/shards.js';
import { settingsStoreFromConfig } from '../src/settings.js';
import { createKeys, type Keys } from '../src/store/keys.js';
import { createRedis, waitForRedis } from '../src/store/redis.js';
import { attachStorefrontJobs } from '../src/storefront/worker-jobs.js';
import { CATCH_UP_DEFAULTS } from '../src/sync/catch-up.js';
import { registerCatchUpFromConfig, scheduleCatchUp } from '../src/sync/catch-up-job.js';
import { isRecovered } from '../src/sync/catch-up-state.js';
import { ClientRegistry, CredentialsMissingError } from '../src/sync/clients.js';
import { SyncEventStore } from '../src/sync/events.js';
import { ITRetailHealthRecorder } from '../src/sync/itretail-health.js';
import { CustomerMatcher } from '../src/sync/matching.js';
import { createProcessor, type SyncDeps } from '../src/sync/processor.js';
import { scheduleCompaction } from '../src/sync/retention.js';
import { recordStalledFailures } from '../src/sync/stalled-jobs.js';

/**
 * The sync worker: takes jobs off the `sync` queue and runs them through src/sync. Everything it needs is
 * passed in, so tests and the all-in-one entry can build it; run directly, it builds its dependencies from
 * the environment and stops gracefully on SIGTERM/SIGINT (active jobs finish, nothing is lost).
 */

export interface StartWorkerDeps extends Omit<SyncDeps, 'clientFor' | 'queue'> {
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
   * off, as it needs registerCatchUp), and how often each worker looks for shops that are due (default 60 s).
   */
  catchUpEveryMs?: number;
  catchUpCheckMs?: number;
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
  const clients =
    deps.clients ??
    new ClientRegistry({
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
  const matcher =
    deps.matcher ?? new CustomerMatcher(deps.redis, deps.keys, deps.logger, deps.matcherOptions);
  // The worker's own handle on the queue (redact removes finished jobs' copies of personal data; the
  // catch-up queues the orders it reads).
  const queue = deps.queue ? undefined : createSyncQueues(deps.connection, deps.keys, deps.queueShards ?? 1);
  const queues = deps.queue ?? queue!;
  const processor = createProcessor({
    ...deps,
    queue: queues,
    matcher,
    clientFor: (shop, settings) => clients.clientFor(shop, settings),
    onUninstalled: async (shop) => {
      await clients.forget(shop);
      await deps.onUninstalled?.(shop);
    },
  });
  // The web process queues a webhook's body as the text it came as; it is parsed here, once per run.
  const parsed: typeof processor = (job, token) => {
    if (job.data.kind === 'webhook') webhookPayload(job.data);
    return processor(job, token);
  };
  const run = deps.metrics
    ? measured(parsed, deps.metrics)
    : (job: Job<SyncJobData>, token?: string) => parsed(job, token);
  // Every shard has its worker; together they run at most `concurrency` jobs, shards served in turn.
  const concurrency = deps.concurrency ?? 10;
  const gate = new ShardGate(concurrency, queues.shards.length);
  const workers = queues.shards.map(
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
  for (const w of workers) w.on('error', (err) => deps.logger.error({ err }, 'sync worker error'));
  await Promise.all(workers.map((w) => w.waitUntilReady()));
  // Jobs BullMQ fails itself (stalled too often) are recorded for the merchant: one listener per shard.
  const stalled = queues.shards.map((q) =>
    recordStalledFailures({
      queue: q,
      connection: deps.connection.duplicate(),
      prefix: q.opts.prefix ?? deps.keys.bullPrefix,
      redis: deps.redis,
      keys: deps.keys,
      logger: deps.logger,
      events: deps.events,
    }),
  );
  await Promise.all(stalled.map((s) => s.ready()));
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
        await Promise.all(workers.map((w) => w.close()));
        await Promise.all(stalled.map((s) => s.close()));
        await health.flush();
        await queue?.close();
        await clients.closeAll();
      })();
      return closing;
    },
  };
}

/**
 * Every `indexRefreshMs` (first run after a random part of it, so workers started together spread out):
 * brings each installed, unpaused shop's email index up to date unless one was started within the period.
 */
function scheduleIndexRefresh(deps: StartWorkerDeps, matcher: CustomerMatcher, clients: ClientRegistry) {
  const everyMs = deps.indexRefreshMs ?? 15 * 60_000;
  let running: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const listShops = deps.settings.listShops?.bind(deps.settings);
  const runOnce = async () => {
    for (const shop of (await listShops?.()) ?? []) {
      if (stopped) return;
      try {
        const settings = await deps.settings.get(shop);
        if (!settings.installed || settings.paused) continue;
        const client = clients.clientFor(shop, settings);
        await matcher.ensureIndex(shop, client, Date.now() - everyMs);
      } catch (err) {
        if (err instanceof CredentialsMissingError) continue;
        deps.logger.warn({ shop, err }, 'scheduled customer index refresh failed');
      }
    }
  };
  const arm = (ms: number) => {
    timer = setTimeout(() => {
      running = runOnce()
        .catch((err) => deps.logger.warn({ err }, 'scheduled customer index refresh failed'))
        .finally(() => {
          running = undefined;
          if (!stopped) arm(everyMs);
        });
    }, ms);
    timer.unref();
  };
  if (everyMs > 0 && listShops) arm(Math.random() * everyMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/**
 * Counts each run of a job by its outcome: applied or skipped (recorded), failed (permanent), deferred (put
 * back without using an attempt: paused shop, 429, busy lock) or retry (will run again after backoff).
 */
function measured(processor: ReturnType<typeof createProcessor>, metrics: Metrics) {
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

export function workerDepsFromConfig(
  config: Config,
  logger: Logger,
  redis: Redis,
  keys: Keys = createKeys(config.redis.keyPrefix),
): StartWorkerDeps {
  // A Put may be out for up to headers + body timeout; the locks must outlast that by far, so a holder whose
  // renewals fail (Redis out of reach) cannot lose its lock while its write is still on the way.
  const lockTtlMs = Math.max(60_000, 4 * config.itretail.timeoutMs);
  return {
    redis,
    connection: redis,
    keys,
    logger,
    customerLock: { ttlMs: lockTtlMs },
    orderLock: { ttlMs: lockTtlMs },
    // A Put is over once its headers and body timeouts have run out; a margin covers clock skew.
    writeInFlightMs: 2 * config.itretail.timeoutMs + 5_000,
    matcherOptions: { emailLock: { ttlMs: lockTtlMs }, indexLockTtlMs: lockTtlMs },
    settings: settingsStoreFromConfig(redis, keys, config),
    events: new SyncEventStore(redis, keys),
    itretail: {
      baseUrl: config.itretail.baseUrl,
      defaultCredentials: config.itretail.defaultCredentials,
      defaultCredentialsOnlyFor: config.shopify.singleStore?.shop,
      guardShopUrls: config.nodeEnv === 'production',
      clientOptions: {
        timeouts: { headersMs: config.itretail.timeoutMs, bodyMs: config.itretail.timeoutMs },
      },
    },
    concurrency: config.workerConcurrency,
    catchUpEveryMs: CATCH_UP_DEFAULTS.everyMs,
    queueShards: config.redis.queueShards,
  };
}

/**
 * Tuning flags (not secrets, not configuration of the product, so not in the environment schema):
 *   --lock-duration-ms=N      BullMQ job lock (default 30000): how soon a dead worker's jobs are taken back
 *   --stalled-interval-ms=N   BullMQ stalled-job check period (default 30000)
 *   --lock-ttl-ms=N           TTL of the order/customer locks (default 60000): how soon a dead worker's locks free
 */
export function parseWorkerFlags(argv: string[]): {
  lockDurationMs?: number;
  stalledIntervalMs?: number;
  lockTtlMs?: number;
} {
  const out: Record<string, number> = {};
  const names: Record<string, string> = {
    'lock-duration-ms': 'lockDurationMs',
    'stalled-interval-ms': 'stalledIntervalMs',
    'lock-ttl-ms': 'lockTtlMs',
  };
  for (const arg of argv) {
    const m = /^--([a-z-]+)=(\d+)$/.exec(arg);
    const key = m ? names[m[1]!] : undefined;
    if (!m || !key) throw new Error(`unknown or malformed flag: ${arg.slice(0, 60)}`);
    out[key] = Number(m[2]);
  }
  return out;
}

/** A worker process's own /metrics (Prometheus scrapes each process; the web process serves its own). */
async function serveMetrics(metrics: Metrics, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      metrics.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body),
        () => res.writeHead(500).end(),
      );
    } else if (req.url === '/healthz') res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}

async function main(): Promise<void> {
  const flags = parseWorkerFlags(process.argv.slice(2));
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: 'sync-worker' });
  const redis = createRedis(config.redis, 'worker');
  await waitForRedis(redis, 10_000);
  const deps = workerDepsFromConfig(config, logger, redis);
  if (flags.lockTtlMs) {
    deps.customerLock = { ttlMs: flags.lockTtlMs };
    deps.orderLock = { ttlMs: flags.lockTtlMs };
    deps.matcherOptions = { emailLock: { ttlMs: flags.lockTtlMs }, indexLockTtlMs: flags.lockTtlMs };
  }
  deps.workerOptions = {
    ...(flags.lockDurationMs ? { lockDuration: flags.lockDurationMs } : {}),
    ...(flags.stalledIntervalMs ? { stalledInterval: flags.stalledIntervalMs } : {}),
  };
  registerLinkExistingFromConfig({ ...deps, config, redis });
  deps.fetchOrderSnapshot = registerCatchUpFromConfig({ ...deps, config, redis }).fetchOrderSnapshot;
  attachStorefrontJobs(deps, config);
  // A single-store custom app has no install step; make its shop known to the scheduled index refresh.
  if (config.shopify.singleStore) await deps.settings.remember?.(config.shopify.singleStore.shop);
  const metrics = createMetrics(undefined, { defaultMetrics: true });
  deps.metrics = metrics;
  const running = await startWorker(deps);
  const metricsServer = config.workerMetricsPort
    ? await serveMetrics(metrics, config.workerMetricsPort, config.host)
    : undefined;
  logger.info(
    {
      concurrency: config.workerConcurrency,
      shards: config.redis.queueShards,
      cluster: Boolean(config.redis.clusterNodes),
      metricsPort: config.workerMetricsPort || undefined,
    },
    'sync worker started',
  );
  const stop = async (signal: string) => {
    logger.info({ signal }, 'sync worker stopping');
    try {
      metricsServer?.close();
      await running.close();
      await redis.quit();
      logger.info('sync worker stopped cleanly');
    } finally {
      process.exit(0);
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    // loadConfig's message names variables, never their values.
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
