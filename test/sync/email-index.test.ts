import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload } from '../../fakes/shopify/webhooks.js';
import { CustomerMatcher } from '../../src/sync/matching.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

/**
 * The email → IT Retail customer index: a burst of new buyers (every one a miss) downloads the customer
 * list once, not once per buyer; and the index is refreshed on a schedule without any miss.
 */

let h: Harness;
const matcher = () => new CustomerMatcher(h.redis, h.keys, pino({ level: 'silent' }));

beforeAll(async () => {
  h = await createHarness('sync-email-index', { faults: { latencyMs: 2, jitterMs: 4 } });
  h.sim.seedCustomers(
    Array.from({ length: 200 }, (_, i) => ({
      FirstName: 'R',
      LastName: 'S',
      Email: `known${i}@example.com`,
    })),
  );
});
afterAll(async () => {
  await h.close();
});

describe('email index refresh', () => {
  it('a burst of new buyers downloads the customer list once; a second burst right after not at all', async () => {
    await h.start({ concurrency: 8 });
    const burst = (tag: string, k: number) =>
      Array.from({ length: k }, (_, i) => ({
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: `${tag}${i}@example.com`, subtotal: '5.00' }),
      }));
    h.sim.clearCalls();
    const first = await h.run(burst('burst-a-', 24));
    expect(first.every((e) => e.state === 'completed')).toBe(true);
    expect(h.sim.callCounts().GetAllCustomers).toBe(1);
    const second = await h.run(burst('burst-b-', 12));
    expect(second.every((e) => e.state === 'completed')).toBe(true);
    expect(h.sim.callCounts().GetAllCustomers).toBe(1);
    // Every buyer got exactly one customer with the order's points.
    for (let i = 0; i < 24; i++) {
      const found = h.sim.findByEmail(`burst-a-${i}@example.com`);
      expect(found).toHaveLength(1);
      expect(found[0]!.LoyaltyPoints).toBe(5);
    }
    await h.running!.close();
  });

  it('is refreshed on a schedule for every installed shop, without a miss', async () => {
    await h.settings.markInstalled(SHOP);
    await h.redis.del(h.keys.emailIndexMeta(SHOP));
    const [late] = h.sim.seedCustomers([{ FirstName: 'L', LastName: 'T', Email: 'Late.Comer@Example.com' }]);
    h.sim.clearCalls();
    await h.start({ indexRefreshMs: 200 });
    const m = matcher();
    const deadline = Date.now() + 30_000;
    while (!(await m.indexLookup(SHOP, 'late.comer@example.com'))) {
      if (Date.now() > deadline) throw new Error('the index was never refreshed');
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await m.indexLookup(SHOP, 'late.comer@example.com'))!.id).toBe(late!.Id);
    // No job ran: the download came from the schedule.
    expect(h.sim.callCounts().GetAllCustomers).toBeGreaterThanOrEqual(1);
    expect(h.sim.callCounts().UpdateCustomer ?? 0).toBe(0);
    await h.running!.close();
  });
});
