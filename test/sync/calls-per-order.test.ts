import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerPayload, nextOrderId, orderPayload, refundPayload } from '../../fakes/shopify/webhooks.js';
import { ITRetailClient } from '../../src/itretail/client.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { createHarness, FAST_CLIENT, type Harness, SHOP } from '../helpers/sync-harness.js';

/**
 * An order of a customer the bridge already knows costs exactly the two IT Retail calls the balance change
 * needs (GetOne, Put): the candidate from the link (or the index) is verified by that same GetOne, under
 * the customer lock. A candidate that no longer checks out (Deleted, email changed at the register) is not
 * credited: the order is matched again by email.
 */

let h: Harness;
let register: ITRetailClient;
let n = 0;
const email = () => `calls${++n}-${Date.now()}@example.com`;
const ev = (end: { returnvalue: unknown }) => end.returnvalue as SyncEvent;
const linkOf = (mail: string) => h.redis.hget(h.keys.linkEmail(SHOP), mail);
const boundTo = (orderId: string) => h.redis.hget(h.keys.order(SHOP, orderId), 'itrCustomerId');

beforeAll(async () => {
  h = await createHarness('sync-calls');
  await h.start({ concurrency: 4 });
  // Stands for a change made at the register (the POS writes the record itself).
  register = new ITRetailClient({
    baseUrl: h.sim.url,
    credentials: { kind: 'password', username: 'demo', password: 'demo' },
    ...FAST_CLIENT,
  });
});
afterAll(async () => {
  await register.close();
  await h.close();
});

async function paid(mail: string, subtotal: string, id = nextOrderId(), customerId?: string) {
  const [end] = await h.run([
    { topic: 'orders/paid', payload: orderPayload({ id, email: mail, subtotal, customerId }) },
  ]);
  expect(end!.state).toBe('completed');
  return { id, event: ev(end!) };
}

describe('IT Retail calls per order', () => {
  it('an order of an already-linked customer makes exactly 1 GetCustomer and 1 UpdateCustomer', async () => {
    const mail = email();
    const [c] = h.sim.seedCustomers([{ FirstName: 'L', LastName: 'K', Email: mail, LoyaltyPoints: 50 }]);
    await paid(mail, '10.00'); // finds and links the customer
    expect(await linkOf(mail)).toBe(c!.Id);

    h.sim.clearCalls();
    const { id, event } = await paid(mail, '25.99');
    expect(h.sim.callCounts()).toEqual({ GetCustomer: 1, UpdateCustomer: 1 });
    expect(event).toMatchObject({ status: 'applied', pointsBefore: 60, pointsDelta: 25, pointsAfter: 85 });
    expect(event.itretailCustomerId).toBe(c!.Id);
    expect(h.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(85);
    expect(await boundTo(id)).toBe(c!.Id);
  });

  it('a customer linked by customers/create, and one found only in the email index, also cost GetOne + Put', async () => {
    const linked = email();
    const indexed = email();
    const [a, b] = h.sim.seedCustomers([
      { FirstName: 'A', LastName: 'A', Email: linked, LoyaltyPoints: 0 },
      { FirstName: 'B', LastName: 'B', Email: indexed, LoyaltyPoints: 3 },
    ]);
    // Links `linked`; the index built on the way (a miss refreshes it) holds `indexed` too.
    const [created] = await h.run([
      { topic: 'customers/create', payload: customerPayload({ id: '880001', email: linked }) },
    ]);
    expect(ev(created!).itretailCustomerId).toBe(a!.Id);
    expect(await h.redis.hget(h.keys.emailIndex(SHOP), indexed)).toMatch(new RegExp(`^${b!.Id}\\|`));
    expect(await linkOf(indexed)).toBeNull();

    h.sim.clearCalls();
    await paid(linked, '4.00', nextOrderId(), '880001');
    expect(h.sim.callCounts()).toEqual({ GetCustomer: 1, UpdateCustomer: 1 });
    expect(h.sim.getCustomer(a!.Id)!.LoyaltyPoints).toBe(4);

    h.sim.clearCalls();
    await paid(indexed, '7.00', nextOrderId(), '880002');
    expect(h.sim.callCounts()).toEqual({ GetCustomer: 1, UpdateCustomer: 1 });
    expect(h.sim.getCustomer(b!.Id)!.LoyaltyPoints).toBe(10);
    // The index hit checked out, so it is linked now (email and Shopify customer).
    expect(await linkOf(indexed)).toBe(b!.Id);
    expect(await h.redis.hget(h.keys.linkCustomer(SHOP), '880002')).toBe(b!.Id);
  });
});

describe('a linked customer that no longer checks out is not credited', () => {
  it('Deleted at the register: the order goes to a new live customer, and the link moves to it', async () => {
    const mail = email();
    const [a] = h.sim.seedCustomers([{ FirstName: 'D', LastName: 'D', Email: mail, LoyaltyPoints: 0 }]);
    await paid(mail, '5.00');
    expect(await linkOf(mail)).toBe(a!.Id);
    h.sim.softDelete(a!.Id);

    const { id, event } = await paid(mail, '12.00');
    expect(h.sim.getCustomer(a!.Id)!.LoyaltyPoints).toBe(5);
    const live = h.sim.findByEmail(mail).filter((c) => !c.Deleted);
    expect(live).toHaveLength(1);
    expect(live[0]!.Id).not.toBe(a!.Id);
    expect(live[0]!.LoyaltyPoints).toBe(12);
    expect(event).toMatchObject({ status: 'applied', pointsDelta: 12, itretailCustomerId: live[0]!.Id });
    expect(await boundTo(id)).toBe(live[0]!.Id);
    expect(await linkOf(mail)).toBe(live[0]!.Id);
    expect(await h.redis.exists(h.keys.pending(SHOP, a!.Id))).toBe(0);
  });

  it('email changed at the register: the order is matched again by email; orders bound before stay with the old record', async () => {
    const mail = email();
    const moved = email();
    const [a] = h.sim.seedCustomers([{ FirstName: 'E', LastName: 'C', Email: mail, LoyaltyPoints: 100 }]);
    const first = await paid(mail, '20.00');
    expect(h.sim.getCustomer(a!.Id)!.LoyaltyPoints).toBe(120);

    const rec = await register.getCustomer(a!.Id);
    await register.updateCustomer({ ...rec!, Email: moved });

    const second = await paid(mail, '9.00');
    // Not credited to the record that no longer carries the order's email.
    expect(h.sim.getCustomer(a!.Id)!.LoyaltyPoints).toBe(120);
    const holders = h.sim.findByEmail(mail);
    expect(holders).toHaveLength(1);
    const b = holders[0]!;
    expect(b.Id).not.toBe(a!.Id);
    expect(b.LoyaltyPoints).toBe(9);
    expect(second.event).toMatchObject({ status: 'applied', itretailCustomerId: b.Id, pointsDelta: 9 });
    expect(await linkOf(mail)).toBe(b.Id);
    expect(await boundTo(second.id)).toBe(b.Id);

    // The first order's points went to the old record: its refund is taken back from there.
    await h.run([{ topic: 'refunds/create', payload: refundPayload(first.id, '77001', '5.00') }]);
    expect(h.sim.getCustomer(a!.Id)!.LoyaltyPoints).toBe(115);
    expect(h.sim.getCustomer(b.Id)!.LoyaltyPoints).toBe(9);

    // From now on, the new customer's orders cost GetOne + Put again.
    h.sim.clearCalls();
    await paid(mail, '1.00');
    expect(h.sim.callCounts()).toEqual({ GetCustomer: 1, UpdateCustomer: 1 });
    expect(h.sim.getCustomer(b.Id)!.LoyaltyPoints).toBe(10);
  });
});
