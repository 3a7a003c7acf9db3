import express from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShopifyAdminFake } from '../../fakes/shopify/admin.js';
import { sessionToken as mintSessionToken } from '../../fakes/shopify/session-token.js';
import { routeShopRequests } from '../../fakes/shopify/shop-origin.js';
import { signedOAuthQuery } from '../../fakes/shopify/signed-urls.js';
import { createLogger } from '../../src/logger.js';
import { SettingsStore } from '../../src/settings.js';
import { createInstallService, InstallError, installRouter } from '../../src/shopify/install.js';
import { RedisSessionStorage } from '../../src/shopify/session-storage.js';
import { createKeys } from '../../src/store/keys.js';
import { API_KEY, API_SECRET, BROWSER_UA, testConfig, testShopify } from '../helpers/admin.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const sessionToken = (shop: string, o: { secret?: string } = {}) =>
  mintSessionToken({ secret: o.secret ?? API_SECRET, apiKey: API_KEY, shop });
const signedQuery = (params: Record<string, string>) => signedOAuthQuery(API_SECRET, params);

const prefix = uniquePrefix('install');
const redis = testRedis();
const keys = createKeys(prefix);
const config = testConfig();
const shopify = testShopify();
const logger = createLogger({ level: 'silent' });
const sessions = new RedisSessionStorage(redis, keys, config.encryptionKey);
const settings = new SettingsStore(redis, keys, config.encryptionKey, { pointsPerDollar: '1' });
const deps = { config, logger, shopify, sessions, settings };

const GOOD_SHOP = 'good-shop.myshopify.com';
const REFUSING_SHOP = 'refusing-shop.myshopify.com';
const CODE_SHOP = 'code-shop.myshopify.com';
let fake: ShopifyAdminFake;
let unroute: () => void;

beforeAll(async () => {
  fake = await ShopifyAdminFake.start({
    script: (req) => {
      if (req.method !== 'POST' || req.path !== '/admin/oauth/access_token') return { status: 404, json: {} };
      const body = JSON.parse(req.body) as Record<string, string>;
      if (body.client_id !== API_KEY || body.client_secret !== API_SECRET)
        return { status: 401, json: { error: 'invalid_client' } };
      if (body.grant_type === 'urn:ietf:params:oauth:grant-type:token-exchange') {
        return {
          json: {
            access_token: `shpat_exchanged_${body.subject_token?.slice(-6)}`,
            scope: 'read_customers,write_customers,read_orders',
          },
        };
      }
      if (body.code === 'good-code')
        return { json: { access_token: 'shpat_from_code', scope: 'read_customers' } };
      return { status: 400, json: { error: 'invalid_request' } };
    },
  });
  // Every *.myshopify.com request of the library goes to the fake.
  unroute = routeShopRequests((host) => (host.endsWith('.myshopify.com') ? fake.origin : undefined));
});

afterAll(async () => {
  unroute();
  await fake.close();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('token exchange (Shopify-managed installation)', () => {
  it('exchanges the session token for an offline token once, stores it encrypted and marks the shop installed', async () => {
    const svc = createInstallService(deps);
    const token = sessionToken(GOOD_SHOP);
    const before = fake.requests.length;
    const [s1, s2] = await Promise.all([
      svc.ensureOfflineSession(GOOD_SHOP, token),
      svc.ensureOfflineSession(GOOD_SHOP, token),
    ]);
    expect(s1.accessToken).toBe(`shpat_exchanged_${token.slice(-6)}`);
    expect(s2.id).toBe(s1.id);
    const calls = fake.requests.slice(before);
    expect(calls).toHaveLength(1);
    const body = JSON.parse(calls[0]?.body ?? '{}');
    expect(body).toMatchObject({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: token,
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      requested_token_type: 'urn:shopify:params:oauth:token-type:offline-access-token',
    });
    expect(s1.isOnline).toBe(false);
    const raw = await redis.get(keys.session(GOOD_SHOP, `offline_${GOOD_SHOP}`));
    expect(raw).not.toContain(s1.accessToken);
    expect((await sessions.loadSession(`offline_${GOOD_SHOP}`))?.accessToken).toBe(s1.accessToken);
    expect(await settings.listShops()).toContain(GOOD_SHOP);
    expect((await settings.get(GOOD_SHOP)).installed).toBe(true);
    // A stored session is reused without another call to Shopify.
    await svc.ensureOfflineSession(GOOD_SHOP, sessionToken(GOOD_SHOP));
    expect(fake.requests.length).toBe(before + 1);
  });

  it('rejects a session token that fails verification before calling Shopify', async () => {
    const svc = createInstallService(deps);
    const before = fake.requests.length;
    await expect(
      svc.ensureOfflineSession(
        'forged.myshopify.com',
        sessionToken('forged.myshopify.com', { secret: 'not-the-secret' }),
      ),
    ).rejects.toBeInstanceOf(InstallError);
    expect(fake.requests.length).toBe(before);
    expect(await sessions.loadSession('offline_forged.myshopify.com')).toBeUndefined();
  });

  it('reports a refused exchange as a typed error and stores nothing', async () => {
    const svc = createInstallService(deps);
    const refusing = await ShopifyAdminFake.start({
      script: () => ({ status: 400, json: { error: 'invalid_subject_token' } }),
    });
    const un = routeShopRequests((host) => (host === REFUSING_SHOP ? refusing.origin : undefined));
    try {
      const err = await svc.ensureOfflineSession(REFUSING_SHOP, sessionToken(REFUSING_SHOP)).catch((e) => e);
      expect(err).toBeInstanceOf(InstallError);
      expect(err.code).toBe('TOKEN_EXCHANGE_FAILED');
      expect(err.message).toMatch(/Could not get an access token from Shopify/);
      expect(await sessions.loadSession(`offline_${REFUSING_SHOP}`)).toBeUndefined();
      expect(await settings.listShops()).not.toContain(REFUSING_SHOP);
      // The page's next calls within the next half minute do not ask Shopify again.
      const calls = refusing.requests.length;
      await expect(
        svc.ensureOfflineSession(REFUSING_SHOP, sessionToken(REFUSING_SHOP)),
      ).rejects.toMatchObject({
        code: 'TOKEN_EXCHANGE_FAILED',
      });
      expect(refusing.requests.length).toBe(calls);
    } finally {
      un();
      await refusing.close();
    }
  });

  it('single-store mode uses the environment token and never exchanges', async () => {
    const single = testConfig({
      SHOPIFY_SHOP: 'solo.myshopify.com',
      SHOPIFY_ADMIN_ACCESS_TOKEN: 'shpat_env',
    });
    const svc = createInstallService({ ...deps, config: single });
    const before = fake.requests.length;
    const s = await svc.ensureOfflineSession('solo.myshopify.com', sessionToken('solo.myshopify.com'));
    expect(s.accessToken).toBe('shpat_env');
    await expect(svc.ensureOfflineSession(GOOD_SHOP, sessionToken(GOOD_SHOP))).rejects.toMatchObject({
      code: 'SHOP_NOT_ALLOWED',
    });
    expect(fake.requests.length).toBe(before);
  });
});

describe('authorization-code flow', () => {
  const app = express();
  app.use(installRouter(deps));

  it('refuses /auth without a valid shop domain', async () => {
    const res = await request(app).get('/auth?shop=evil.example.com').set('User-Agent', BROWSER_UA);
    expect(res.status).toBe(400);
    expect(res.text).toMatch(/myshopify\.com/);
  });

  it('/auth redirects to Shopify and /auth/callback stores the offline session and marks the shop installed', async () => {
    const begin = await request(app).get(`/auth?shop=${CODE_SHOP}`).set('User-Agent', BROWSER_UA);
    expect(begin.status).toBe(302);
    const location = new URL(begin.headers.location as string);
    expect(location.origin).toBe(`https://${CODE_SHOP}`);
    expect(location.pathname).toBe('/admin/oauth/authorize');
    expect(location.searchParams.get('client_id')).toBe(API_KEY);
    expect(location.searchParams.get('redirect_uri')).toBe('https://app.example.com/auth/callback');
    const state = location.searchParams.get('state') ?? '';
    const cookies = ([] as string[]).concat(begin.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]);
    expect(cookies.some((c) => c?.startsWith('shopify_app_state='))).toBe(true);

    const query = signedQuery({
      code: 'good-code',
      shop: CODE_SHOP,
      state,
      timestamp: String(Math.floor(Date.now() / 1000)),
    });
    const cb = await request(app)
      .get(`/auth/callback?${query}`)
      .set('User-Agent', BROWSER_UA)
      .set('Cookie', cookies.join('; '));
    expect(cb.status).toBe(302);
    expect(cb.headers.location).toBe(`https://${CODE_SHOP}/admin/apps/${API_KEY}`);
    const stored = await sessions.loadSession(`offline_${CODE_SHOP}`);
    expect(stored?.accessToken).toBe('shpat_from_code');
    expect((await settings.get(CODE_SHOP)).installed).toBe(true);
  });

  it('refuses a callback with a forged HMAC and stores nothing', async () => {
    const shop = 'forged-cb.myshopify.com';
    const begin = await request(app).get(`/auth?shop=${shop}`).set('User-Agent', BROWSER_UA);
    const state = new URL(begin.headers.location as string).searchParams.get('state') ?? '';
    const cookies = ([] as string[]).concat(begin.headers['set-cookie'] ?? []).map((c) => c.split(';')[0]);
    const query = signedQuery({
      code: 'good-code',
      shop,
      state,
      timestamp: String(Math.floor(Date.now() / 1000)),
    }).replace(/hmac=[0-9a-f]+/, `hmac=${'0'.repeat(64)}`);
    const cb = await request(app)
      .get(`/auth/callback?${query}`)
      .set('User-Agent', BROWSER_UA)
      .set('Cookie', cookies.join('; '));
    expect(cb.status).toBe(400);
    expect(cb.text).toMatch(/invalid or has expired/);
    expect(await sessions.loadSession(`offline_${shop}`)).toBeUndefined();
  });

  it('refuses a callback without the state cookie', async () => {
    const query = signedQuery({
      code: 'good-code',
      shop: CODE_SHOP,
      state: 'x',
      timestamp: String(Math.floor(Date.now() / 1000)),
    });
    const cb = await request(app).get(`/auth/callback?${query}`).set('User-Agent', BROWSER_UA);
    expect(cb.status).toBe(400);
  });
});
