import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueAdminJob, QueueUnavailableError, queueCounts } from '../../src/queue/enqueue.js';
import { SYNC_JOB_OPTIONS } from '../../src/queue/jobs.js';
import { SYNC_QUEUE } from '../../src/queue/names.js';
import { createSyncQueues } from '../../src/queue/shards.js';
import { createKeys } from '../../src/store/keys.js';
import { createRedis, waitForRedis } from '../../src/store/redis.js';
import { dropPrefix, REDIS_URL, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('web-queue');
const keys = createKeys(prefix);
const redis = createRedis(REDIS_URL, 'request');
const queue = createSyncQueues(redis, keys, 4);

beforeAll(async () => {
  await waitForRedis(redis);
});
afterAll(async () => {
  await queue.close();
  await dropPrefix(redis, prefix);
  await redis.quit();
});

describe('the sync queue', () => {
  it('lives under the configured prefix with the retry and retention policy', async () => {
    expect(queue.forShop('a.myshopify.com').name).toBe(SYNC_QUEUE);
    const { jobId } = await enqueueAdminJob(
      { redis, queue },
      {
        kind: 'resync-customer',
        shop: 'a.myshopify.com',
        requestedAt: new Date().toISOString(),
        email: 'a@b.c',
      },
    );
    const job = await queue.getJob(jobId);
    expect(job?.name).toBe('resync-customer');
    expect(job?.data).toMatchObject({ kind: 'resync-customer', email: 'a@b.c' });
    expect(job?.opts).toMatchObject({
      attempts: SYNC_JOB_OPTIONS.attempts,
      backoff: { type: 'exponential', delay: 2000, jitter: 0.5 },
      removeOnComplete: { age: 86400, count: 10000 },
      removeOnFail: { age: 14 * 86400 },
    });
    expect(await redis.exists(`${queue.forShop('a.myshopify.com').opts.prefix}:${SYNC_QUEUE}:${jobId}`)).toBe(
      1,
    );
    expect(await queueCounts({ redis, queue })).toEqual({
      waiting: 1,
      active: 0,
      delayed: 0,
      failed: 0,
      completed: 0,
    });
  });

  it('collapses admin jobs that share a custom id and refuses ids with a colon', async () => {
    const data = {
      kind: 'link-existing' as const,
      shop: 'a.myshopify.com',
      requestedAt: new Date().toISOString(),
    };
    const first = await enqueueAdminJob({ redis, queue }, data, { jobId: 'link-existing|a.myshopify.com' });
    const second = await enqueueAdminJob({ redis, queue }, data, { jobId: 'link-existing|a.myshopify.com' });
    expect(second.jobId).toBe(first.jobId);
    expect((await queue.getJobs(['waiting'])).filter((j) => j.name === 'link-existing')).toHaveLength(1);
    await expect(enqueueAdminJob({ redis, queue }, data, { jobId: 'a:b' })).rejects.toThrow(TypeError);
  });

  it('fails at once with QueueUnavailableError when its connection is not ready', async () => {
    const closed = createRedis('redis://127.0.0.1:1', 'request', { retryStrategy: () => null });
    closed.on('error', () => {});
    const q = createSyncQueues(closed, keys, 4);
    q.on('error', () => {});
    const data = {
      kind: 'link-existing' as const,
      shop: 'a.myshopify.com',
      requestedAt: new Date().toISOString(),
    };
    await expect(enqueueAdminJob({ redis: closed, queue: q }, data)).rejects.toBeInstanceOf(
      QueueUnavailableError,
    );
    closed.disconnect();
  });
});
