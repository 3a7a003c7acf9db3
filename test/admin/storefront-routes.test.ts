import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { metafieldKeys } from '../../src/storefront/metafields.js';
import { DEFAULT_REDEMPTION_RULES } from '../../src/storefront/redemption-rules.js';
import { RedemptionStore, redemptionRef } from '../../src/storefront/redemptions.js';
import { CustomerMatcher } from '../../src/sync/matching.js';
import { type AdminHarness, adminHarness } from '../helpers/admin.js';

/**
 * `GET /api/customers/storefront?email=`: the customer's loyalty metafield as last written, register
 * purchases of the last 7 days (GetCustomerProductPurchases, one call per day, cached) and redemptions, in
 * the exact shape the page renders; session token required.
 */

const A = 'storefront-view.myshopify.com';
const USER = { username: 'sf-view', password: 'Sf-View-Pa55' };
let sim: ITRetailSimulator;
let h: AdminHarness;
let adaId = '';

beforeAll(async () => {
  sim = await ITRetailSimulator.start({ users: [USER] });
  const [ada] = sim.seedCustomers([
    { FirstName: 'Ada', LastName: 'L', Email: 'ada@example.com', LoyaltyPoints: 700 },
  ]);
  adaId = ada?.Id ?? '';
  const [bob] = sim.seedCustomers([
    { FirstName: 'Bob', LastName: 'B', Email: 'bob@example.com', LoyaltyPoints: 5 },
  ]);
  h = await adminHarness('storefront-view');
  const { deps } = h;
  await deps.settings.update(A, { itretail: { baseUrl: sim.url, ...USER } });
  await deps.settings.markInstalled(A);
  await new CustomerMatcher(deps.redis, deps.keys).link(A, adaId, {
    email: 'ada@example.com',
    shopifyCustomerId: '7001',
  });
  const now = new Date();
  const daysAgo = (n: number) => new Date(now.getFullYear(), now.getMonth(), now.getDate() - n, 12);
  sim.recordPurchase(adaId, ['0038137117501', '0038137117501', '0001300099490'], daysAgo(0));
  sim.recordPurchase(adaId, ['0001111084765'], daysAgo(3));
  sim.recordPurchase(adaId, ['0099999999999'], daysAgo(9)); // outside the window
  sim.recordPurchase(bob!.Id, ['0020011200000'], daysAgo(0)); // someone else's
  const k = metafieldKeys(deps.keys, A);
  await deps.redis.hset(k.written, '7001', `700|${Date.parse('2026-11-29T10:00:00Z')}`);
  await new RedemptionStore(deps.redis, deps.keys).create(A, {
    customerId: '7001',
    key: '3f0e1c9e-3a55-4ac7-b7a7-1d7d1d7c2f10',
    points: 500,
    rules: { ...DEFAULT_REDEMPTION_RULES, enabled: true },
  });
  await deps.redis.hset(
    deps.keys.shop(A, 'redemption', redemptionRef('7001', '3f0e1c9e-3a55-4ac7-b7a7-1d7d1d7c2f10')),
    {
      status: 'issued',
      code: 'PTS-ABCDEF1234',
    },
  );
});
afterAll(async () => {
  await h?.teardown();
  await sim?.stop();
});

const view = (email: string, token = h.token(A)) =>
  request(h.app)
    .get(`/api/customers/storefront?email=${encodeURIComponent(email)}`)
    .set('Authorization', `Bearer ${token}`);

describe('GET /api/customers/storefront', () => {
  it('answers the metafield, the last 7 days of register purchases and the redemptions, exactly in the page’s shape', async () => {
    const res = await view('ADA@example.com ');
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['metafield', 'redemptions', 'registerPurchases']);
    expect(res.body.metafield).toEqual({ points: 700, writtenAt: '2026-11-29T10:00:00.000Z' });
    expect(res.body.registerPurchases.days).toBe(7);
    const items = res.body.registerPurchases.items as {
      date: string;
      description: string;
      quantity: number;
      amount: number;
    }[];
    expect(items.map((i) => [i.description, i.quantity]).sort()).toEqual([
      ['UPC 0001111084765', 1],
      ['UPC 0001300099490', 1],
      ['UPC 0038137117501', 2],
    ]);
    for (const i of items) {
      expect(Object.keys(i).sort()).toEqual(['amount', 'date', 'description', 'quantity']);
      expect(i.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      expect(typeof i.amount).toBe('number');
    }
    expect(res.body.redemptions).toEqual([
      {
        key: '3f0e1c9e-3a55-4ac7-b7a7-1d7d1d7c2f10',
        code: 'PTS-ABCDEF1234',
        points: 500,
        value: 5,
        currency: 'USD',
        createdAt: expect.any(String),
        expiresAt: expect.any(String),
        status: 'issued',
      },
    ]);
    // One GetCustomerProductPurchases per day; the second look is served from the cache.
    expect(sim.callCounts().GetCustomerProductPurchases).toBe(7);
    expect((await view('ada@example.com')).status).toBe(200);
    expect(sim.callCounts().GetCustomerProductPurchases).toBe(7);
  });

  it('an unknown email: nothing to show, said in a message', async () => {
    const res = await view('nobody@example.com');
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ metafield: null, registerPurchases: null, redemptions: [] });
    expect(res.body.message).toMatch(/No IT Retail customer/);
  });

  it('needs a session token and an email', async () => {
    expect((await request(h.app).get('/api/customers/storefront?email=ada@example.com')).status).toBe(401);
    expect((await view('not an email')).status).toBe(400);
  });
});
