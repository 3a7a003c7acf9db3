import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { nextOrderId, orderPayload, refundPayload } from '../../fakes/shopify/webhooks.js';
import { createSyncQueues, type SyncQueues } from '../../src/queue/shards.js';
import { createKeys } from '../../src/store/keys.js';
import { dropPrefix, keysMatching, TEST_QUEUE_SHARDS, testRedis, uniquePrefix } from '../helpers/redis.js';
import { exited, killChildren, startWorkerChild } from '../helpers/worker-process.js';

/**
 * The worker as its own process (`npx tsx workers/sync-worker.ts`), killed with SIGKILL in the middle of a
 * run, with Puts provably in flight (held by the simulator, some already applied), and started again: the
 * dead worker's jobs are recovered as stalled and every balance still ends exact. Then a SIGTERM during an
 * active job lets that job finish before the process exits 0.
 */

const SHOP = 'kill-shop.myshopify.com';
const prefix = uniquePrefix('worker-kill');
const keys = createKeys(prefix);
const redis = testRedis();
let sim: ITRetailSimulator;
let queue: SyncQueues;

/** `timeoutMs`: the worker's IT Retail request timeout (long enough that a held Put is still out at the kill). */
const startChild = (timeoutMs = 2000) => startWorkerChild({ prefix, itretailUrl: sim.url, timeoutMs });

async function counts() {
  return queue.getJobCounts('completed', 'failed', 'active', 'waiting', 'delayed', 'prioritized');
}

async function waitUntil(pred: () => Promise<boolean>, timeoutMs: number, what: string) {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await counts())}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  // A little latency so jobs overlap inside IT Retail calls.
  sim = await ITRetailSimulator.start({
    randomSeed: 7,
    faults: { latencyMs: 25, jitterMs: 25, calls: ['UpdateCustomer', 'GetCustomer'] },
  });
  queue = createSyncQueues(redis, keys, TEST_QUEUE_SHARDS);
});

afterAll(async () => {
  killChildren();
  await queue.obliterate({ force: true }).catch(() => undefined);
  await queue.close();
  await sim.stop();
  await dropPrefix(redis, prefix);
  await redis.quit();
});

describe('worker process killed with SIGKILL mid-run', () => {
  it('killed with Puts in flight (applied and not): stalled jobs recovered, every balance exact; SIGTERM mid-job finishes it and exits 0', async () => {
    const people = Array.from({ length: 5 }, (_, i) => ({
      email: `kill${i}@example.com`,
      initial: 10 * i,
      expected: 0,
    }));
    const recs = sim.seedCustomers(
      people.map((p) => ({ FirstName: 'K', LastName: 'L', Email: p.email, LoyaltyPoints: p.initial })),
    );
    let j = 0;
    const add = (topic: string, payload: unknown) =>
      queue.add(
        topic,
        {
          kind: 'webhook',
          shop: SHOP,
          topic,
          webhookId: `w${++j}`,
          receivedAt: new Date().toISOString(),
          payload,
        },
        { jobId: `kill-${j}`, attempts: 40, backoff: { type: 'fixed', delay: 50 } },
      );
    for (let o = 0; o < 60; o++) {
      const p = people[o % people.length]!;
      const id = nextOrderId();
      const sub = 500 + ((o * 733) % 9000);
      await add(
        'orders/paid',
        orderPayload({
          id,
          email: p.email,
          subtotal: `${Math.floor(sub / 100)}.${String(sub % 100).padStart(2, '0')}`,
        }),
      );
      if (o % 3 === 0) {
        await add('refunds/create', refundPayload(id, String(700_000 + o), '2.00'));
        p.expected += Math.floor((sub - 200) / 100);
      } else p.expected += Math.floor(sub / 100);
    }

    const t0 = Date.now();
    // Long enough that a held Put is still out at the kill; the restarted worker judges a dead worker's
    // Puts only once they cannot be in flight any more (2 × this + 5 s after their intents).
    const first = startChild(15_000);
    const pendingKeys = () => keysMatching(redis, keys.pendingPattern(SHOP));
    await waitUntil(async () => ((await counts()).completed ?? 0) >= 15, 60_000, 'the first jobs');
    // From now on every Put is held by IT Retail: for two customers after it was applied (its answer is
    // what gets lost), for the others before. The kill then lands with both kinds provably in flight.
    const appliedFirst = new Set([recs[0]!.Id, recs[1]!.Id]);
    sim.holdCalls(['UpdateCustomer'], { applyWritesFirst: (id) => id !== undefined && appliedFirst.has(id) });
    await waitUntil(
      async () => {
        const held = sim.heldCalls;
        return held.some((x) => x.applied) && held.some((x) => !x.applied);
      },
      60_000,
      'an applied and an unapplied Put held in flight',
    );
    const heldAtKill = sim.heldCalls;
    const activeAtKill = (await queue.forShop(SHOP).getActive()).map((j) => j.id!);
    process.kill(-first.pid!, 'SIGKILL');
    const killed = await exited(first);
    expect(killed.signal).toBe('SIGKILL');
    const mid = await counts();
    expect(mid.completed).toBeLessThan(80); // the kill really was mid-run
    // Every held Put left its intent unsettled: the restarted worker has to decide each one.
    const unsettled = await pendingKeys();
    for (const x of heldAtKill) expect(unsettled).toContain(keys.pending(SHOP, x.customerId!));
    expect(activeAtKill.length).toBeGreaterThanOrEqual(heldAtKill.length);
    // Their clients are gone: the unapplied Puts are dropped, the applied ones stay applied.
    sim.releaseCalls();

    const second = startChild();
    await waitUntil(
      async () => {
        const c = await counts();
        return (c.completed ?? 0) + (c.failed ?? 0) === 80;
      },
      90_000,
      'all jobs to finish after the restart',
    );
    expect((await counts()).failed).toBe(0);
    // The jobs the dead worker held were recovered as stalled and completed.
    for (const id of activeAtKill) expect(await queue.getJobState(id)).toBe('completed');
    if (process.env.TEST_TIMINGS)
      console.log(
        `run took ${Date.now() - t0} ms; at the kill: ${JSON.stringify(mid)}, held ${JSON.stringify(heldAtKill)}`,
      );

    people.forEach((p, i) => {
      expect(sim.getCustomer(recs[i]!.Id)!.LoyaltyPoints, p.email).toBe(p.initial + p.expected);
    });
    expect(await keysMatching(redis, keys.pendingPattern(SHOP))).toEqual([]);

    // SIGTERM while a job is active (its Put held by IT Retail): the worker finishes that job, then exits 0.
    sim.holdCalls(['UpdateCustomer']);
    const lastId = nextOrderId();
    await add('orders/paid', orderPayload({ id: lastId, email: people[2]!.email, subtotal: '41.99' }));
    await waitUntil(async () => sim.heldCalls.length === 1, 30_000, 'the last Put in flight');
    const output = second.output;
    // SIGTERM to the group (npx, tsx, the worker).
    process.kill(-second.pid!, 'SIGTERM');
    await waitUntil(async () => output().includes('sync worker stopping'), 10_000, 'the stop to begin');
    expect(second.exitCode).toBeNull(); // still waiting for its active job
    sim.releaseCalls();
    const stopped = await exited(second);
    expect(stopped.code).toBe(0);
    expect(output()).toContain('sync worker stopped cleanly');
    expect(await queue.getJobState(`kill-${j}`)).toBe('completed');
    expect(sim.getCustomer(recs[2]!.Id)!.LoyaltyPoints).toBe(people[2]!.initial + people[2]!.expected + 41);
    expect(await pendingKeys()).toEqual([]);
  }, 180_000);
});
