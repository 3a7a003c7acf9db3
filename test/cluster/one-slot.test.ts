import { Queue } from 'bullmq';
import calculateSlot from 'cluster-key-slot';
import type { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardPrefix } from '../../src/queue/shards.js';
import { createKeys } from '../../src/store/keys.js';
import { waitForRedis } from '../../src/store/redis.js';
import { dropPrefix, REDIS_CLUSTER_NODES, testRedis, uniquePrefix } from '../helpers/redis.js';

// Runs in the 'cluster' project only (REDIS_CLUSTER_NODES set). The slot guard (slot-guard.*.ts) checks the
// app's own scripts and transactions over the whole cluster run; this file checks the ground it stands on:
// the cluster refuses a script or transaction over two slots, a shop's keys share one slot, and shops and
// queue shards spread over every master.

const prefix = uniquePrefix('one-slot');
const keys = createKeys(prefix);
const redis = testRedis();
const cluster = redis as unknown as Cluster;

beforeAll(async () => {
  expect(REDIS_CLUSTER_NODES, 'this file needs REDIS_CLUSTER_NODES (npm test starts a cluster)').toBeTruthy();
  await waitForRedis(redis, 10_000);
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  await redis.quit();
});

/** The master that serves `slot`. */
async function masterOf(slot: number): Promise<string> {
  const ranges = (await redis.call('CLUSTER', 'SLOTS')) as [number, number, [string, number]][];
  const r = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)!;
  return `${r[2][0]}:${r[2][1]}`;
}

describe('on a 3-master Redis Cluster', () => {
  it('refuses a script or a transaction whose keys are in two slots (what the slot guard relies on)', async () => {
    const a = keys.shop('a-shop.myshopify.com', 'x');
    const b = keys.shop('b-shop.myshopify.com', 'x');
    expect(calculateSlot(a)).not.toBe(calculateSlot(b));
    await expect(redis.eval("return redis.call('mget', KEYS[1], KEYS[2])", 2, a, b)).rejects.toThrow(
      /CROSSSLOT|same slot/,
    );
    await expect(redis.multi().set(a, '1').set(b, '1').exec()).rejects.toThrow(/CROSSSLOT|slot/i);
  });

  it("keeps one shop's keys in one slot and spreads 100 shops over every master within ±25% of the mean", async () => {
    const shop = 'corner-shop.myshopify.com';
    const slots = new Set(
      [keys.settings(shop), keys.order(shop, '1'), keys.shop(shop, 'ev', 'data')].map((k) =>
        calculateSlot(k),
      ),
    );
    expect(slots.size).toBe(1);
    const perMaster = new Map<string, number>();
    for (let i = 0; i < 100; i++) {
      const m = await masterOf(calculateSlot(keys.settings(`shop-${i}.myshopify.com`)));
      perMaster.set(m, (perMaster.get(m) ?? 0) + 1);
    }
    expect(perMaster.size).toBe(cluster.nodes('master').length);
    const mean = 100 / perMaster.size;
    for (const n of perMaster.values()) expect(Math.abs(n - mean)).toBeLessThanOrEqual(mean * 0.25);
  });

  it('puts each queue shard in one slot and the 12 default shards evenly on the masters', async () => {
    const perMaster = new Map<string, number>();
    for (let i = 0; i < 12; i++) {
      const q = new Queue('sync', { connection: redis, prefix: shardPrefix(keys, i, 12) });
      expect(
        new Set(
          [q.keys.wait, q.keys.active, q.keys.prioritized, q.toKey('job-1')].map((k) => calculateSlot(k!)),
        ).size,
      ).toBe(1);
      const m = await masterOf(calculateSlot(q.keys.wait!));
      perMaster.set(m, (perMaster.get(m) ?? 0) + 1);
      await q.close();
    }
    expect([...perMaster.values()]).toEqual([4, 4, 4]);
  });
});
