import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FullCustomer } from '../../src/itretail/simulator.js';
import {
  cancelledPayload,
  createHarness,
  customerPayload,
  type Harness,
  nextOrderId,
  orderPayload,
  refundPayload,
  SHOP,
} from './harness.js';
import { seeded, shuffle } from './prng.js';

/**
 * Every fault at once: 5xx, 429, hangs, writes applied then answered 500 or dropped, tokens expiring on a
 * timer, in-store point changes in the middle of the run, duplicated and shuffled deliveries. The expected
 * balances are computed here from the generated events alone.
 */

let h: Harness;
beforeAll(async () => {
  h = await createHarness('sync-chaos', { randomSeed: Number(process.env.CHAOS_SEED ?? 1234) });
  await h.start({ concurrency: 8 });
});
afterAll(async () => {
  await h.close();
});

const cents = (c: number) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;

describe('chaos', () => {
  it('ends with every balance exactly initial + Σ worth + in-store changes, one customer per email, no stray field changes', async () => {
    const rnd = seeded(Number(process.env.CHAOS_SEED ?? 99));
    const int = (k: number) => Math.floor(rnd() * k);
    const CUSTOMERS = 30;
    const people = Array.from({ length: CUSTOMERS }, (_, i) => ({
      email: `chaos${i}@example.com`,
      shopifyId: String(60_000 + i),
      existing: i < 20,
      initial: i < 20 ? int(300) : 0,
      expectedWorth: 0,
      newLastName: undefined as string | undefined,
    }));
    const seededRecords = new Map<string, FullCustomer>();
    for (const p of people.filter((x) => x.existing)) {
      const [c] = h.sim.seedCustomers([
        {
          FirstName: 'Pat',
          LastName: `Existing${p.shopifyId}`,
          Email: p.email,
          LoyaltyPoints: p.initial,
          Address1: '1 Main St',
          City: 'Springfield',
          Zip: '12345',
          Balance: 12.34,
          BalanceLimit: 100,
          Discount: 5,
          BirthDate: '1980-02-03T00:00:00',
          InstoreChargeEnabled: true,
        } as Partial<FullCustomer>,
      ]);
      seededRecords.set(p.email, c!);
    }

    type Ev = { topic: string; payload: unknown };
    const events: Ev[] = [];
    for (let o = 0; o < 110; o++) {
      const p = people[int(CUSTOMERS)]!;
      const id = nextOrderId();
      const subtotal = 100 + int(20_000);
      const spec = {
        id,
        email: p.email,
        subtotal: cents(subtotal),
        customerId: p.shopifyId,
        firstName: 'Pat',
        lastName: 'Buyer',
      };
      events.push({ topic: 'orders/paid', payload: orderPayload(spec) });
      let refunded = 0;
      const refunds = int(3);
      for (let r = 0; r < refunds; r++) {
        const amount = int(Math.floor(subtotal / 2));
        refunded += amount;
        events.push({
          topic: 'refunds/create',
          payload: refundPayload(id, String(800_000 + o * 10 + r), cents(amount)),
        });
      }
      const cancelled = rnd() < 0.2;
      if (cancelled) events.push({ topic: 'orders/cancelled', payload: cancelledPayload(spec) });
      p.expectedWorth += cancelled ? 0 : Math.floor(Math.max(0, subtotal - refunded) / 100);
    }
    for (const p of people) {
      if (!p.existing)
        events.push({
          topic: 'customers/create',
          payload: customerPayload({ id: p.shopifyId, email: p.email, firstName: 'Pat', lastName: 'New' }),
        });
      else if (rnd() < 0.4) {
        p.newLastName = `Updated${p.shopifyId}`;
        events.push({
          topic: 'customers/update',
          payload: customerPayload({
            id: p.shopifyId,
            email: p.email,
            firstName: 'Pat',
            lastName: p.newLastName,
          }),
        });
      }
    }
    const duplicated = events.filter(() => rnd() < 0.12);
    const delivered = shuffle([...events, ...duplicated], rnd);
    expect(delivered.length).toBeGreaterThan(250);

    h.sim.setFaults({
      latencyMs: 1,
      jitterMs: 3,
      errorRate: 0.05,
      throttleRate: 0.04,
      retryAfterSeconds: 0,
      hangRate: 0.02,
      writeAppliedThenErrorRate: 0.06,
      writeAppliedThenDropRate: 0.06,
    });
    const expiry = setInterval(() => h.sim.expireAllTokens(), 400);
    try {
      const half = Math.floor(delivered.length / 2);
      const firstIds = [];
      for (const e of delivered.slice(0, half)) firstIds.push(await h.add(e.topic, e.payload));
      // Mid-run, with jobs still queued and writes possibly unsettled: the register changes points.
      await h.waitFor(firstIds.slice(0, Math.floor(half / 2)), 120_000);
      await h.running!.worker.pause();
      const inStore = new Map<string, number>();
      for (const p of people.filter((x) => x.existing)) {
        if (rnd() < 0.5) {
          const d = 1 + int(50);
          h.sim.adjustPoints(seededRecords.get(p.email)!.Id, d);
          inStore.set(p.email, d);
        }
      }
      h.running!.worker.resume();
      const restIds = [];
      for (const e of delivered.slice(half)) restIds.push(await h.add(e.topic, e.payload));
      const ends = await h.waitFor([...firstIds, ...restIds], 150_000);
      const failed = ends.filter((e) => e.state !== 'completed');
      expect(failed.map((f) => f.failedReason)).toEqual([]);

      for (const p of people) {
        const live = h.sim.findByEmail(p.email).filter((c) => !c.Deleted);
        expect(live, p.email).toHaveLength(1);
        const rec = live[0]!;
        expect(rec.LoyaltyPoints, p.email).toBe(p.initial + p.expectedWorth + (inStore.get(p.email) ?? 0));
        const before = seededRecords.get(p.email);
        if (before) {
          expect(rec.Id).toBe(before.Id);
          const {
            LoyaltyPoints: _a,
            Modified: _b,
            CustomerLoyaltyPointOperations: opsAfter,
            LastName: lastAfter,
            ...restAfter
          } = rec;
          const {
            LoyaltyPoints: _c,
            Modified: _d,
            CustomerLoyaltyPointOperations: opsBefore,
            LastName: lastBefore,
            ...restBefore
          } = before;
          expect(restAfter).toEqual(restBefore);
          expect(lastAfter).toBe(p.newLastName ?? lastBefore);
          expect(opsAfter!.slice(0, opsBefore!.length)).toEqual(opsBefore);
        } else {
          // Created by the bridge (from customers/create or the first order, whichever came first) and
          // then only given points: the create's fields are all still there.
          expect(rec.FirstName, p.email).toBe('Pat');
          expect(['New', 'Buyer'], p.email).toContain(rec.LastName);
          expect(rec.Email?.toLowerCase()).toBe(p.email);
          expect(rec.CardNo, p.email).toBeTruthy();
          expect(rec.Deleted).toBe(false);
        }
      }
      expect(h.sim.listCustomers()).toHaveLength(CUSTOMERS);
      const stats = h.sim.calls.filter((c) => c.fault).length;
      expect(stats).toBeGreaterThan(20); // the faults really happened
      expect(await h.redis.keys(`${h.keys.shop(SHOP, 'pending')}:*`)).toEqual([]);
    } finally {
      clearInterval(expiry);
      h.sim.resetFaults();
    }
  }, 200_000);
});
