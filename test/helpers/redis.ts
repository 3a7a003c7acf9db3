import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { parseClusterNodes } from '../../src/config.js';
import { createRedis, scanKeys, unlinkKeys } from '../../src/store/redis.js';

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
/** Set (host:port seeds) when the test run targets a Redis Cluster: see scripts/with-redis.mjs. */
export const REDIS_CLUSTER_NODES = process.env.REDIS_CLUSTER_NODES || undefined;
/** Queue shards the tests use (more than one, so sharding is exercised). */
export const TEST_QUEUE_SHARDS = 4;

/** Environment for a child process of a test: the same Redis (or cluster) as the test. */
export const redisEnv = (): Record<string, string> => ({
  REDIS_URL,
  ...(REDIS_CLUSTER_NODES ? { REDIS_CLUSTER_NODES } : {}),
  SYNC_QUEUE_SHARDS: String(TEST_QUEUE_SHARDS),
});

/** A key prefix no other test file or run shares. */
export function uniquePrefix(name: string): string {
  return `t-${name}-${randomBytes(4).toString('hex')}`;
}

/** A worker-style connection to the test Redis: an ioredis Cluster when REDIS_CLUSTER_NODES is set. */
export function testRedis(): Redis {
  return createRedis(
    {
      url: REDIS_URL,
      clusterNodes: REDIS_CLUSTER_NODES ? parseClusterNodes(REDIS_CLUSTER_NODES) : undefined,
    },
    'worker',
  );
}

/** Keys matching `pattern` on every node (KEYS on a cluster client asks one node only). */
export async function keysMatching(redis: Redis, pattern: string): Promise<string[]> {
  const out: string[] = [];
  await scanKeys(redis, pattern, (found) => {
    out.push(...found);
  });
  return out;
}

/** Deletes every key under the prefix (call in afterAll). */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  await scanKeys(redis, `${prefix}:*`, (found) => unlinkKeys(redis, found));
}
