import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload, refundPayload } from '../../fakes/shopify/webhooks.js';
import { SettingsStore } from '../../src/settings.js';
import { SyncEventStore } from '../../src/sync/events.js';
import { testRedis } from '../helpers/redis.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

/**
 * Redis round trips the worker makes for an order of a customer it already knows, counted on the worker's
 * own connection by wrapping its sendCommand: one per command sent alone, one per pipeline or MULTI block,
 * one per script whatever it does inside. The job's own work is 3 round trips once the worker holds the
 * shop's settings: the order lock's script (the held settings checked against the stored ones and the
 * IT Retail throttle, the job's facts merged, the order lock and the customer's lock taken, what both guard
 * read); the intent before the Put; the commit, whose script also stores the job's sync event. BullMQ's
 * completion (moveToFinished, which also hands over the next job) makes 4. The worker's first job of a shop,
 * or its first after the settings changed, reads them first (one script with the throttle): 5.
 */

interface Sent {
  name: string;
  key: string;
  batch?: object;
}

function countCommands(redis: Redis) {
  const log: Sent[] = [];
  const r = redis as unknown as {
    sendCommand: (cmd: { name: string; args: unknown[] }, stream?: unknown, ...rest: unknown[]) => unknown;
  };
  const original = r.sendCommand.bind(redis);
  r.sendCommand = (cmd, stream, ...rest) => {
    const s = stream as { isPipeline?: boolean } | undefined;
    const args = cmd.args ?? [];
    const key = String((cmd.name === 'eval' || cmd.name === 'evalsha' ? args[2] : args[0]) ?? '');
    log.push({ name: cmd.name, key, batch: s?.isPipeline ? (s as object) : undefined });
    return original(cmd, stream, ...rest);
  };
  return log;
}

/** Round trips of `entries`: a batch (pipeline, MULTI) counts once. */
function roundTrips(entries: Sent[]): number {
  const batches = new Set<object>();
  let n = 0;
  for (const e of entries) {
    if (!e.batch) n++;
    else if (!batches.has(e.batch)) {
      batches.add(e.batch);
      n++;
    }
  }
  return n;
}

let h: Harness;
let wr: Redis;
let log: Sent[];

beforeAll(async () => {
  h = await createHarness('round-trips');
  // The worker gets a connection of its own, so only its commands are counted (the test polls on h.redis).
  wr = testRedis();
  await wr.ping();
  log = countCommands(wr);
  const settings = new SettingsStore(wr, h.keys, randomBytes(32), {
    pointsPerDollar: '1',
    allowLoopbackBaseUrl: true,
  });
  await h.start({
    redis: wr,
    connection: wr,
    settings,
    events: new SyncEventStore(wr, h.keys),
    concurrency: 1,
    // No background lock renewals or stalled checks inside the counted window.
    workerOptions: { stalledInterval: 600_000, lockDuration: 600_000 },
  });
});
afterAll(async () => {
  await h.close();
  await wr.quit();
});

/** The jobs' commands, split into BullMQ's (queue keys) and the app's. */
function split(entries: Sent[]) {
  const bull = entries.filter((e) => e.key.startsWith(h.keys.bullPrefix));
  // The IT Retail health note is written by a timer at most once per 5 s per shop, not by a job.
  const app = entries.filter((e) => !bull.includes(e) && !e.key.endsWith(':itretail-health'));
  return { bull, app };
}

describe('Redis round trips per order job', () => {
  it('an order of a linked customer: 3 of its own, and BullMQ’s completion', async () => {
    const customers = [0, 1, 2].map((i) => `rt${i}-${Date.now()}@example.com`);
    const seeded = h.sim.seedCustomers(
      customers.map((Email) => ({ FirstName: 'R', LastName: 'T', Email, LoyaltyPoints: 10 })),
    );
    // The first order of each customer finds and links it (index download, GetOne, Put).
    await h.run(
      customers.map((email) => ({
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email, subtotal: '5.00' }),
      })),
    );
    log.length = 0;
    h.sim.clearCalls();
    const orders = [...customers, ...customers].map((email) => ({ id: nextOrderId(), email }));
    const ends = await h.run(
      orders.map((o) => ({ topic: 'orders/paid', payload: orderPayload({ ...o, subtotal: '7.00' }) })),
    );
    expect(ends.map((e) => e.state)).toEqual(orders.map(() => 'completed'));
    for (const c of seeded) expect(h.sim.getCustomer(c.Id)!.LoyaltyPoints).toBe(10 + 5 + 7 + 7);
    expect(h.sim.callCounts()).toEqual({ GetCustomer: 6, UpdateCustomer: 6 });

    const { bull, app } = split(log);
    expect(roundTrips(app)).toBe(3 * orders.length);
    // Each job's own: three scripts: the order lock's, the intent (keyed by the customer's lock), the commit
    // with the job's event (keyed by the write's marker). No settings read: the worker holds them.
    expect(app.filter((e) => e.batch)).toEqual([]);
    expect(app.map((e) => `${e.name} ${e.key.split(':').at(-2)}`)).toEqual(
      orders.flatMap(() => ['evalsha order', 'evalsha cust', 'evalsha write']),
    );
    // BullMQ: one moveToFinished per job (it hands over the next job), plus taking the first and one more
    // look when the queue ran dry.
    expect(roundTrips(bull)).toBeLessThanOrEqual(orders.length + 2);
    expect((roundTrips(app) + roundTrips(bull)) / orders.length).toBeLessThanOrEqual(4.34);
  });

  it('a refund of an order already applied: the same 3', async () => {
    const email = `rt-refund-${Date.now()}@example.com`;
    const [c] = h.sim.seedCustomers([{ FirstName: 'R', LastName: 'F', Email: email, LoyaltyPoints: 0 }]);
    const orderId = nextOrderId();
    await h.run([{ topic: 'orders/paid', payload: orderPayload({ id: orderId, email, subtotal: '30.00' }) }]);
    log.length = 0;
    const [end] = await h.run([
      { topic: 'refunds/create', payload: refundPayload(orderId, '99001', '10.00') },
    ]);
    expect(end!.state).toBe('completed');
    expect(end!.returnvalue).toMatchObject({
      status: 'applied',
      pointsDelta: -10,
      shopifyCustomerId: expect.any(String),
    });
    expect(h.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(20);
    expect(roundTrips(split(log).app)).toBe(3);
    // The event was stored with the commit, once.
    const events = await h.events.list(SHOP, { topic: 'refunds/create' });
    expect(events.events.filter((e) => e.jobId === end!.id)).toHaveLength(1);
  });
});
