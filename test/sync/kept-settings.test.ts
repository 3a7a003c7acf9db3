import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload } from '../../fakes/shopify/webhooks.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

/**
 * A worker keeps an installed, unpaused shop's settings from one order job to the next; each order job's lock
 * script compares them with the stored settings (and reads the IT Retail throttle) before it merges or locks
 * anything. These show that a change made after the settings were kept still applies to the very next job.
 */

let h: Harness;
let seq = 0;

beforeAll(async () => {
  h = await createHarness('kept-settings');
  await h.start({ concurrency: 1, pausedDelayMs: 300 });
});
afterAll(() => h.close());

const paid = (email: string, subtotal: string) => ({
  topic: 'orders/paid',
  payload: orderPayload({ id: nextOrderId(), email, subtotal }),
});

/** A customer linked by a first order (1 point), so the worker holds the shop's settings afterwards. */
async function linkedCustomer(): Promise<{ email: string; id: string }> {
  seq += 1;
  const email = `kept-${seq}-${Date.now()}@example.com`;
  const [c] = h.sim.seedCustomers([{ FirstName: 'K', LastName: 'S', Email: email, LoyaltyPoints: 0 }]);
  const [end] = await h.run([paid(email, '1.00')]);
  expect(end!.returnvalue).toMatchObject({ status: 'applied', pointsDelta: 1 });
  return { email, id: c!.Id };
}

async function stateOf(id: string, want: string, timeoutMs = 5_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let state = '';
  while (Date.now() < deadline) {
    state = await h.queue.getJobState(id);
    if (state === want) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  return state;
}

describe('settings kept by the worker', () => {
  it('a points rate saved after they were kept counts for the next order', async () => {
    const c = await linkedCustomer();
    await h.settings.update(SHOP, { pointsPerDollar: '3' });
    try {
      const [end] = await h.run([paid(c.email, '10.00')]);
      expect(end!.returnvalue).toMatchObject({ status: 'applied', pointsDelta: 30 });
      expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(31);
    } finally {
      await h.settings.update(SHOP, { pointsPerDollar: '1' });
    }
  });

  it('a change written straight into the stored settings is seen as well', async () => {
    const c = await linkedCustomer();
    await h.redis.hset(h.keys.settings(SHOP), 'pointsPerDollar', '2');
    try {
      const [end] = await h.run([paid(c.email, '10.00')]);
      expect(end!.returnvalue).toMatchObject({ status: 'applied', pointsDelta: 20 });
    } finally {
      await h.settings.update(SHOP, { pointsPerDollar: '1' });
    }
  });

  it('a pause saved after they were kept holds the next order back, with no IT Retail call', async () => {
    const c = await linkedCustomer();
    await h.settings.update(SHOP, { paused: true });
    h.sim.clearCalls();
    const id = await h.add('orders/paid', paid(c.email, '5.00').payload);
    expect(await stateOf(id, 'delayed')).toBe('delayed');
    expect(h.sim.callCounts()).toEqual({});
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(1);
    await h.settings.update(SHOP, { paused: false });
    const [end] = await h.waitFor([id]);
    expect(end!.returnvalue).toMatchObject({ status: 'applied', pointsDelta: 5 });
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(6);
  });

  it('an IT Retail throttle on the shop holds the next order back until it passes', async () => {
    const c = await linkedCustomer();
    // Long enough that a busy machine's worker still takes the job while it holds.
    await h.redis.set(h.keys.itretailThrottle(SHOP), String(Date.now() + 2_000), 'PX', 2_000);
    h.sim.clearCalls();
    const id = await h.add('orders/paid', paid(c.email, '4.00').payload);
    expect(await stateOf(id, 'delayed')).toBe('delayed');
    expect(h.sim.callCounts()).toEqual({});
    const [end] = await h.waitFor([id]);
    expect(end!.returnvalue).toMatchObject({ status: 'applied', pointsDelta: 4 });
    expect(h.sim.callCounts()).toEqual({ GetCustomer: 1, UpdateCustomer: 1 });
    // Nothing was merged into the order while the shop was held back: one job, one application.
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(5);
  });
});
