import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderPayload } from '../../fakes/shopify/webhooks.js';
import { SYNC_JOB_OPTIONS } from '../../src/queue/jobs.js';
import { createHarness, type Harness } from '../helpers/sync-harness.js';

/**
 * Finished jobs do not pile up in Redis: the queue's policy bounds them by age (and completed ones by
 * count), and the worker leaves that removal to happen. Shown here with the product's policy shortened.
 */

let h: Harness;
beforeAll(async () => {
  h = await createHarness('worker-retention');
  await h.start();
});
afterAll(async () => {
  await h.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const skipped = (i: number) => ({
  topic: 'orders/paid',
  // No email: skipped with a reason, no IT Retail call needed.
  payload: orderPayload({ id: String(9_100_000 + i), email: null, subtotal: '3.00' }),
});

describe('finished job retention', () => {
  it('the product policy bounds completed jobs by age and count and failed jobs by age', () => {
    const done = SYNC_JOB_OPTIONS.removeOnComplete as { age: number; count: number };
    const failed = SYNC_JOB_OPTIONS.removeOnFail as { age: number };
    expect(done.age).toBeGreaterThan(0);
    expect(Number.isFinite(done.age) && Number.isFinite(done.count)).toBe(true);
    expect(Number.isFinite(failed.age) && failed.age > 0).toBe(true);
  });

  it('completed jobs older than the retention age are removed; at most `count` are kept', async () => {
    const opts = { ...SYNC_JOB_OPTIONS, removeOnComplete: { age: 1, count: 1000 } };
    const old = await h.run([0, 1, 2].map(skipped), opts);
    expect(old.every((e) => e.state === 'completed')).toBe(true);
    await sleep(1100); // older than the 1 s retention; removal happens when the next job finishes
    await h.run([skipped(3)], opts);
    for (const e of old) expect(await h.queue.getJob(e.id)).toBeUndefined();

    const byCount = { ...SYNC_JOB_OPTIONS, removeOnComplete: { age: 3600, count: 2 } };
    const ids: string[] = [];
    for (const j of [4, 5, 6, 7, 8].map(skipped))
      ids.push(await h.add(j.topic, j.payload, undefined, byCount));
    // A removed job reads 'unknown'; it is removed only once finished.
    const finished = async () => {
      for (const id of ids)
        if (!['completed', 'unknown'].includes(await h.queue.getJobState(id))) return false;
      return true;
    };
    const deadline = Date.now() + 30_000;
    while (!(await finished())) {
      if (Date.now() > deadline) throw new Error('jobs did not finish');
      await sleep(50);
    }
    expect(await h.queue.getCompletedCount()).toBeLessThanOrEqual(2);
    const events = await h.events.latest('test-shop.myshopify.com', 50);
    for (const id of ids) expect(events.some((e) => e.jobId === id && e.status === 'skipped')).toBe(true);
  });
});
