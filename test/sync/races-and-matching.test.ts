import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelledPayload,
  customerPayload,
  nextOrderId,
  orderPayload,
  refundPayload,
} from '../../fakes/shopify/webhooks.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { readOrderState } from '../../src/sync/order-state.js';
import { GONE_REASON } from '../../src/sync/reconcile.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

let h: Harness;
let n = 0;
const email = () => `race${++n}-${Date.now()}@example.com`;
const ev = (end: { returnvalue: unknown }) => end.returnvalue as SyncEvent;

beforeAll(async () => {
  // A little latency so concurrent jobs really overlap inside IT Retail calls.
  h = await createHarness('sync-races', { faults: { latencyMs: 3, jitterMs: 5 } });
  await h.start({ concurrency: 8 });
});
afterAll(async () => {
  await h.close();
});

describe('concurrency', () => {
  it('20 orders of one customer processed at once all land (one writer per customer)', async () => {
    const mail = email();
    const [c] = h.sim.seedCustomers([{ FirstName: 'A', LastName: 'B', Email: mail, LoyaltyPoints: 1000 }]);
    const subtotals = Array.from(
      { length: 20 },
      (_, i) => `${10 + i}.${String((i * 7) % 100).padStart(2, '0')}`,
    );
    const ends = await h.run(
      subtotals.map((s) => ({
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: s }),
      })),
    );
    expect(ends.every((e) => e.state === 'completed' && ev(e).status === 'applied')).toBe(true);
    const expected = subtotals.reduce((sum, s) => sum + Math.floor(Number(s.split('.')[0])), 0);
    expect(h.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(1000 + expected);
    // Each job's recorded before/after chain adds up: no write was based on a stale read.
    const evs = ends.map(ev).sort((a, b) => a.pointsBefore! - b.pointsBefore!);
    for (let i = 1; i < evs.length; i++) expect(evs[i]!.pointsBefore).toBe(evs[i - 1]!.pointsAfter);
  });

  it('first-time buyer: customers/create and orders/paid at the same moment make exactly one IT Retail customer', async () => {
    const mails = Array.from({ length: 6 }, () => email());
    const jobs = mails.flatMap((mail, i) => [
      {
        topic: 'customers/create',
        payload: customerPayload({ id: String(3000 + i), email: mail, firstName: 'New', lastName: 'Buyer' }),
      },
      {
        topic: 'orders/paid',
        payload: orderPayload({
          id: nextOrderId(),
          email: mail,
          subtotal: '12.00',
          customerId: String(3000 + i),
        }),
      },
      {
        topic: 'customers/update',
        payload: customerPayload({ id: String(3000 + i), email: mail, firstName: 'New', lastName: 'Buyer' }),
      },
    ]);
    const ends = await h.run(jobs);
    expect(ends.every((e) => e.state === 'completed')).toBe(true);
    for (const mail of mails) {
      const found = h.sim.findByEmail(mail);
      expect(found).toHaveLength(1);
      expect(found[0]!.LoyaltyPoints).toBe(12);
    }
  });
});

describe('matching by email', () => {
  it('several live records with one email: the lowest card number wins, deleted ones never, duplicates are listed', async () => {
    const base = email();
    const [deleted, high, low] = h.sim.seedCustomers([
      { FirstName: 'D', LastName: 'D', Email: base, CardNo: '0000000000001', Deleted: true },
      { FirstName: 'H', LastName: 'H', Email: ` ${base.toUpperCase()} `, CardNo: '0000000000900' },
      { FirstName: 'L', LastName: 'L', Email: base, CardNo: '0000000000500' },
    ]);
    await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: base, subtotal: '5.00' }) },
    ]);
    expect(h.sim.getCustomer(low!.Id)!.LoyaltyPoints).toBe(5);
    expect(h.sim.getCustomer(high!.Id)!.LoyaltyPoints).toBe(0);
    expect(h.sim.getCustomer(deleted!.Id)!.LoyaltyPoints).toBe(0);
    const dups = JSON.parse((await h.redis.hget(h.keys.emailDups(SHOP), base))!);
    expect(dups.map((d: { id: string }) => d.id).sort()).toEqual([high!.Id, low!.Id].sort());
  });

  it('an email held only by a Deleted record gets a new customer', async () => {
    const mail = email();
    const [old] = h.sim.seedCustomers([
      { FirstName: 'O', LastName: 'O', Email: mail, Deleted: true, LoyaltyPoints: 77 },
    ]);
    // The index is older than this customer; a miss within the refresh window creates directly.
    await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '3.00' }) },
    ]);
    const live = h.sim.findByEmail(mail).filter((c) => !c.Deleted);
    expect(live).toHaveLength(1);
    expect(live[0]!.LoyaltyPoints).toBe(3);
    expect(h.sim.getCustomer(old!.Id)!.LoyaltyPoints).toBe(77);
  });

  it('a customer created at the register after the last index build is found, not duplicated (email taken → refresh)', async () => {
    const mail = email();
    // The index was built moments ago by the tests above; this customer is not in it.
    const [reg] = h.sim.seedCustomers([{ FirstName: 'R', LastName: 'R', Email: mail, LoyaltyPoints: 4 }]);
    await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '6.00' }) },
    ]);
    expect(h.sim.findByEmail(mail)).toHaveLength(1);
    expect(h.sim.getCustomer(reg!.Id)!.LoyaltyPoints).toBe(10);
  });

  it('a linked customer confirmed gone (GetOne null, absent from the customer list): the link is dropped and the order lands on a live customer', async () => {
    const mail = email();
    const [a] = h.sim.seedCustomers([{ FirstName: 'A', LastName: 'A', Email: mail, LoyaltyPoints: 0 }]);
    const first = nextOrderId();
    await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: first, email: mail, subtotal: '20.00' }) },
    ]);
    expect(h.sim.getCustomer(a!.Id)!.LoyaltyPoints).toBe(20);
    h.sim.hardDelete(a!.Id);

    const second = nextOrderId();
    const [end] = await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: second, email: mail, subtotal: '7.00' }) },
    ]);
    expect(ev(end!).status).toBe('applied');
    const live = h.sim.findByEmail(mail);
    expect(live).toHaveLength(1);
    expect(live[0]!.Id).not.toBe(a!.Id);
    expect(live[0]!.LoyaltyPoints).toBe(7);

    // The first order's points went with the deleted record. Its ledger is kept as it was: a refund or a
    // cancellation now changes nobody's balance (it is never re-credited in full to someone else).
    const [refund] = await h.run([
      { topic: 'refunds/create', payload: refundPayload(first, '9901', '5.00') },
    ]);
    expect(ev(refund!)).toMatchObject({ status: 'skipped', reason: GONE_REASON });
    await h.run([
      { topic: 'orders/cancelled', payload: cancelledPayload({ id: first, email: mail, subtotal: '20.00' }) },
    ]);
    expect(h.sim.getCustomer(live[0]!.Id)!.LoyaltyPoints).toBe(7);
    expect((await readOrderState(h.redis, h.keys, SHOP, first)).appliedPoints).toBe(20);
  });

  it('a soft-deleted linked customer is not given new orders', async () => {
    const mail = email();
    const [a] = h.sim.seedCustomers([{ FirstName: 'A', LastName: 'A', Email: mail, LoyaltyPoints: 0 }]);
    await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '2.00' }) },
    ]);
    h.sim.softDelete(a!.Id);
    await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '9.00' }) },
    ]);
    expect(h.sim.getCustomer(a!.Id)!.LoyaltyPoints).toBe(2);
    const live = h.sim.findByEmail(mail).filter((c) => !c.Deleted);
    expect(live).toHaveLength(1);
    expect(live[0]!.LoyaltyPoints).toBe(9);
  });
});
