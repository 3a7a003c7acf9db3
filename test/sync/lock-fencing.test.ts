import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload } from '../../fakes/shopify/webhooks.js';
import { ITRetailClient } from '../../src/itretail/client.js';
import { withCustomer } from '../../src/sync/customer-writes.js';
import { WriteInFlightError } from '../../src/sync/ledger.js';
import { LockLostError } from '../../src/sync/locks.js';
import { CustomerMatcher, type SyncClient } from '../../src/sync/matching.js';
import { factsFromPaid, mergeOrderFacts, readOrderState } from '../../src/sync/order-state.js';
import { parsePayload } from '../../src/sync/payloads.js';
import { type ReconcileDeps, reconcileOrder } from '../../src/sync/reconcile.js';
import { createHarness, FAST_CLIENT, type Harness, SHOP } from '../helpers/sync-harness.js';

/**
 * The customer lock can lapse while its holder is stalled (a pause longer than the TTL, Redis out of reach
 * for the renewals). Then the holder must not Put, and a Put answer that comes back after the next holder
 * already settled that write must not be counted a second time.
 */

let h: Harness;
let client: ITRetailClient;
let d: ReconcileDeps;
let n = 0;

beforeAll(async () => {
  h = await createHarness('sync-fencing');
  client = new ITRetailClient({
    baseUrl: h.sim.url,
    credentials: { kind: 'password', username: 'demo', password: 'demo' },
    ...FAST_CLIENT,
  });
  d = {
    redis: h.redis,
    keys: h.keys,
    matcher: new CustomerMatcher(h.redis, h.keys, pino({ level: 'silent' })),
    customerLock: { ttlMs: 5_000, waitMs: 3_000 },
    orderLock: { ttlMs: 5_000, waitMs: 3_000 },
  };
});
afterAll(async () => {
  await client.close();
  await h.close();
});

async function paidOrder(email: string, subtotal: string): Promise<string> {
  const id = nextOrderId();
  const parsed = parsePayload('orders/paid', orderPayload({ id, email, subtotal }));
  if (!parsed.ok || parsed.topic !== 'orders/paid') throw new Error('fixture payload refused');
  await mergeOrderFacts(h.redis, h.keys, SHOP, id, factsFromPaid(parsed.data, 1000));
  return id;
}

function seed(points: number) {
  const email = `fence${++n}@example.com`;
  const [c] = h.sim.seedCustomers([{ FirstName: 'F', LastName: 'G', Email: email, LoyaltyPoints: points }]);
  return { email, id: c!.Id };
}

describe('customer lock fencing', () => {
  it('a holder whose lock was taken over between GetOne and Put sends no Put; the retry lands once', async () => {
    const c = seed(100);
    const orderId = await paidOrder(c.email, '25.50');
    const lockKey = h.keys.customerLock(SHOP, c.id);
    let takeOver = true;
    const hijacking: SyncClient = {
      getCustomer: async (id) => {
        const rec = await client.getCustomer(id);
        // Only the read made while holding the customer lock: that lock now passes to someone else.
        if (takeOver && (await h.redis.exists(lockKey)) === 1) {
          takeOver = false;
          await h.redis.set(lockKey, 'another-holder', 'PX', 5_000);
        }
        return rec;
      },
      updateCustomer: (r) => client.updateCustomer(r),
      createCustomer: (x) => client.createCustomer(x),
      forEachCustomer: (f) => client.forEachCustomer(f),
    };
    h.sim.clearCalls();
    await expect(
      reconcileOrder(d, SHOP, hijacking, orderId, { includeTestOrders: false }),
    ).rejects.toBeInstanceOf(LockLostError);
    expect(takeOver).toBe(false);
    expect(h.sim.callCounts().UpdateCustomer ?? 0).toBe(0);
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(100);
    expect(await h.redis.exists(h.keys.pending(SHOP, c.id))).toBe(0);
    expect((await readOrderState(h.redis, h.keys, SHOP, orderId)).appliedPoints).toBe(0);

    await h.redis.del(lockKey); // the other holder is done
    const out = await reconcileOrder(d, SHOP, client, orderId, { includeTestOrders: false });
    expect(out).toMatchObject({ status: 'applied', pointsBefore: 100, pointsDelta: 25, pointsAfter: 125 });
    expect(h.sim.callCounts().UpdateCustomer).toBe(1);
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(125);
  });

  /** A client whose first Put is answered, then `meanwhile` runs before the answer reaches the job. */
  function answeredLate(meanwhile: () => Promise<void>): SyncClient & { done: boolean } {
    const c = {
      done: false,
      getCustomer: (id: string) => client.getCustomer(id),
      updateCustomer: async (r: Parameters<SyncClient['updateCustomer']>[0]) => {
        const answer = await client.updateCustomer(r);
        if (!c.done) {
          c.done = true;
          await meanwhile();
        }
        return answer;
      },
      createCustomer: (x: Parameters<SyncClient['createCustomer']>[0]) => client.createCustomer(x),
      forEachCustomer: (f: Parameters<SyncClient['forEachCustomer']>[0]) => client.forEachCustomer(f),
    };
    return c;
  }

  it('a Put still in flight when its lock lapsed is not judged by the next holder; its 200 counts it once', async () => {
    const c = seed(40);
    const orderId = await paidOrder(c.email, '30.00');
    const lockKey = h.keys.customerLock(SHOP, c.id);
    const slow = answeredLate(async () => {
      // Our lock lapses while the answer is on its way: the next holder must not decide against the write.
      await h.redis.del(lockKey);
      await expect(withCustomer(d, SHOP, client, c.id, async () => 'wrote')).rejects.toBeInstanceOf(
        WriteInFlightError,
      );
    });
    const first = await reconcileOrder(d, SHOP, slow, orderId, { includeTestOrders: false });
    expect(slow.done).toBe(true);
    expect(first).toMatchObject({ status: 'applied', pointsDelta: 30 });
    expect((await readOrderState(h.redis, h.keys, SHOP, orderId)).appliedPoints).toBe(30);
    const again = await reconcileOrder(d, SHOP, client, orderId, { includeTestOrders: false });
    expect(again.status).toBe('skipped');
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(70);
  });

  it('a Put answer that arrives after the next holder found it landed (from Modified and points) counts once', async () => {
    const c = seed(40);
    const orderId = await paidOrder(c.email, '30.00');
    const lockKey = h.keys.customerLock(SHOP, c.id);
    const eager: ReconcileDeps = { ...d, writeInFlightMs: 0 };
    const slow = answeredLate(async () => {
      await h.redis.del(lockKey);
      await withCustomer(eager, SHOP, client, c.id, async () => undefined);
      expect(await h.redis.exists(h.keys.pending(SHOP, c.id))).toBe(0);
      expect((await readOrderState(h.redis, h.keys, SHOP, orderId)).appliedPoints).toBe(30);
    });
    await reconcileOrder(eager, SHOP, slow, orderId, { includeTestOrders: false });
    expect(slow.done).toBe(true);
    expect((await readOrderState(h.redis, h.keys, SHOP, orderId)).appliedPoints).toBe(30);
    const again = await reconcileOrder(d, SHOP, client, orderId, { includeTestOrders: false });
    expect(again.status).toBe('skipped');
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(70);
  });

  it('a register change a late-answered Put wrote over is given back, though the next holder had counted the write', async () => {
    const c = seed(40);
    const orderId = await paidOrder(c.email, '30.00');
    const lockKey = h.keys.customerLock(SHOP, c.id);
    const eager: ReconcileDeps = { ...d, writeInFlightMs: 0 };
    const slow = answeredLate(async () => {
      // The next holder finds the write landed (points as written): the record cannot show the +9 it hid.
      await h.redis.del(lockKey);
      await withCustomer(eager, SHOP, client, c.id, async () => undefined);
      expect((await readOrderState(h.redis, h.keys, SHOP, orderId)).appliedPoints).toBe(30);
    });
    // The register adds 9 after our GetOne, before our Put: the Put writes over it, its answer says so.
    const racing: SyncClient & { done: boolean } = Object.assign(Object.create(slow), {
      updateCustomer: (r: Parameters<SyncClient['updateCustomer']>[0]) => {
        if (!slow.done) h.sim.adjustPoints(c.id, 9);
        return slow.updateCustomer(r);
      },
    });
    await reconcileOrder(eager, SHOP, racing, orderId, { includeTestOrders: false });
    expect(h.sim.calls.filter((x) => x.customerId === c.id && x.overwrote).map((x) => x.overwrote)).toEqual([
      9,
    ]);
    await withCustomer(d, SHOP, client, c.id, async () => undefined);
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(40 + 30 + 9);
    expect(await h.redis.hlen(h.keys.restoreDue(SHOP, c.id))).toBe(0);
    expect((await readOrderState(h.redis, h.keys, SHOP, orderId)).appliedPoints).toBe(30);
  });

  it('a Put answered 200 counts even when its pending record was lost (Redis restarted without it)', async () => {
    const c = seed(5);
    const orderId = await paidOrder(c.email, '12.00');
    const slow = answeredLate(async () => {
      await h.redis.del(h.keys.pending(SHOP, c.id));
    });
    const out = await reconcileOrder(d, SHOP, slow, orderId, { includeTestOrders: false });
    expect(out).toMatchObject({ status: 'applied', pointsDelta: 12 });
    expect((await readOrderState(h.redis, h.keys, SHOP, orderId)).appliedPoints).toBe(12);
    const refund = await reconcileOrder(d, SHOP, client, orderId, { includeTestOrders: false });
    expect(refund.status).toBe('skipped');
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(17);
  });
});
