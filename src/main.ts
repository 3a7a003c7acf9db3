import type { Server } from 'node:http';
import { pathToFileURL } from 'node:url';
import { createAdmin } from './admin/index.js';
import { type AppDeps, createApp } from './app.js';
import { type Config, ConfigError, loadConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { createMetrics } from './metrics.js';
import { createSyncQueues } from './queue/shards.js';
import { settingsStoreFromConfig } from './settings.js';
import { createShopify } from './shopify/api.js';
import { createKeys } from './store/keys.js';
import { createRedis, waitForRedis } from './store/redis.js';
import { SyncEventStore } from './sync/events.js';
import { workerDepsFromConfig } from './worker/from-config.js';
import { startWorker } from './worker/worker.js';

export type Mode = 'web' | 'all';

export interface Deps extends AppDeps {
  /** Closes the queue, then the Redis connection (in that order; the queue borrows the connection). */
  close(): Promise<void>;
}

/** Everything the web process needs, built from the configuration. Connections start connecting at once. */
export function buildDeps(config: Config, opts: { logger?: Logger; defaultMetrics?: boolean } = {}): Deps {
  const logger = opts.logger ?? createLogger({ level: config.logLevel, name: 'web' });
  const redis = createRedis(config.redis, 'request');
  // ioredis reports connection errors as events; without a listener they would crash the process.
  let lastRedisError = '';
  redis.on('error', (err: Error) => {
    if (err.message !== lastRedisError) logger.warn({ err: err.message }, 'Redis connection error');
    lastRedisError = err.message;
  });
  redis.on('ready', () => {
    if (lastRedisError) logger.info('Redis connection ready again');
    lastRedisError = '';
  });
  const keys = createKeys(config.redis.keyPrefix);
  const queue = createSyncQueues(redis, keys, config.redis.queueShards);
  queue.on('error', (err: Error) => logger.debug({ err: err.message }, 'queue connection error'));
  const metrics = createMetrics(undefined, { defaultMetrics: opts.defaultMetrics ?? false });
  const shopify = createShopify(config, { logger });
  const events = new SyncEventStore(redis, keys);
  const settings = settingsStoreFromConfig(redis, keys, config);
  return {
    config,
    logger,
    redis,
    keys,
    queue,
    shopify,
    events,
    settings,
    metrics,
    async close() {
      await queue
        .close()
        .catch((err: Error) => logger.warn({ err: err.message }, 'closing the queue failed'));
      if (redis.status === 'ready') await redis.quit().catch(() => redis.disconnect());
      else redis.disconnect();
    },
  };
}

const SHUTDOWN_GRACE_MS = 10_000;

/** Starts the web process (and, in 'all' mode, a worker in the same process); resolves once listening. */
export async function start(mode: Mode, config: Config): Promise<{ server: Server; stop(): Promise<void> }> {
  const deps = buildDeps(config, { defaultMetrics: true });
  const { logger } = deps;
  let worker: { close(): Promise<void> } | undefined;
  if (mode === 'all') {
    // The worker gets its own blocking connection (BullMQ needs maxRetriesPerRequest: null) and shares
    // the web process's metrics registry, so one /metrics shows both.
    const workerRedis = createRedis(config.redis, 'worker');
    await waitForRedis(workerRedis, 10_000);
    const workerDeps = workerDepsFromConfig(
      config,
      logger.child({ component: 'worker' }),
      workerRedis,
      deps.keys,
    );
    const running = await startWorker({ ...workerDeps, metrics: deps.metrics });
    worker = {
      async close() {
        await running.close();
        await workerRedis.quit().catch(() => workerRedis.disconnect());
      },
    };
  }
  // Listen once Redis answers, so the first webhooks are not turned away; without Redis the process still
  // starts (readiness says 503 and webhooks get 503 until it comes back).
  await waitForRedis(deps.redis, 10_000).catch((err: Error) =>
    logger.warn({ err: err.message }, 'Redis is not answering yet; serving 503 until it does'),
  );
  if (config.shopify.singleStore)
    await deps.settings.remember(config.shopify.singleStore.shop).catch(() => {});
  const admin = createAdmin(deps);
  const app = createApp({ ...deps, itretail: admin.itretail, extraRoutes: admin.mount });
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const address = server.address();
  logger.info({ mode, address }, 'listening');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      logger.info('shutting down: no new connections, finishing requests in flight');
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const force = setTimeout(() => server.closeAllConnections(), SHUTDOWN_GRACE_MS);
      await closed;
      clearTimeout(force);
      if (worker)
        await worker.close().catch((err: Error) => logger.error({ err }, 'closing the worker failed'));
      await admin.close().catch((err: Error) => logger.error({ err }, 'closing the admin failed'));
      await deps.close();
      logger.info('stopped');
    })();
    return stopping;
  };
  return { server, stop };
}

async function main(argv: string[]): Promise<void> {
  const mode = argv[2] ?? 'web';
  if (mode !== 'web' && mode !== 'all') {
    console.error(`usage: tsx src/main.ts web|all (got "${mode}")`);
    process.exit(2);
  }
  let config: Config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(1);
    }
    throw err;
  }
  let running: Awaited<ReturnType<typeof start>>;
  try {
    running = await start(mode, config);
  } catch (err) {
    console.error(`cannot start: ${(err as Error).message}`);
    process.exit(1);
  }
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(1); // a second Ctrl-C: do not wait
    running.stop().then(
      () => process.exit(0),
      (err: Error) => {
        console.error(`shutdown failed after ${signal}: ${err.message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main(process.argv);
}
