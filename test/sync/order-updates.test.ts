import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { orderEditedPayload, orderVariant, refundVariant } from '../../fakes/shopify/order-variants.js';
import { ordersNeedingRead } from '../../src/sync/order-jobs.js';
import { factsFromOrder, mergeOrderFacts, readOrderState } from '../../src/sync/order-state.js';
import { parsePayload } from '../../src/sync/payloads.js';
import { DEFAULT_POINTS_RULES, emptyOrderState, mergeFacts, worth } from '../../src/sync/points.js';
import { compactedLedger, compactOrders, DAY_MS } from '../../src/sync/retention.js';
import { seeded, shuffle } from '../helpers/prng.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

/** Order snapshots, edits, the points settings and compaction through the worker (real Redis, simulator). */

let h: Harness;
let seq = 6_100_000_000;
const T1 = '2026-05-18T09:21:44-04:00';
const T2 = '2026-05-19T12:00:00-04:00';

beforeAll(async () => {
  h = await createHarness('order-updates');
});
afterAll(async () => {
  await h.close();
});

function customer(email: string, points = 0) {
  const [c] = h.sim.seedCustomers([
    { FirstName: 'Ada', LastName: 'Byron', Email: email, LoyaltyPoints: points },
  ]);
  return c!.Id;
}

function order(id: number, email: string, spec: Omit<Parameters<typeof orderVariant>[0], 'id'>) {
  const o = orderVariant({ id, ...spec });
  const customer = {
    ...(o.customer as object),
    id: id + 1,
    admin_graphql_api_id: `gid://shopify/Customer/${id + 1}`,
    email,
  };
  return { ...o, email, contact_email: email, customer };
}

const balance = (itrId: string) => h.sim.getCustomer(itrId)?.LoyaltyPoints;

describe('through the worker', () => {
  beforeAll(async () => {
    await h.start({ compactionMs: 0 });
  });

  it('orders/updated after an edit moves the balance; orders/edited alone changes nothing and says why', async () => {
    const id = ++seq;
    const email = `edit-${id}@example.com`;
    const itr = customer(email, 100);
    await h.run([
      {
        topic: 'orders/paid',
        payload: order(id, email, { lines: [{ price: '40.00' }], subtotal: '40.00', updatedAt: T1 }),
      },
    ]);
    expect(balance(itr)).toBe(140);
    const [edited] = await h.run([{ topic: 'orders/edited', payload: orderEditedPayload(id, [77], []) }]);
    expect(edited!.state).toBe('completed');
    const ev = (await h.events.latest(SHOP, 1))[0]!;
    expect(ev).toMatchObject({ status: 'skipped', topic: 'orders/edited', shopifyOrderId: String(id) });
    expect(ev.reason).toMatch(/1 lines added.*orders\/updated/);
    const after = order(id, email, {
      lines: [{ price: '40.00' }, { price: '15.00' }],
      subtotal: '55.00',
      updatedAt: T2,
    });
    await h.run([{ topic: 'orders/updated', payload: after }]);
    expect(balance(itr)).toBe(155); // 100 + 40 + 15
    // The older paid payload delivered again changes nothing.
    await h.run([
      {
        topic: 'orders/paid',
        payload: order(id, email, { lines: [{ price: '40.00' }], subtotal: '40.00', updatedAt: T1 }),
      },
    ]);
    expect(balance(itr)).toBe(155);
  });

  it('an orders/paid that is already cancelled earns nothing; a KWD order earns exactly', async () => {
    const id = ++seq;
    const email = `kwd-${id}@example.com`;
    const itr = customer(email, 0);
    await h.run([
      {
        topic: 'orders/paid',
        payload: order(id, email, { lines: [{ price: '9.00' }], subtotal: '9.00', cancelledAt: T2 }),
      },
    ]);
    expect(balance(itr)).toBe(0);
    await h.run([
      {
        topic: 'orders/paid',
        payload: order(++seq, email, { currency: 'KWD', lines: [{ price: '12.345' }], subtotal: '12.345' }),
      },
    ]);
    expect(balance(itr)).toBe(12);
  });

  it('the points settings in force at payment stay with the order', async () => {
    const id = ++seq;
    const email = `rules-${id}@example.com`;
    const itr = customer(email, 0);
    const spec = {
      currency: 'AUD',
      taxesIncluded: true,
      lines: [
        { price: '88.00', tax: '8.00' },
        { price: '22.00', tax: '2.00' },
      ],
      subtotal: '110.00',
    };
    await h.run([{ topic: 'orders/paid', payload: order(id, email, spec) }]);
    expect(balance(itr)).toBe(100); // 110.00 less 10.00 GST
    await h.settings.update(SHOP, { excludeTax: false });
    const r = refundVariant({
      id: 4401,
      orderId: id,
      currency: 'AUD',
      lines: [{ subtotal: '22.00', tax: '2.00' }],
    });
    await h.run([{ topic: 'refunds/create', payload: r }]);
    expect(balance(itr)).toBe(80); // still without tax: 100 − 20
    await h.settings.update(SHOP, { excludeTax: true });
  });

  it('a compacted order: a snapshot restores it; a refund waits for an Admin API read, then continues exactly', async () => {
    const id = ++seq;
    const email = `compact-${id}@example.com`;
    const itr = customer(email, 0);
    const paidPayload = order(id, email, { lines: [{ price: '40.00' }], subtotal: '40.00', updatedAt: T1 });
    await h.run([{ topic: 'orders/paid', payload: paidPayload }]);
    expect(balance(itr)).toBe(40);
    const r = await compactOrders(h.redis, h.keys, SHOP, {
      horizonMs: 400 * DAY_MS,
      nowMs: Date.now() + 401 * DAY_MS,
    });
    expect(r.compacted).toBeGreaterThanOrEqual(1);
    expect(await h.redis.exists(h.keys.order(SHOP, String(id)))).toBe(0);
    expect(await h.redis.sismember(h.keys.ordersByEmail(SHOP, email), String(id))).toBe(0);
    expect(await compactedLedger(h.redis, h.keys, SHOP, String(id))).toMatchObject({
      appliedPoints: 40,
      itrCustomerId: itr,
      rateMilli: 1000,
      paid: true,
    });
    // A refund alone cannot continue: it is skipped with the reason, and the order is listed for a read.
    const refund = refundVariant({ id: 4501, orderId: id, lines: [{ subtotal: '10.00' }] });
    await h.run([{ topic: 'refunds/create', payload: refund }]);
    expect(balance(itr)).toBe(40);
    expect((await h.events.latest(SHOP, 1))[0]?.reason).toMatch(/compacted.*Admin API/);
    expect(await ordersNeedingRead(h.redis, h.keys, SHOP)).toContain(String(id));

    // With the read available (here: the order as Shopify would answer it), the refund continues: −10.
    await h.running?.close();
    const asShopifyHasIt = order(id, email, {
      lines: [{ price: '40.00' }],
      subtotal: '30.00',
      updatedAt: T2,
      refunds: [refund],
    });
    const reads: string[] = [];
    await h.start({
      compactionMs: 0,
      fetchOrderSnapshot: async (_shop, orderId) => {
        reads.push(orderId);
        return asShopifyHasIt;
      },
    });
    await h.run([{ topic: 'refunds/create', payload: refund }]);
    expect(reads).toEqual([String(id)]);
    expect(balance(itr)).toBe(30);
    expect(await ordersNeedingRead(h.redis, h.keys, SHOP)).not.toContain(String(id));
    const state = await readOrderState(h.redis, h.keys, SHOP, String(id));
    expect(state).toMatchObject({ appliedPoints: 30, itrCustomerId: itr });

    // Compacted again, an orders/updated restores it by itself (no read): a later edit to 45.00 → +15.
    await compactOrders(h.redis, h.keys, SHOP, { horizonMs: 400 * DAY_MS, nowMs: Date.now() + 401 * DAY_MS });
    expect(await h.redis.exists(h.keys.order(SHOP, String(id)))).toBe(0);
    const edited = order(id, email, {
      lines: [{ price: '40.00' }, { price: '15.00' }],
      subtotal: '45.00',
      updatedAt: '2027-07-01T10:00:00Z',
      refunds: [refund],
    });
    await h.run([{ topic: 'orders/updated', payload: edited }]);
    expect(balance(itr)).toBe(45);
    expect(reads).toHaveLength(1);
  });
});

describe('the Redis merge', () => {
  it('merges snapshots, refunds and cancellation in any order and repeat to the pure fold’s state', async () => {
    const rnd = seeded(4242);
    const T = (d: number) => `2026-06-${String(d).padStart(2, '0')}T10:00:00Z`;
    for (let round = 0; round < 20; round++) {
      const id = String(++seq);
      const r1 = refundVariant({ id: 5000 + round * 3, lines: [{ subtotal: '5.00' }] });
      const r2 = refundVariant({ id: 5001 + round * 3, lines: [{ subtotal: '2.50' }] });
      const events = [
        ['orders/paid', orderVariant({ lines: [{ price: '40.00' }], subtotal: '40.00', updatedAt: T(1) })],
        ['orders/updated', orderVariant({ lines: [{ price: '60.00' }], subtotal: '60.00', updatedAt: T(2) })],
        [
          'orders/updated',
          orderVariant({ lines: [{ price: '60.00' }], subtotal: '55.00', updatedAt: T(3), refunds: [r1] }),
        ],
        ['refunds/create', r1],
        ['refunds/create', r2],
      ] as const;
      const cancelled = rnd() < 0.3;
      const all: (readonly [string, unknown])[] = [...events];
      if (cancelled)
        all.push([
          'orders/cancelled',
          orderVariant({ lines: [], subtotal: '0.00', updatedAt: T(4), cancelledAt: T(4) }),
        ]);
      const facts = all.map(([topic, body]) => {
        const p = parsePayload(topic, body);
        if (!p.ok) throw new Error(p.error);
        if (p.topic === 'refunds/create') return { refunds: { [p.data.id]: p.data.amounts } };
        if (p.topic === 'orders/paid' || p.topic === 'orders/updated' || p.topic === 'orders/cancelled')
          return factsFromOrder(
            p.data,
            { rateMilli: 1000, rules: DEFAULT_POINTS_RULES },
            p.topic === 'orders/paid',
          );
        throw new Error('unexpected');
      });
      const expected = worth(facts.reduce(mergeFacts, emptyOrderState()), false);
      // 60.00 − 5.00 (listed in the newest snapshot) − 2.50 (not listed) = 52.50 → 52; cancelled → 0.
      expect(expected).toBe(cancelled ? 0 : 52);
      const delivered = shuffle(
        facts.flatMap((f) => (rnd() < 0.4 ? [f, f] : [f])),
        rnd,
      );
      await Promise.all(delivered.map((f) => mergeOrderFacts(h.redis, h.keys, SHOP, id, f)));
      const state = await readOrderState(h.redis, h.keys, SHOP, id);
      expect(worth(state, false)).toBe(expected);
      expect(await h.redis.zscore(h.keys.ordersByChange(SHOP), id)).not.toBeNull();
    }
  });
});

describe('compaction', () => {
  it('leaves an order a job holds, and one changed since the cutoff; compacts it once free', async () => {
    const shop = 'compact-shop.myshopify.com';
    const id = String(++seq);
    const p = parsePayload('orders/paid', orderVariant({ lines: [{ price: '10.00' }], subtotal: '10.00' }));
    if (!p.ok || p.topic !== 'orders/paid') throw new Error('fixture');
    const facts = factsFromOrder(p.data, { rateMilli: 1000 }, true);
    const day0 = Date.UTC(2026, 0, 1);
    await mergeOrderFacts(h.redis, h.keys, shop, id, facts, undefined, day0);
    const lock = h.keys.orderLock(shop, id);
    await h.redis.set(lock, 'a-job', 'PX', 10_000);
    const at = (days: number) => ({ horizonMs: 30 * DAY_MS, nowMs: day0 + days * DAY_MS });
    expect(await compactOrders(h.redis, h.keys, shop, at(31))).toEqual({ compacted: 0, busy: 1 });
    await h.redis.del(lock);
    // A change on day 20 moves the order's horizon to day 50.
    await mergeOrderFacts(h.redis, h.keys, shop, id, facts, undefined, day0 + 20 * DAY_MS);
    expect(await compactOrders(h.redis, h.keys, shop, at(31))).toEqual({ compacted: 0, busy: 0 });
    expect(await compactOrders(h.redis, h.keys, shop, at(51))).toEqual({ compacted: 1, busy: 0 });
    expect(await h.redis.exists(h.keys.order(shop, id))).toBe(0);
    expect(await compactedLedger(h.redis, h.keys, shop, id)).toMatchObject({ appliedPoints: 0, paid: true });
  });
});
