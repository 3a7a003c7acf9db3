/**
 * Builds the email index (CustomerMatcher.ensureIndex: GetAllCustomers streamed into Redis) in a fresh
 * process, so its peak RSS (process.resourceUsage().maxRSS) is this build's and nothing else's.
 * Environment: BENCH_SIM_URL, REDIS_URL, BENCH_PREFIX, BENCH_SHOP.
 */
import { ITRetailClient } from '../../src/itretail/client.js';
import { createKeys } from '../../src/store/keys.js';
import { CustomerMatcher } from '../../src/sync/matching.js';
import { serve } from './child.js';
import { benchRedis } from './common.js';

async function main(): Promise<void> {
  const simUrl = process.env.BENCH_SIM_URL!;
  const prefix = process.env.BENCH_PREFIX!;
  const shop = process.env.BENCH_SHOP!;
  const redis = benchRedis();
  await redis.ping();
  const keys = createKeys(prefix);
  const matcher = new CustomerMatcher(redis, keys);
  const client = new ITRetailClient({
    baseUrl: simUrl,
    credentials: { kind: 'password', username: 'demo', password: 'demo' },
  });

  serve({
    build: async () => {
      const rssBefore = process.memoryUsage().rss;
      const maxRssBefore = process.resourceUsage().maxRSS * 1024;
      const t = process.hrtime.bigint();
      const meta = await matcher.ensureIndex(shop, client, Date.now());
      const ms = Number(process.hrtime.bigint() - t) / 1e6;
      const maxRssAfter = process.resourceUsage().maxRSS * 1024;
      return {
        ms,
        count: meta.count,
        emails: meta.emails,
        rssBefore,
        maxRssBefore,
        maxRssAfter,
        peakGrowth: maxRssAfter - Math.max(rssBefore, 0),
        heapUsedAfter: process.memoryUsage().heapUsed,
      };
    },
    /** Looks each email up once, one at a time; answers µs per lookup and how many were found. */
    lookups: async (emails: string[]) => {
      for (const e of emails.slice(0, 50)) await matcher.indexLookup(shop, e); // warm
      let found = 0;
      const t = process.hrtime.bigint();
      for (const e of emails) if (await matcher.indexLookup(shop, e)) found++;
      const us = Number(process.hrtime.bigint() - t) / 1e3 / emails.length;
      return { usPerLookup: us, found };
    },
    stop: async () => {
      await client.close();
      await redis.quit();
    },
  });
}

main().catch((e) => {
  console.error(`index child failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
