import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload } from '../../fakes/shopify/webhooks.js';
import { enqueueWebhook } from '../../src/queue/enqueue.js';
import type { WebhookJobData } from '../../src/queue/jobs.js';
import { shardOfShop } from '../../src/queue/shards.js';
import { waitForRedis } from '../../src/store/redis.js';
import { TEST_QUEUE_SHARDS } from '../helpers/redis.js';
import { createHarness, type Harness } from '../helpers/sync-harness.js';

// One shop with a backlog of thousands of orders, queued through the web process's own enqueue; a quiet shop
// sends a few orders after all of them. Its orders must be done while most of the backlog still waits —
// whether it lands in another queue shard or in the same one. Order of completion is asserted, not speed.

const BACKLOG = 2_000;
const QUIET_ORDERS = 5;
const shopNamed = (prefix: string, want: (shard: number) => boolean) => {
  for (let i = 0; ; i++) {
    const shop = `${prefix}-${i}.myshopify.com`;
    if (want(shardOfShop(shop, TEST_QUEUE_SHARDS))) return shop;
  }
};
const BUSY = shopNamed('flash-sale', () => true);
const busyShard = shardOfShop(BUSY, TEST_QUEUE_SHARDS);
const OTHER_SHARD = shopNamed('corner-shop', (s) => s !== busyShard);
const SAME_SHARD = shopNamed('bakery', (s) => s === busyShard);

let h: Harness;
beforeAll(async () => {
  h = await createHarness('fairness');
  await waitForRedis(h.redis);
});
afterAll(async () => {
  await h?.close();
});

let seq = 0;
async function enqueueOrders(shop: string, n: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const data: WebhookJobData = {
      kind: 'webhook',
      shop,
      topic: 'orders/paid',
      webhookId: `fair-${++seq}`,
      receivedAt: new Date().toISOString(),
      // Guest orders: no IT Retail call, so the test measures the queue's order, not the simulator.
      payload: orderPayload({ id: nextOrderId(), email: null, subtotal: '10.00' }),
    };
    ids.push((await enqueueWebhook({ redis: h.redis, keys: h.keys, queue: h.queue }, data)).jobId);
  }
  return ids;
}

async function finishedOn(shop: string, ids: string[]): Promise<number[]> {
  const q = h.queue.forShop(shop);
  return Promise.all(ids.map(async (id) => Number((await q.getJob(id))?.finishedOn ?? Number.NaN)));
}

async function waitDone(shop: string, ids: string[], timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await Promise.all(ids.map((id) => h.queue.forShop(shop).getJobState(id)));
    if (states.every((s) => s === 'completed')) return;
    if (Date.now() > deadline) throw new Error(`quiet shop's jobs not done: ${states.join(',')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.each([
  ['in another queue shard', OTHER_SHARD],
  ['in the same queue shard', SAME_SHARD],
])('a quiet shop %s', (_label, quiet) => {
  it(`has its orders done while a shop with ${BACKLOG} queued orders still has most of them waiting`, async () => {
    expect(quiet).not.toBe(BUSY);
    const backlog = await enqueueOrders(BUSY, BACKLOG);
    const mine = await enqueueOrders(quiet, QUIET_ORDERS);
    const running = await h.start({ concurrency: 8 });
    try {
      await waitDone(quiet, mine);
      const busyDone = (await h.queue.forShop(BUSY).getJobCounts('completed')).completed ?? 0;
      // FIFO would have finished the whole backlog first.
      expect(busyDone).toBeLessThan(BACKLOG / 4);
      await waitForCount(BUSY, BACKLOG);
      const quietEnds = await finishedOn(quiet, mine);
      const busyEnds = (await finishedOn(BUSY, backlog)).sort((a, b) => a - b);
      // Every quiet order finished before the busy shop's 500th.
      expect(Math.max(...quietEnds)).toBeLessThanOrEqual(busyEnds[499]!);
    } finally {
      await running.close();
      h.running = undefined;
      await h.queue.obliterate({ force: true });
    }
  }, 120_000);
});

async function waitForCount(shop: string, n: number, timeoutMs = 90_000) {
  const deadline = Date.now() + timeoutMs;
  while (((await h.queue.forShop(shop).getJobCounts('completed')).completed ?? 0) < n) {
    if (Date.now() > deadline) throw new Error(`${shop}: fewer than ${n} jobs completed`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
