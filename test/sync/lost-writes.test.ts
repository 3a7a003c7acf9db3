import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload } from '../../fakes/shopify/webhooks.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

let h: Harness;
let n = 0;
const email = () => `lost${++n}-${Date.now()}@example.com`;
const ev = (end: { returnvalue: unknown }) => end.returnvalue as SyncEvent;

beforeAll(async () => {
  h = await createHarness('sync-lost');
  await h.start();
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => h.sim.resetFaults());

describe('a write applied and then answered with an error is never applied twice', () => {
  it.each([
    ['applied-then-500', { writeAppliedThenErrorRate: 1 }],
    ['applied-then-dropped connection', { writeAppliedThenDropRate: 1 }],
  ])(
    '%s on every Put: the balance moves exactly once and the job reports it applied',
    async (_name, faults) => {
      const mail = email();
      const [c] = h.sim.seedCustomers([{ FirstName: 'A', LastName: 'B', Email: mail, LoyaltyPoints: 10 }]);
      // Link first (without faults), so only the points Put meets the fault.
      await h.run([
        { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '1.00' }) },
      ]);
      h.sim.setFaults({ ...faults, calls: ['UpdateCustomer'] });
      h.sim.clearCalls();
      const [end] = await h.run([
        {
          topic: 'orders/paid',
          payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '52.38' }),
        },
      ]);
      expect(h.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(63);
      expect(h.sim.callCounts().UpdateCustomer).toBe(1);
      expect(end!.state).toBe('completed');
      expect(ev(end!)).toMatchObject({
        status: 'applied',
        pointsBefore: 11,
        pointsDelta: 52,
        pointsAfter: 63,
      });
      expect(await h.redis.exists(h.keys.pending(SHOP, c!.Id))).toBe(0);
    },
  );

  it('a create applied then answered 500 does not make a second customer', async () => {
    const mail = email();
    h.sim.setFaults({ writeAppliedThenErrorRate: 1, calls: ['CreateCustomer'] });
    const [end] = await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '8.00' }) },
    ]);
    expect(end!.state).toBe('completed');
    const found = h.sim.findByEmail(mail);
    expect(found).toHaveLength(1);
    expect(found[0]!.LoyaltyPoints).toBe(8);
  });

  it('a Put that never arrived (500 before applying) is sent again and lands once', async () => {
    const mail = email();
    const [c] = h.sim.seedCustomers([{ FirstName: 'A', LastName: 'B', Email: mail, LoyaltyPoints: 0 }]);
    await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '1.00' }) },
    ]);
    h.sim.setFaults({ errorRate: 0.6, calls: ['UpdateCustomer'] });
    const ends = await h.run(
      Array.from({ length: 6 }, () => ({
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '10.00' }),
      })),
    );
    expect(ends.every((e) => e.state === 'completed')).toBe(true);
    expect(h.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(61);
  });

  it('a hung Put (client timeout) is settled by the next holder of the lock and not doubled', async () => {
    const mail = email();
    const [c] = h.sim.seedCustomers([{ FirstName: 'A', LastName: 'B', Email: mail, LoyaltyPoints: 0 }]);
    await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '1.00' }) },
    ]);
    h.sim.setFaults({ hangRate: 0.5, writeAppliedThenDropRate: 0.3, calls: ['UpdateCustomer'] });
    const ends = await h.run(
      Array.from({ length: 5 }, () => ({
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '3.00' }),
      })),
    );
    expect(ends.every((e) => e.state === 'completed')).toBe(true);
    expect(h.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(16);
  });
});
