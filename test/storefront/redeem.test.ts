import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { appProxyQuery } from '../../fakes/shopify/signed-urls.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createMetrics } from '../../src/metrics.js';
import type { AdminJobData } from '../../src/queue/jobs.js';
import { createShopify } from '../../src/shopify/api.js';
import { PROXY_PATH } from '../../src/storefront/proxy.js';
import { RedemptionStore, redemptionRef } from '../../src/storefront/redemption-store.js';
import { CustomerMatcher } from '../../src/sync/matching.js';
import { TEST_APP, testEnv } from '../helpers/shopify.js';
import { SHOP } from '../helpers/sync-harness.js';
import { createStorefrontHarness, logger, type StorefrontHarness, until } from './storefront-harness.js';

/**
 * `POST /apps/loyalty/redeem` through the app proxy (signed as Shopify signs it) to the web app, the worker
 * taking the points from the IT Retail simulator over HTTP and creating the code in the Admin API stand-in
 * over HTTP: exactly once under double submits and IT Retail faults, points back once when no code can be
 * made, refusals that change nothing, and the code's expiry giving unused points back once.
 */

let s: StorefrontHarness;
let app: Express;
let store: RedemptionStore;
let seq = 0;

const RULES = {
  enabled: true,
  pointsPerUnit: 100,
  minimumPoints: 500,
  stepPoints: 100,
  maximumPoints: 2000,
  codeLifetimeDays: 30,
  giveBackExpired: true,
  currency: 'USD',
};

/** A Shopify customer linked to a fresh IT Retail customer holding `points`. */
async function shopper(points: number): Promise<{ id: string; itrId: string }> {
  const id = String(8_800_000 + ++seq);
  const [c] = s.h.sim.seedCustomers([
    {
      FirstName: 'Red',
      LastName: `Eemer${seq}`,
      Email: `redeem${seq}-${Date.now()}@example.com`,
      LoyaltyPoints: points,
    },
  ]);
  await new CustomerMatcher(s.h.redis, s.h.keys).link(SHOP, c!.Id, { shopifyCustomerId: id });
  return { id, itrId: c!.Id };
}

const redeemAs = (customerId: string, body: unknown) =>
  request(app)
    .post(`${PROXY_PATH}/redeem?${appProxyQuery({ secret: TEST_APP.apiSecret, shop: SHOP, customerId })}`)
    .send(body as object);

/** Posts with the same key until the answer is final (what the block does on 202). */
async function redeemUntilDone(customerId: string, body: { points: number; key: string }) {
  for (let i = 0; i < 40; i++) {
    const res = await redeemAs(customerId, body);
    if (res.status !== 202) return res;
  }
  throw new Error('the redemption never finished');
}

const balance = (itrId: string) => s.h.sim.getCustomer(itrId)?.LoyaltyPoints;
const puts = (itrId: string) =>
  s.h.sim.calls.filter((c) => c.call === 'UpdateCustomer' && c.customerId === itrId);
const codesOf = (customerId: string) =>
  [...s.loyalty.discounts.values()].filter((d) =>
    d.customers.includes(`gid://shopify/Customer/${customerId}`),
  );

beforeAll(async () => {
  s = await createStorefrontHarness('redeem');
  const config = loadConfig(testEnv());
  store = new RedemptionStore(s.h.redis, s.h.keys);
  app = createApp({
    config,
    logger,
    redis: s.h.redis,
    keys: s.h.keys,
    queue: s.h.queue,
    shopify: createShopify(config, { logger }),
    events: s.h.events,
    settings: s.h.settings,
    metrics: createMetrics(),
    itretail: {
      clientFor: async (shop) => s.h.running?.clients.clientFor(shop, await s.h.settings.get(shop)) as never,
    },
  });
  await s.h.settings.update(SHOP, { redemption: RULES });
});
afterAll(async () => {
  await s?.close();
});
beforeEach(() => s.h.sim.resetFaults());

describe('redeeming points for a code', () => {
  it('takes the points once and answers the code; the same key answers the same redemption', async () => {
    const c = await shopper(1240);
    const key = randomUUID();
    const res = await redeemUntilDone(c.id, { points: 500, key });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      pointsRedeemed: 500,
      points: 740,
      value: '5.00',
      currency: 'USD',
      status: 'issued',
    });
    expect(res.body.code).toMatch(/^PTS-[A-Z0-9]{6,}$/);
    const days = (Date.parse(res.body.expiresAt) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThanOrEqual(30);
    expect(balance(c.itrId)).toBe(740);

    // The code: this customer only, one use, once per customer, $5.00 off, ending with the redemption.
    const [d, ...more] = codesOf(c.id);
    expect(more).toHaveLength(0);
    expect(d).toMatchObject({
      code: res.body.code,
      amount: '5.00',
      usageLimit: 1,
      appliesOncePerCustomer: true,
      customers: [`gid://shopify/Customer/${c.id}`],
      endsAt: res.body.expiresAt,
    });

    const again = await redeemAs(c.id, { points: 500, key });
    expect(again.status).toBe(200);
    expect(again.body).toEqual(res.body);
    expect(balance(c.itrId)).toBe(740);
    expect(puts(c.itrId)).toHaveLength(1);
    expect(codesOf(c.id)).toHaveLength(1);

    // The metafield follows, and the redemption is an event in Activity.
    await until(
      'metafield after the redemption',
      () => s.loyalty.pointsOf(c.id),
      (v) => v === 740,
    );
    const events = (await s.h.events.latest(SHOP, 100)).filter(
      (e) => e.topic === 'admin/redeem' && e.shopifyCustomerId === c.id,
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 'applied', pointsDelta: -500, pointsAfter: 740 });
  });

  it("a register change the redemption's Put writes over is given back at once", async () => {
    const c = await shopper(1240);
    // Held before it is applied: the register adds 30 while the Put taking 500 points is on its way.
    s.h.sim.holdCalls(['UpdateCustomer']);
    const done = redeemUntilDone(c.id, { points: 500, key: randomUUID() });
    await until(
      'the Put to be held',
      () => s.h.sim.heldCalls.length,
      (n) => n > 0,
    );
    s.h.sim.adjustPoints(c.itrId, 30);
    s.h.sim.releaseCalls();
    expect((await done).status).toBe(200);
    expect(puts(c.itrId).map((p) => p.overwrote ?? 0)[0]).toBe(30);
    // No later write to this customer is needed for the register's 30 to come back.
    await until(
      'the give-back',
      () => balance(c.itrId),
      (v) => v === 1240 - 500 + 30,
      5_000,
    );
    expect(await s.h.redis.hlen(s.h.keys.restoreDue(SHOP, c.itrId))).toBe(0);
  });

  it('a double submit (two requests with one key at once) is one redemption', async () => {
    const c = await shopper(1000);
    const key = randomUUID();
    const [a, b] = await Promise.all([
      redeemUntilDone(c.id, { points: 600, key }),
      redeemUntilDone(c.id, { points: 600, key }),
    ]);
    expect(a.status).toBe(200);
    expect(b.body.code).toBe(a.body.code);
    expect(balance(c.itrId)).toBe(400);
    expect(puts(c.itrId)).toHaveLength(1);
    expect(codesOf(c.id)).toHaveLength(1);
  });

  it('a different key is another redemption, and the key belongs to its customer', async () => {
    const c = await shopper(2000);
    const other = await shopper(2000);
    const key = randomUUID();
    const first = await redeemUntilDone(c.id, { points: 500, key });
    const second = await redeemUntilDone(c.id, { points: 500, key: randomUUID() });
    const theirs = await redeemUntilDone(other.id, { points: 500, key });
    expect(new Set([first.body.code, second.body.code, theirs.body.code]).size).toBe(3);
    expect(balance(c.itrId)).toBe(1000);
    expect(balance(other.itrId)).toBe(1500);
  });
});

describe('rules and refusals change nothing', () => {
  it.each([
    ['below the minimum', 400, /least you can redeem is 500/],
    ['not a multiple of the step', 550, /steps of 100/],
    ['above the maximum', 2100, /most you can redeem at once is 2,000/],
  ])('%s → 422', async (_name, points, message) => {
    const c = await shopper(5000);
    const res = await redeemAs(c.id, { points, key: randomUUID() });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatch(message);
    expect(balance(c.itrId)).toBe(5000);
    expect(puts(c.itrId)).toHaveLength(0);
    expect(codesOf(c.id)).toHaveLength(0);
    expect(await store.forCustomer(SHOP, c.id)).toHaveLength(0);
  });

  it('at the limits: the minimum, the maximum and the exact balance are redeemed', async () => {
    const c = await shopper(2500);
    expect((await redeemUntilDone(c.id, { points: 500, key: randomUUID() })).status).toBe(200);
    expect((await redeemUntilDone(c.id, { points: 2000, key: randomUUID() })).status).toBe(200);
    expect(balance(c.itrId)).toBe(0);
    const exact = await shopper(700);
    const res = await redeemUntilDone(exact.id, { points: 700, key: randomUUID() });
    expect(res.status).toBe(200);
    expect(res.body.points).toBe(0);
    expect(balance(exact.itrId)).toBe(0);
  });

  it('too few points → 422, nothing changed; also when the register spent them after the balance was shown', async () => {
    const c = await shopper(300);
    const res = await redeemAs(c.id, { points: 500, key: randomUUID() });
    expect(res.status).toBe(422);
    expect(res.body.error).toMatch(/You have 300 points; this needs 500/);

    // The storefront showed 800 (cached); the register spends 400 before the redemption runs.
    const d = await shopper(800);
    const shown = await request(app).get(
      `${PROXY_PATH}/balance?${appProxyQuery({ secret: TEST_APP.apiSecret, shop: SHOP, customerId: d.id })}`,
    );
    expect(shown.body.points).toBe(800);
    s.h.sim.adjustPoints(d.itrId, -400);
    const late = await redeemUntilDone(d.id, { points: 500, key: randomUUID() });
    expect(late.status).toBe(422);
    expect(late.body.error).toMatch(/You have 400 points; this needs 500/);
    expect(balance(d.itrId)).toBe(400);
    expect(puts(d.itrId)).toHaveLength(0);
    expect(codesOf(d.id)).toHaveLength(0);
  });

  it('redemption switched off → 403; an unlinked customer → 422; a bad body → 400', async () => {
    const c = await shopper(5000);
    await s.h.settings.update(SHOP, { redemption: { enabled: false } });
    try {
      expect((await redeemAs(c.id, { points: 500, key: randomUUID() })).status).toBe(403);
    } finally {
      await s.h.settings.update(SHOP, { redemption: { enabled: true } });
    }
    expect((await redeemAs('8899999', { points: 500, key: randomUUID() })).status).toBe(422);
    expect((await redeemAs(c.id, { points: 500, key: 'not-a-uuid' })).status).toBe(400);
    expect((await redeemAs(c.id, { points: 5.5, key: randomUUID() })).status).toBe(400);
    expect(balance(c.itrId)).toBe(5000);
  });
});

describe('exactly once under IT Retail faults', () => {
  it.each([
    ['a Put answered 500 before applying', { errorRate: 1 }],
    ['a Put applied, then answered 500', { writeAppliedThenErrorRate: 1 }],
    ['a Put applied, then the connection dropped', { writeAppliedThenDropRate: 1 }],
    ['a Put that hangs', { hangRate: 1 }],
  ])('%s: the points are taken once and the code issued', async (_name, faults) => {
    const c = await shopper(1500);
    s.h.sim.clearCalls();
    s.h.sim.setFaults({ ...faults, calls: ['UpdateCustomer'] });
    const key = randomUUID();
    const first = await redeemAs(c.id, { points: 500, key });
    // The fault hits the first Put only; afterwards IT Retail answers again.
    await until(
      'the faulty Put',
      () => s.h.sim.callCounts().UpdateCustomer ?? 0,
      (v) => v >= 1,
    );
    s.h.sim.resetFaults();
    const res = first.status === 202 ? await redeemUntilDone(c.id, { points: 500, key }) : first;
    expect(res.status).toBe(200);
    expect(res.body.points).toBe(1000);
    expect(balance(c.itrId)).toBe(1000);
    expect(codesOf(c.id)).toHaveLength(1);
    const again = await redeemAs(c.id, { points: 500, key });
    expect(again.body.code).toBe(res.body.code);
    expect(balance(c.itrId)).toBe(1000);
  });
});

describe('no code, points back once', () => {
  it.each([
    ['Shopify answers userErrors', () => s.loyalty.refuseNextCode('Amount is invalid')],
    [
      'Shopify answers 503 to every try (and has no such code)',
      () => {
        for (let i = 0; i < 3; i++)
          s.fake.failNext({ status: 503, when: (r) => r.operationName === 'RedeemPointsCreateCode' });
      },
    ],
    [
      'Shopify throttles past the retries',
      () => s.fake.throttleNext(4, (r) => r.operationName === 'RedeemPointsCreateCode'),
    ],
  ])('%s → 502, the balance as it was, the same answer again', async (_name, arrange) => {
    const c = await shopper(900);
    arrange();
    const key = randomUUID();
    const res = await redeemUntilDone(c.id, { points: 500, key });
    expect(res.status).toBe(502);
    expect(res.body).toMatchObject({ pointsReturned: true, points: 900 });
    expect(res.body.error).toMatch(/could not be created/);
    expect(balance(c.itrId)).toBe(900);
    // Taken, then given back: two Puts, and no more on a repeat.
    expect(puts(c.itrId)).toHaveLength(2);
    expect(codesOf(c.id)).toHaveLength(0);
    const again = await redeemAs(c.id, { points: 500, key });
    expect(again.status).toBe(502);
    expect(puts(c.itrId)).toHaveLength(2);
    expect(balance(c.itrId)).toBe(900);
    const [r] = await store.forCustomer(SHOP, c.id);
    expect(r).toMatchObject({ status: 'failed', applied: 0 });
  });
});

describe('a code that expires', () => {
  async function issued(points: number) {
    const c = await shopper(points);
    const key = randomUUID();
    const res = await redeemUntilDone(c.id, { points: 500, key });
    expect(res.status).toBe(200);
    const ref = redemptionRef(c.id, key);
    // Its end has come (the job queued for it waits 30 days).
    await store.set(SHOP, ref, { expiresAt: new Date(Date.now() - 1000).toISOString() });
    return { c, ref, code: res.body.code as string };
  }
  const runExpiry = async (ref: string) => {
    const data: AdminJobData = {
      kind: 'redemption-expiry',
      shop: SHOP,
      requestedAt: new Date().toISOString(),
      redemption: ref,
    };
    const id = `expiry-test-${randomUUID()}`;
    await s.h.queue.add('redemption-expiry', data, {
      jobId: id,
      attempts: 5,
      backoff: { type: 'fixed', delay: 30 },
    });
    const [end] = await s.h.waitFor([id]);
    return end;
  };

  it('unused: gives the points back once (the check run twice) and deactivates the code', async () => {
    const { c, ref, code } = await issued(800);
    expect(balance(c.itrId)).toBe(300);
    expect((await runExpiry(ref))?.state).toBe('completed');
    expect((await runExpiry(ref))?.state).toBe('completed');
    expect(balance(c.itrId)).toBe(800);
    expect(puts(c.itrId)).toHaveLength(2);
    expect(s.loyalty.discounts.get(code)?.status).toBe('EXPIRED');
    expect(await store.get(SHOP, ref)).toMatchObject({ status: 'returned', applied: 0 });
    await until(
      'metafield after the give-back',
      () => s.loyalty.pointsOf(c.id),
      (v) => v === 800,
    );
    const back = (await s.h.events.latest(SHOP, 100)).filter(
      (e) => e.topic === 'admin/redemption-expiry' && e.shopifyCustomerId === c.id && e.status === 'applied',
    );
    expect(back).toHaveLength(1);
    expect(back[0]?.pointsDelta).toBe(500);
  });

  it('used: keeps the points', async () => {
    const { c, ref, code } = await issued(800);
    s.loyalty.useCode(code);
    await runExpiry(ref);
    expect(balance(c.itrId)).toBe(300);
    expect(await store.get(SHOP, ref)).toMatchObject({ status: 'used' });
  });

  it('unused, with give-back switched off: the shop keeps the points', async () => {
    await s.h.settings.update(SHOP, { redemption: { giveBackExpired: false } });
    try {
      const { c, ref } = await issued(800);
      await runExpiry(ref);
      expect(balance(c.itrId)).toBe(300);
      expect(await store.get(SHOP, ref)).toMatchObject({ status: 'expired' });
    } finally {
      await s.h.settings.update(SHOP, { redemption: { giveBackExpired: true } });
    }
  });
});

describe('customers/redact', () => {
  it('erases the customer’s redemptions and metafield records; the IT Retail balance stays', async () => {
    const c = await shopper(900);
    const res = await redeemUntilDone(c.id, { points: 500, key: randomUUID() });
    expect(res.status).toBe(200);
    await until(
      'metafield written',
      () => s.loyalty.pointsOf(c.id),
      (v) => v === 400,
    );
    await until(
      'recorded as written',
      () => s.h.redis.hexists(s.h.keys.metafieldWritten(SHOP), c.id),
      (v) => v === 1,
    );
    expect(await store.forCustomer(SHOP, c.id)).toHaveLength(1);
    const [end] = await s.h.run([
      {
        topic: 'customers/redact',
        payload: { shop_id: 1, shop_domain: SHOP, customer: { id: Number(c.id) }, orders_to_redact: [] },
      },
    ]);
    expect(end?.state).toBe('completed');
    expect(await store.forCustomer(SHOP, c.id)).toHaveLength(0);
    expect(await s.h.redis.exists(s.h.keys.redemption(SHOP, redemptionRef(c.id, res.body.key)))).toBe(0);
    expect(await s.h.redis.hexists(s.h.keys.metafieldWritten(SHOP), c.id)).toBe(0);
    expect(balance(c.itrId)).toBe(400);
  });
});
