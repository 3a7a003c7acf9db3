import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload } from '../../fakes/shopify/webhooks.js';
import { createHarness, type Harness } from '../helpers/sync-harness.js';

describe('orders/paid end to end (real Redis, simulator over HTTP, BullMQ worker)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness('sync-paid');
    await h.start();
  });
  afterAll(async () => {
    await h.close();
  });

  it('awards floor(subtotal) points to the IT Retail customer with that email, changing nothing else', async () => {
    const [c] = h.sim.seedCustomers([
      {
        FirstName: 'Ada',
        LastName: 'Lovelace',
        Email: 'Ada@Example.com',
        LoyaltyPoints: 100,
        City: 'London',
        Balance: 12.5,
      },
    ]);
    const before = h.sim.getCustomer(c!.Id)!;
    const id = nextOrderId();
    const [end] = await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id, email: ' ada@example.COM ', subtotal: '52.38' }) },
    ]);
    expect(end!.state).toBe('completed');
    const after = h.sim.getCustomer(c!.Id)!;
    expect(after.LoyaltyPoints).toBe(152);
    const { LoyaltyPoints: _a, Modified: _b, CustomerLoyaltyPointOperations: opsAfter, ...restAfter } = after;
    const {
      LoyaltyPoints: _c,
      Modified: _d,
      CustomerLoyaltyPointOperations: opsBefore,
      ...restBefore
    } = before;
    expect(restAfter).toEqual(restBefore);
    expect(opsAfter!.length).toBe(opsBefore!.length + 1);
    const ev = (await h.events.latest('test-shop.myshopify.com', 1))[0]!;
    expect(ev).toMatchObject({
      status: 'applied',
      topic: 'orders/paid',
      shopifyOrderId: id,
      itretailCustomerId: c!.Id,
      pointsBefore: 100,
      pointsDelta: 52,
      pointsAfter: 152,
    });
  });
});
