import { createHash } from 'node:crypto';
import calculateSlot from 'cluster-key-slot';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';
import type { RedisConfig } from '../config.js';

/**
 * Redis connections: the one factory for web, workers, BullMQ, sessions and locks. BullMQ workers need
 * `maxRetriesPerRequest: null` (blocking commands must not give up); connections used inside HTTP requests
 * fail fast instead, so the web process can answer 503 at once when Redis is down rather than hang.
 *
 * With `clusterNodes` the connection is an ioredis `Cluster`. It is typed as `Redis` for the rest of the
 * code: both speak the same commands, every multi-key command, script and transaction of the app stays in
 * one hash slot (see keys.ts), and the few things that differ (SCAN walks one node only) go through
 * `scanKeys` below.
 */
export function createRedis(
  target: string | Pick<RedisConfig, 'url' | 'clusterNodes'>,
  kind: 'request' | 'worker' = 'request',
  extra: RedisOptions = {},
): Redis {
  const base: RedisOptions =
    kind === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : {
          maxRetriesPerRequest: 1,
          enableOfflineQueue: false,
          connectTimeout: 2_000,
          commandTimeout: 3_000,
          retryStrategy: (times) => Math.min(times * 200, 2_000),
        };
  if (typeof target === 'string' || !target.clusterNodes?.length) {
    const url = typeof target === 'string' ? target : target.url;
    return new Redis(url, { lazyConnect: false, ...base, ...extra });
  }
  return createCluster(target.url, target.clusterNodes, kind, { ...base, ...extra });
}

function createCluster(
  url: string,
  nodes: { host: string; port: number }[],
  kind: 'request' | 'worker',
  perNode: RedisOptions,
): Redis {
  // REDIS_URL carries the credentials and the scheme (rediss: = TLS) for every node of the cluster.
  const u = new URL(url);
  const { enableOfflineQueue, retryStrategy, ...nodeOptions } = perNode;
  const redisOptions: RedisOptions = {
    ...nodeOptions,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
  const options: ClusterOptions = {
    redisOptions,
    lazyConnect: false,
    scaleReads: 'master',
    enableOfflineQueue: enableOfflineQueue ?? true,
    enableReadyCheck: true,
    // Managed clusters announce TLS endpoints by name; keep the name so certificates match.
    ...(u.protocol === 'rediss:' ? { dnsLookup: (address, cb) => cb(null, address) } : {}),
    clusterRetryStrategy:
      kind === 'request' ? (times) => Math.min(times * 200, 2_000) : (times) => Math.min(times * 100, 3_000),
    slotsRefreshTimeout: 2_000,
  };
  return new Cluster(nodes, options) as unknown as Redis;
}

/** True when the connection is a Redis Cluster client. */
function isCluster(redis: Redis): boolean {
  return (redis as unknown as { isCluster?: boolean }).isCluster === true;
}

/** The nodes to walk for a keyspace SCAN: the masters of a cluster, or the one Redis. */
function scanTargets(redis: Redis): Redis[] {
  return isCluster(redis) ? (redis as unknown as Cluster).nodes('master') : [redis];
}

/**
 * Calls `fn` with each batch of keys matching `pattern`, on every master of a cluster (a plain SCAN on a
 * Cluster client would walk one node only). Keys of one shop share a slot, so a shop-scoped pattern is
 * found whole on its node; the batches handed to `fn` never mix nodes.
 */
export async function scanKeys(
  redis: Redis,
  pattern: string,
  fn: (keys: string[]) => Promise<unknown> | unknown,
  count = 1000,
): Promise<void> {
  for (const node of scanTargets(redis)) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count);
      cursor = next;
      if (found.length) await fn(found);
    } while (cursor !== '0');
  }
}

/** UNLINKs keys of any slots: one command per hash slot on a cluster (a multi-key command must not span slots). */
export async function unlinkKeys(redis: Redis, keys: string[]): Promise<number> {
  if (!isCluster(redis)) return keys.length ? redis.unlink(...keys) : 0;
  const bySlot = new Map<number, string[]>();
  for (const k of keys) {
    const slot = calculateSlot(k);
    const list = bySlot.get(slot);
    if (list) list.push(k);
    else bySlot.set(slot, [k]);
  }
  let n = 0;
  for (const group of bySlot.values()) n += await redis.unlink(...group);
  return n;
}

/** Resolves once the connection is ready, or rejects after `timeoutMs`. */
export async function waitForRedis(redis: Redis, timeoutMs = 5_000): Promise<void> {
  if (redis.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`Redis not ready after ${timeoutMs} ms (status ${redis.status})`));
    }, timeoutMs);
    const onReady = () => {
      cleanup();
      resolve();
    };
    const cleanup = () => {
      clearTimeout(timer);
      redis.off('ready', onReady);
    };
    redis.on('ready', onReady);
  });
}

const shaOf = new Map<string, string>();

/** A hash as a Lua script returns HGETALL (a flat [field, value, …] list) → an object. */
export function hashFromPairs(pairs: unknown): Record<string, string> {
  const h: Record<string, string> = {};
  if (!Array.isArray(pairs)) return h;
  for (let i = 0; i + 1 < pairs.length; i += 2) h[String(pairs[i])] = String(pairs[i + 1]);
  return h;
}

/**
 * EVAL by the script's SHA1: Redis keeps every script it has run, so after the first call only the hash
 * travels (scripts of several KB otherwise are sent, and hashed by Redis, on every call). A Redis that does
 * not know the script yet (first call, restart, SCRIPT FLUSH, another cluster node) answers NOSCRIPT and the
 * script is sent once in full.
 */
export async function evalScript(
  redis: Redis,
  script: string,
  numKeys: number,
  ...args: (string | number)[]
): Promise<unknown> {
  let sha = shaOf.get(script);
  if (!sha) {
    sha = createHash('sha1').update(script).digest('hex');
    shaOf.set(script, sha);
  }
  try {
    return await redis.evalsha(sha, numKeys, ...args);
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
    return redis.eval(script, numKeys, ...args);
  }
}
