/**
 * The naive bridge's worker (bench/naive-bridge.ts) in its own process, on the run's queue: for a linked
 * customer's order, one HGET of the email link, GetOne, Put of the record with the points added. No locks,
 * no ledger, no events, no logging; with BENCH_NAIVE_EXACT=1 the floor (naiveWorker's `exact`). Environment as
 * for worker-child.ts.
 */
import { loadConfig } from '../../src/config.js';
import { ITRetailClient } from '../../src/itretail/client.js';
import { shardOfShop, shardPrefix } from '../../src/queue/shards.js';
import { createKeys } from '../../src/store/keys.js';
import { createRedis, waitForRedis } from '../../src/store/redis.js';
import { naiveWorker } from '../naive-bridge.js';
import { serve } from './child.js';
import { countRedisCommands, redisCommandCounts } from './redis-count.js';
import { BENCH_SHOP } from './shopify.js';

async function main(): Promise<void> {
  countRedisCommands();
  const config = loadConfig();
  const keys = createKeys(config.redis.keyPrefix);
  const redis = createRedis(config.redis, 'worker');
  await waitForRedis(redis, 10_000);
  const client = new ITRetailClient({
    baseUrl: config.itretail.baseUrl,
    credentials: { kind: 'password', username: 'demo', password: 'demo' },
  });
  const worker = naiveWorker({
    redis,
    // The bench shop's queue shard: the bench queues every job for that one shop.
    prefix: shardPrefix(keys, shardOfShop(BENCH_SHOP, config.redis.queueShards), config.redis.queueShards),
    linkKey: (shop) => keys.linkEmail(shop),
    client,
    concurrency: config.workerConcurrency,
    exact: process.env.BENCH_NAIVE_EXACT === '1',
  });
  await worker.waitUntilReady();
  serve({
    cpu: () => process.cpuUsage(),
    redisCounts: (reset?: boolean) => redisCommandCounts(reset === true),
    stop: async () => {
      await worker.close();
      await client.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  });
}

main().catch((e) => {
  console.error(`naive worker child failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
