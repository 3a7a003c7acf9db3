import { createServer, type Server } from 'node:http';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type Config, loadConfig } from '../config.js';
import { createLogger } from '../logger.js';
import { createMetrics, type Metrics } from '../metrics.js';
import { settingsStoreFromConfig } from '../settings.js';
import { createKeys, type Keys } from '../store/keys.js';
import { createRedis, waitForRedis } from '../store/redis.js';
import { CATCH_UP_DEFAULTS } from '../sync/catch-up.js';
import { SyncEventStore } from '../sync/events.js';
import { jobsFromConfig } from '../sync/jobs/handlers.js';
import { type StartWorkerDeps, startWorker } from './worker.js';

/** The worker's dependencies from the configuration alone (a worker process, or the all-in-one web process). */
export function workerDepsFromConfig(
  config: Config,
  logger: Logger,
  redis: Redis,
  keys: Keys = createKeys(config.redis.keyPrefix),
): StartWorkerDeps {
  // A Put may be out for up to headers + body timeout; the locks must outlast that by far, so a holder whose
  // renewals fail (Redis out of reach) cannot lose its lock while its write is still on the way.
  const lockTtlMs = Math.max(60_000, 4 * config.itretail.timeoutMs);
  // Every job handler, with Admin API access (link-existing, catch-up, reading a compacted order back).
  const jobs = jobsFromConfig({ config, redis, keys, logger });
  return {
    handlers: jobs.handlers,
    fetchOrderSnapshot: jobs.fetchOrderSnapshot,
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
function parseWorkerFlags(argv: string[]): {
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

/** The worker process: built from the environment, stops gracefully on SIGTERM/SIGINT. */
export async function runWorkerProcess(argv: string[]): Promise<void> {
  const flags = parseWorkerFlags(argv);
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
