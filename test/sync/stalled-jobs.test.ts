import { Worker } from 'bullmq';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload } from '../../fakes/shopify/webhooks.js';
import { SYNC_QUEUE } from '../../src/queue/names.js';
import { sweepStalledFailures } from '../../src/sync/stalled-jobs.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

/**
 * A job BullMQ fails after it stalled too often is recorded by the worker that fails it. When that worker
 * dies before recording it, the periodic sweep of the failed jobs records it, once.
 */

let h: Harness;
let taker: Worker;

beforeAll(async () => {
  h = await createHarness('stalled-sweep');
  // Takes jobs by hand (no processor): a job is failed as BullMQ fails a stalled-out one, and nothing else
  // happens, as when the worker that failed it died right after.
  taker = new Worker(SYNC_QUEUE, undefined, {
    connection: h.redis,
    prefix: h.queue.forShop(SHOP).opts.prefix,
    autorun: false,
  });
});
afterAll(async () => {
  await taker.close();
  await h.close();
});

async function failed(reason: string): Promise<string> {
  const id = await h.add(
    'orders/paid',
    orderPayload({ id: nextOrderId(), email: 'stall@example.com', subtotal: '5.00' }),
    undefined,
    // Its last attempt: BullMQ fails a stalled-out job whatever attempts are left.
    { attempts: 1 },
  );
  for (;;) {
    const job = await taker.getNextJob('tok');
    if (!job) throw new Error('no job to take');
    if (job.id !== id) continue;
    await job.moveToFailed(new Error(reason), 'tok', false);
    return id;
  }
}

describe('the sweep of stalled-out jobs', () => {
  it('records a stalled-out job nobody recorded, once; other failures are left to their own record', async () => {
    const stalled = await failed('job stalled more than allowable limit');
    const other = await failed('IT Retail is not answering');
    const deps = {
      redis: h.redis,
      keys: h.keys,
      logger: pino({ level: 'silent' }),
      events: h.events,
      queues: h.queue,
    };
    expect(await sweepStalledFailures(deps)).toBe(1);
    expect(await sweepStalledFailures(deps)).toBe(0);
    const events = (await h.events.list(SHOP, {})).events;
    const mine = events.filter((e) => e.jobId === stalled);
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({ status: 'failed', errorCode: 'STALLED', topic: 'orders/paid' });
    expect(events.filter((e) => e.jobId === other)).toEqual([]);
  });
});
