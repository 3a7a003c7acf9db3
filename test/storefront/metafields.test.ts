import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload, refundPayload } from '../../fakes/shopify/webhooks.js';
import { createSyncQueues } from '../../src/queue/shards.js';
import { createKeys } from '../../src/store/keys.js';
import { MetafieldSync, metafieldKeys, metafieldWritten } from '../../src/storefront/metafields.js';
import { CustomerMatcher } from '../../src/sync/matching.js';
import { dropPrefix, uniquePrefix } from '../helpers/redis.js';
import { SHOP } from '../helpers/sync-harness.js';
import {
  createStorefrontHarness,
  drained,
  logger,
  type StorefrontHarness,
  until,
} from './storefront-harness.js';

/**
 * The `$app.loyalty_points` metafield follows every balance change the bridge makes (an order, a refund)
 * and the register's own changes (found by the scheduled customer-list refresh), written with metafieldsSet
 * through the Admin API stand-in over HTTP: at most 25 per call, THROTTLED waited out, userErrors surfaced.
 */

let s: StorefrontHarness;
let n = 0;
const mail = () => `mf${++n}-${Date.now()}@example.com`;
const gid = (id: string) => `gid://shopify/Customer/${id}`;

beforeAll(async () => {
  s = await createStorefrontHarness('metafields');
});
afterAll(async () => {
  await s?.close();
});

const metafieldCalls = () => s.fake.received.filter((r) => r.operationName === 'LoyaltyPointsMetafieldsSet');

describe('the loyalty points metafield', () => {
  it('is written after an order and after a refund, with the new balance', async () => {
    const email = mail();
    const [c] = s.h.sim.seedCustomers([{ FirstName: 'Ada', LastName: 'L', Email: email, LoyaltyPoints: 50 }]);
    const orderId = nextOrderId();
    const ends = await s.h.run([
      {
        topic: 'orders/paid',
        payload: orderPayload({ id: orderId, email, subtotal: '120.00', customerId: '9100001' }),
      },
    ]);
    expect(ends[0]?.state).toBe('completed');
    expect(s.h.sim.getCustomer(c!.Id)?.LoyaltyPoints).toBe(170);
    await until(
      'metafield after the order',
      () => s.loyalty.pointsOf('9100001'),
      (v) => v === 170,
    );

    const [refund] = await s.h.run([
      { topic: 'refunds/create', payload: refundPayload(orderId, '77001', '20.00') },
    ]);
    expect(refund?.returnvalue).toMatchObject({ status: 'applied', pointsDelta: -20 });
    expect(s.h.sim.getCustomer(c!.Id)?.LoyaltyPoints).toBe(150);
    await until(
      'metafield after the refund',
      () => s.loyalty.pointsOf('9100001'),
      (v) => v === 150,
    );
    expect(s.loyalty.history.get(gid('9100001'))).toEqual(['170', '150']);

    // What the page shows: the value and time last written.
    // (Recorded right after Shopify's answer.)
    const w = await until(
      'recorded as written',
      () => metafieldWritten(s.h.redis, s.h.keys, SHOP, '9100001'),
      (v) => v?.points === 150,
    );
    expect(Date.parse(w?.writtenAt ?? '')).toBeGreaterThan(Date.now() - 60_000);
    // Every document valid against the schema.
    expect(metafieldCalls().every((r) => r.outcome === 'ok')).toBe(true);
  });

  it('many changes at once go 25 to a call, and a THROTTLED answer is waited out and sent again', async () => {
    const customers = Array.from({ length: 30 }, (_, i) => ({ email: mail(), id: String(9200000 + i) }));
    s.h.sim.seedCustomers(
      customers.map((c) => ({ FirstName: 'B', LastName: 'C', Email: c.email, LoyaltyPoints: 5 })),
    );
    s.fake.throttleNext(1);
    const callsBefore = s.loyalty.metafieldCalls.length;
    const ends = await s.h.run(
      customers.map((c) => ({
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: c.email, subtotal: '10.00', customerId: c.id }),
      })),
    );
    expect(ends.every((e) => e.state === 'completed')).toBe(true);
    await until(
      'every metafield at 15',
      () => customers.map((c) => s.loyalty.pointsOf(c.id)),
      (v) => v.every((p) => p === 15),
    );
    await drained(s.h);
    const calls = s.loyalty.metafieldCalls.slice(callsBefore);
    expect(Math.max(...calls)).toBeLessThanOrEqual(25);
    // Batched: fewer calls than customers.
    expect(calls.length).toBeLessThan(customers.length);
    expect(metafieldCalls().filter((r) => r.outcome === 'throttled')).toHaveLength(1);
    // Each customer's metafield written once: only differences are sent.
    for (const c of customers) expect(s.loyalty.history.get(gid(c.id))).toEqual(['15']);
  });

  it('a register change reaches the metafield through the scheduled list refresh, and only the differences are sent', async () => {
    const a = { email: mail(), id: '9300001' };
    const b = { email: mail(), id: '9300002' };
    const [ca] = s.h.sim.seedCustomers([
      { FirstName: 'R', LastName: 'A', Email: a.email, LoyaltyPoints: 10 },
      { FirstName: 'R', LastName: 'B', Email: b.email, LoyaltyPoints: 20 },
    ]);
    await s.h.run(
      [a, b].map((c) => ({
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: c.email, subtotal: '1.00', customerId: c.id }),
      })),
    );
    await until(
      'both metafields',
      () => [s.loyalty.pointsOf(a.id), s.loyalty.pointsOf(b.id)],
      (v) => v[0] === 11 && v[1] === 21,
    );
    await drained(s.h);
    const before = s.loyalty.metafieldCalls.length;

    // The register adds 40 points to A; B is unchanged.
    s.h.sim.adjustPoints(ca!.Id, 40);
    const settings = await s.h.settings.get(SHOP);
    const client = s.h.running!.clients.clientFor(SHOP, settings);
    const matcher = new CustomerMatcher(s.h.redis, s.h.keys, logger, { onRefresh: s.sf.onRefresh });
    await matcher.ensureIndex(SHOP, client, Date.now());
    await until(
      'metafield after the register change',
      () => s.loyalty.pointsOf(a.id),
      (v) => v === 51,
    );
    await drained(s.h);
    const sent = s.loyalty.metafieldCalls.slice(before);
    // One call, carrying only A (every other linked customer already shows its balance).
    expect(sent).toEqual([1]);
    expect(s.loyalty.history.get(gid(b.id))).toEqual(['21']);

    // A second refresh with nothing changed sends nothing.
    await matcher.ensureIndex(SHOP, client, Date.now());
    await drained(s.h);
    expect(s.loyalty.metafieldCalls.length).toBe(before + 1);
  });

  it('a userErrors answer is surfaced under Failures naming the customer, and the others are not held back', async () => {
    const bad = { email: mail(), id: '9400001' };
    s.h.sim.seedCustomers([{ FirstName: 'U', LastName: 'E', Email: bad.email, LoyaltyPoints: 0 }]);
    s.loyalty.refuseMetafield(gid(bad.id), 'Owner does not exist');
    await s.h.run([
      {
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: bad.email, subtotal: '3.00', customerId: bad.id }),
      },
    ]);
    const failed = await until(
      'a failure for the refused metafield',
      async () =>
        (await s.h.events.latest(SHOP, 50)).filter(
          (e) => e.topic === 'admin/metafield-sync' && e.status === 'failed',
        ),
      (v) => v.length > 0,
    );
    expect(failed[0]?.error).toMatch(/customer 9400001: Owner does not exist/);
    expect(failed[0]?.errorCode).toBe('METAFIELD_REFUSED');
    expect(s.loyalty.pointsOf(bad.id)).toBeUndefined();
    // Not retried in a loop: the entry is dropped (a later change tries again).
    expect(await s.h.redis.hexists(metafieldKeys(s.h.keys, SHOP).dirty, bad.id)).toBe(0);
    const errors = await s.h.redis.hget(metafieldKeys(s.h.keys, SHOP).errors, bad.id);
    expect(JSON.parse(errors ?? '{}')).toMatchObject({ message: 'Owner does not exist', points: 3 });
  });
});

describe('asking for the metafield sync', () => {
  it('a change inside the window of an ask that was folded into an earlier job is asked for again', async () => {
    // Queues of their own that no worker takes: they show what was asked for and when.
    const keys = createKeys(uniquePrefix('metafield-window'));
    const shop = `window-${Date.now()}.myshopify.com`;
    const queue = createSyncQueues(s.h.redis, keys, 1);
    const sync = new MetafieldSync({
      redis: s.h.redis,
      keys,
      graphqlFor: async () => (() => Promise.resolve({})) as never,
      queue,
      delayMs: 1_000,
    });
    const jobsOf = async () =>
      (await queue.forShop(shop).getJobs(['delayed', 'wait'])).filter((j) => j.data.shop === shop);
    const t0 = Date.now();
    // A drain found marks left and asked (a job due at t0 + 1 s); half a window later this process asks,
    // and BullMQ folds that ask into the same job.
    await sync.ask(shop);
    await new Promise((r) => setTimeout(r, 500));
    sync.changed(shop);
    await until(
      'the folded ask',
      async () => (await jobsOf()).length,
      // One job when BullMQ folded the ask; two if this machine stalled past the first job's window.
      (v) => v >= 1,
    );
    // After that job is due, but inside this process's window, another balance changes.
    await new Promise((r) => setTimeout(r, Math.max(0, t0 + 1_200 - Date.now())));
    const markedAt = Date.now();
    sync.changed(shop);
    // A job must start after that change: the ask made when the window closes.
    const after = await until(
      'a job asked for after the change',
      async () => (await jobsOf()).filter((j) => j.timestamp > markedAt),
      (v) => v.length === 1,
    );
    expect(after[0]!.timestamp + (after[0]!.opts.delay ?? 0)).toBeGreaterThan(markedAt);
    await queue.close();
    await dropPrefix(s.h.redis, keys.prefix);
  });
});
