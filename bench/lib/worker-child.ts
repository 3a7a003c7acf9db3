/**
 * The real sync worker (workers/sync-worker.ts startWorker, built from loadConfig like `npm run worker`) in
 * its own process. Configured by the environment (REDIS_KEY_PREFIX, ITRETAIL_*, WORKER_CONCURRENCY, LOG_LEVEL);
 * logs go to stdout (the parent discards them). Counts the Redis commands it sends.
 */
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createRedis, waitForRedis } from '../../src/store/redis.js';
import { workerDepsFromConfig } from '../../src/worker/from-config.js';
import { startWorker } from '../../src/worker/worker.js';
import { serve } from './child.js';
import { countRedisCommands, redisCommandCounts } from './redis-count.js';

async function main(): Promise<void> {
  countRedisCommands();
  const config = loadConfig();
  const logger = createLogger({ level: config.logLevel, name: 'sync-worker' });
  const redis = createRedis(config.redis, 'worker');
  await waitForRedis(redis, 10_000);
  const running = await startWorker(workerDepsFromConfig(config, logger, redis));
  serve({
    cpu: () => process.cpuUsage(),
    redisCounts: (reset?: boolean) => redisCommandCounts(reset === true),
    memory: () => process.memoryUsage(),
    stop: async () => {
      await running.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  });
}

main().catch((e) => {
  console.error(`worker child failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
