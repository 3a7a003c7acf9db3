/**
 * Baseline worker for the throughput benchmarks: a plain BullMQ Worker on the same queue whose job is only
 * the two IT Retail calls a linked customer's order needs (GetOne, then Put of the record with the points
 * changed), found through one Redis HGET of the email link. No locks, no ledger, no events, no logging: the
 * practical ceiling of queue + HTTP client on this machine, to set the real worker against.
 * Environment as for worker-child.ts.
 */
import { type Job, Worker } from 'bullmq';
import { loadConfig } from '../../src/config.js';
import { ITRetailClient } from '../../src/itretail/client.js';
import type { SyncJobData, WebhookJobData } from '../../src/queue/jobs.js';
import { SYNC_QUEUE } from '../../src/queue/names.js';
import { createKeys } from '../../src/store/keys.js';
import { createRedis, waitForRedis } from '../../src/store/redis.js';
import { serve } from './child.js';
import { countRedisCommands, redisCommandCounts } from './redis-count.js';

async function main(): Promise<void> {
  countRedisCommands();
  const config = loadConfig();
  const keys = createKeys(config.redis.keyPrefix);
  const redis = createRedis(config.redis.url, 'worker');
  await waitForRedis(redis, 10_000);
  const client = new ITRetailClient({
    baseUrl: config.itretail.baseUrl,
    credentials: { kind: 'password', username: 'demo', password: 'demo' },
  });
  const worker = new Worker<SyncJobData>(
    SYNC_QUEUE,
    async (job: Job<SyncJobData>) => {
      const data = job.data as WebhookJobData;
      const payload = data.payload as { customer: { email: string }; current_subtotal_price: string };
      const id = await redis.hget(keys.shop(data.shop, 'link', 'email'), payload.customer.email);
      if (!id) throw new Error('not linked');
      const rec = await client.getCustomer(id);
      if (!rec) throw new Error('customer gone');
      const points = Math.floor(Number(payload.current_subtotal_price));
      await client.updateCustomer({ ...rec, LoyaltyPoints: (rec.LoyaltyPoints ?? 0) + points });
    },
    { connection: redis, prefix: keys.bullPrefix, concurrency: config.workerConcurrency },
  );
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
  console.error(`raw worker child failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
