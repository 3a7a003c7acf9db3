import type { Express } from 'express';
import pino from 'pino';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { appProxyQuery, signAppProxy } from '../../fakes/shopify/signed-urls.js';
import { createItretailAccess, type ItretailAccess } from '../../src/admin/itretail-access.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { buildDeps, type Deps } from '../../src/main.js';
import { waitForRedis } from '../../src/store/redis.js';
import { BALANCE_CACHE_MS } from '../../src/storefront/balance.js';
import { PROXY_PATH, PROXY_TIMESTAMP_TOLERANCE_S } from '../../src/storefront/proxy.js';
import { CustomerMatcher } from '../../src/sync/matching.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { TEST_APP, testEnv } from '../helpers/shopify.js';

const A = 'proxy-a.myshopify.com';
const B = 'proxy-b.myshopify.com';
const NOT_INSTALLED = 'proxy-never.myshopify.com';
const GONE = 'proxy-gone.myshopify.com';
const NO_POS = 'proxy-nopos.myshopify.com';
const USER = { username: 'proxy-backoffice', password: 'Proxy-Pa55word' };
const ADA = '7001'; // linked in shop A
const NEWCOMER = '7002'; // not linked anywhere

const prefix = uniquePrefix('proxy');
let sim: ITRetailSimulator;
let deps: Deps;
let itretail: ItretailAccess;
let app: Express;
let adaItrId: string;

const now = () => Math.floor(Date.now() / 1000);
const q = (o: Partial<Parameters<typeof appProxyQuery>[0]> = {}) =>
  appProxyQuery({ secret: TEST_APP.apiSecret, shop: A, customerId: ADA, ...o });
const balance = (query: string) => request(app).get(`${PROXY_PATH}/balance?${query}`);
const cacheKey = (shop: string, customer: string) => deps.keys.storefrontBalance(shop, customer);

beforeAll(async () => {
  sim = await ITRetailSimulator.start({ users: [USER] });
  const [ada] = sim.seedCustomers([
    { FirstName: 'Ada', LastName: 'Lovelace', Email: 'ada@example.com', LoyaltyPoints: 1240 },
  ]);
  adaItrId = ada?.Id ?? '';
  const config = loadConfig(testEnv({ REDIS_KEY_PREFIX: prefix }));
  deps = buildDeps(config, { logger: pino({ level: 'silent' }) });
  await waitForRedis(deps.redis);
  itretail = createItretailAccess({ config, settings: deps.settings });
  app = createApp({ ...deps, itretail });
  for (const shop of [A, B, GONE, NO_POS]) {
    if (shop !== NO_POS) await deps.settings.update(shop, { itretail: { baseUrl: sim.url, ...USER } });
    await deps.settings.markInstalled(shop);
  }
  await deps.settings.markUninstalled(GONE, Date.now() + 1000);
  await deps.settings.update(A, { redemption: { pointsPerUnit: 100, currency: 'USD' } });
  await new CustomerMatcher(deps.redis, deps.keys).link(A, adaItrId, {
    email: 'ada@example.com',
    shopifyCustomerId: ADA,
  });
});

afterAll(async () => {
  await itretail?.close();
  await deps?.close();
  await sim?.stop();
  const r = testRedis();
  await dropPrefix(r, prefix);
  await r.quit();
});

beforeEach(async () => {
  sim.resetFaults();
  await deps.redis.del(cacheKey(A, ADA));
});

describe('app proxy signature', () => {
  it('accepts a request signed as Shopify signs it, answering the live balance as JSON, never cached', async () => {
    const res = await balance(q());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ points: 1240, value: '12.40', currency: 'USD', linked: true });
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it('accepts further storefront parameters, a repeated one signed as its values joined by commas', async () => {
    const res = await balance(q({ extra: { utm_source: 'mail', variant: ['1', '2'] } }));
    expect(res.status).toBe(200);
    expect(res.body.points).toBe(1240);
  });

  it("accepts names the library would order differently from Shopify's byte order", async () => {
    const res = await balance(q({ extra: { Ref: 'newsletter', page: '2', page1: 'x' } }));
    expect(res.status).toBe(200);
    // … and still refuses them tampered with.
    const tampered = q({ extra: { Ref: 'newsletter' } }).replace('Ref=newsletter', 'Ref=other');
    expect((await balance(tampered)).status).toBe(401);
  });

  it('refuses a wrong signature', async () => {
    const good = q();
    const sig = new URLSearchParams(good).get('signature') ?? '';
    const flipped = `${sig.slice(0, -1)}${sig.endsWith('0') ? '1' : '0'}`;
    const res = await balance(good.replace(sig, flipped));
    expect(res.status).toBe(401);
    expect(res.body.error).toMatch(/not signed by Shopify/);
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('refuses a request signed with another secret', async () => {
    expect(
      (await balance(appProxyQuery({ secret: 'another-apps-secret', shop: A, customerId: ADA }))).status,
    ).toBe(401);
  });

  it('refuses a missing or malformed signature', async () => {
    const unsigned = q().replace(/&?signature=[0-9a-f]+/, '');
    expect((await balance(unsigned)).status).toBe(401);
    expect((await balance(`${unsigned}&signature=not-hex`)).status).toBe(401);
    expect((await request(app).get(`${PROXY_PATH}/balance`)).status).toBe(401);
  });

  it(`refuses a timestamp more than ${PROXY_TIMESTAMP_TOLERANCE_S} s old or ahead, and none at all`, async () => {
    for (const t of [
      now() - PROXY_TIMESTAMP_TOLERANCE_S - 30,
      now() - 3600,
      now() + PROXY_TIMESTAMP_TOLERANCE_S + 30,
    ]) {
      const res = await balance(q({ timestamp: t }));
      expect(res.status, `timestamp ${t - now()} s from now`).toBe(401);
    }
    // Correctly signed, but without a timestamp: the library alone would accept it.
    const params = { shop: A, logged_in_customer_id: ADA, path_prefix: '/apps/loyalty' };
    const noTime = new URLSearchParams({ ...params, signature: signAppProxy(TEST_APP.apiSecret, params) });
    const res = await balance(noTime.toString());
    expect(res.status).toBe(401);
    expect(res.body.error).toMatch(/timestamp/);
    // Inside the window is fine.
    expect((await balance(q({ timestamp: now() - 30 }))).status).toBe(200);
  });

  it("refuses another shop's signature: B's signed request with the shop changed to A", async () => {
    const forB = q({ shop: B });
    expect((await balance(forB)).status).toBe(200);
    const res = await balance(forB.replace(`shop=${B}`, `shop=${A}`));
    expect(res.status).toBe(401);
  });

  it("answers B's customer from B's links only: the same Shopify customer id is not linked there", async () => {
    const res = await balance(q({ shop: B }));
    expect(res.body).toMatchObject({ points: 0, linked: false });
  });

  it('refuses a changed customer id (the signature covers it)', async () => {
    const res = await balance(q().replace(`logged_in_customer_id=${ADA}`, 'logged_in_customer_id=9999'));
    expect(res.status).toBe(401);
  });

  it('refuses a correctly signed request for a shop without the app, or one that uninstalled it', async () => {
    for (const shop of [NOT_INSTALLED, GONE, 'not a shop']) {
      const res = await balance(q({ shop }));
      expect(res.status, shop).toBe(401);
      expect(res.body.error).toMatch(/not installed/);
    }
  });

  it('in single-store mode, refuses every shop but the configured one', async () => {
    const { config } = deps;
    const single = createApp({
      ...deps,
      itretail,
      config: { ...config, shopify: { ...config.shopify, singleStore: { shop: A, accessToken: 'shpat_x' } } },
    });
    expect((await request(single).get(`${PROXY_PATH}/balance?${q({ shop: B })}`)).status).toBe(401);
    expect((await request(single).get(`${PROXY_PATH}/balance?${q()}`)).status).toBe(200);
  });

  it('answers 401 and a sign-in hint to a signed-out visitor on a personal route', async () => {
    const res = await balance(q({ customerId: '' }));
    expect(res.status).toBe(401);
    expect(res.body).toMatchObject({ signIn: true });
  });

  it('verifies routes that do not exist yet before answering them', async () => {
    const body = { points: 500, key: '3f0e1c9e-3a55-4ac7-b7a7-1d7d1d7c2f10' };
    expect((await request(app).post(`${PROXY_PATH}/redeem`).send(body)).status).toBe(401);
    const res = await request(app).post(`${PROXY_PATH}/redeem?${q()}`).send(body);
    expect(res.status).toBe(404);
    expect(res.body.error).toMatch(/not available/);
  });
});

describe('GET <proxy>/balance', () => {
  it('answers an unlinked customer 0 points, linked false', async () => {
    const res = await balance(q({ customerId: NEWCOMER }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ points: 0, value: '0.00', currency: 'USD', linked: false });
  });

  it(`reads IT Retail once per ${BALANCE_CACHE_MS / 1000} s per customer, then reads the new balance`, async () => {
    sim.clearCalls();
    expect((await balance(q())).body.points).toBe(1240);
    sim.adjustPoints(adaItrId, 60); // at the register
    expect((await balance(q())).body.points).toBe(1240); // cached
    expect(sim.callCounts().GetCustomer).toBe(1);
    const ttl = await deps.redis.pttl(cacheKey(A, ADA));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(BALANCE_CACHE_MS);
    await deps.redis.pexpire(cacheKey(A, ADA), 1); // the cache time has passed
    await new Promise((r) => setTimeout(r, 5));
    const res = await balance(q());
    expect(res.body).toMatchObject({ points: 1300, value: '13.00' });
    expect(sim.callCounts().GetCustomer).toBe(2);
    sim.adjustPoints(adaItrId, -60);
  });

  it("values points with the shop's redemption rules", async () => {
    await deps.settings.update(A, { redemption: { pointsPerUnit: 40, stepPoints: 100, minimumPoints: 500 } });
    const res = await balance(q());
    expect(res.body).toMatchObject({ points: 1240, value: '31.00', currency: 'USD' });
    expect(res.body.redemption).toMatchObject({ enabled: false, pointsPerUnit: 40, stepPoints: 100 });
    await deps.settings.update(A, { redemption: { pointsPerUnit: 100 } });
  });

  it('answers 503 with a plain message when IT Retail fails, and caches nothing', async () => {
    sim.setFaults({ errorRate: 1, calls: ['GetCustomer'] });
    const res = await balance(q());
    expect(res.status).toBe(503);
    expect(res.body.error).toMatch(/could not be read/);
    expect(await deps.redis.exists(cacheKey(A, ADA))).toBe(0);
    sim.resetFaults();
    expect((await balance(q())).body.points).toBe(1240);
  });

  it('answers 503 for a shop not connected to IT Retail', async () => {
    await new CustomerMatcher(deps.redis, deps.keys).link(NO_POS, 'some-id', { shopifyCustomerId: ADA });
    const res = await balance(q({ shop: NO_POS }));
    expect(res.status).toBe(503);
    expect(res.body.error).toMatch(/not available in this shop/);
  });
});
