import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { QUEUE_COUNTS_MAX_AGE_MS, shopQueueCounts } from '../../src/admin/queue-counts.js';
import { createSyncQueues } from '../../src/queue/shards.js';
import { createKeys } from '../../src/store/keys.js';
import { createRedis, waitForRedis } from '../../src/store/redis.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('queue-counts');
const keys = createKeys(prefix);
const redis = createRedis(REDIS_URL, 'request');
// One shard: these counts are of one queue, with other shops' jobs beside the shop's.
const queue = createSyncQueues(redis, keys, 1).shards[0]!;

const addJob = (shop: string, id: string) =>
  queue.add(
    'orders/paid',
    {
      kind: 'webhook',
      shop,
      topic: 'orders/paid',
      webhookId: id,
      receivedAt: new Date().toISOString(),
      payload: { id },
    },
    { jobId: `wh|${shop}|${id}` },
  );

beforeAll(async () => {
  await waitForRedis(redis);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.useRealTimers();
});
afterAll(async () => {
  await queue.close();
  await dropPrefix(redis, prefix);
  await redis.quit();
});

describe("a shop's queue counts", () => {
  it('are counted once for callers asking together or within a few seconds, then counted afresh', async () => {
    const shop = 'cached.myshopify.com';
    await addJob(shop, '1');
    vi.useFakeTimers({ toFake: ['Date'] });
    const scripts = vi.spyOn(redis, 'eval');

    const [a, b] = await Promise.all([
      shopQueueCounts(redis, queue, shop),
      shopQueueCounts(redis, queue, shop),
    ]);
    expect(scripts).toHaveBeenCalledTimes(1);
    expect(a).toEqual({ waiting: 1, active: 0, delayed: 0, capped: false });
    expect(b).toEqual(a);

    // A new job within the reuse window does not trigger another scan…
    await addJob(shop, '2');
    vi.setSystemTime(Date.now() + QUEUE_COUNTS_MAX_AGE_MS - 1);
    expect((await shopQueueCounts(redis, queue, shop)).waiting).toBe(1);
    expect(scripts).toHaveBeenCalledTimes(1);

    // …and after it, the counts are fresh.
    vi.setSystemTime(Date.now() + 1);
    expect((await shopQueueCounts(redis, queue, shop)).waiting).toBe(2);
    expect(scripts).toHaveBeenCalledTimes(2);
  });

  it('are kept apart per shop, and counts with history also answer a caller without', async () => {
    await addJob('apart-a.myshopify.com', '1');
    vi.useFakeTimers({ toFake: ['Date'] });
    const scripts = vi.spyOn(redis, 'eval');
    const a = await shopQueueCounts(redis, queue, 'apart-a.myshopify.com', undefined, { history: true });
    const b = await shopQueueCounts(redis, queue, 'apart-b.myshopify.com', undefined, { history: true });
    expect(a).toMatchObject({ waiting: 1, failed: 0, completed: 0 });
    expect(b).toMatchObject({ waiting: 0, failed: 0, completed: 0 });
    expect(scripts).toHaveBeenCalledTimes(2);
    expect((await shopQueueCounts(redis, queue, 'apart-a.myshopify.com')).waiting).toBe(1);
    expect(scripts).toHaveBeenCalledTimes(2);
  });

  it('are not reused after a failed count', async () => {
    const shop = 'flaky.myshopify.com';
    await addJob(shop, '1');
    vi.useFakeTimers({ toFake: ['Date'] });
    const scripts = vi.spyOn(redis, 'eval').mockRejectedValueOnce(new Error('Redis went away'));
    await expect(shopQueueCounts(redis, queue, shop)).rejects.toThrow('Redis went away');
    expect((await shopQueueCounts(redis, queue, shop)).waiting).toBe(1);
    expect(scripts).toHaveBeenCalledTimes(2);
  });
});
