import '@shopify/shopify-api/adapters/node';
import { randomBytes } from 'node:crypto';
import { ApiVersion, type Shopify, shopifyApi } from '@shopify/shopify-api';
import type { Express } from 'express';
import pino from 'pino';
import { ShopifyAdminFake } from '../../fakes/shopify/admin.js';
import { devSignInRouter } from '../../fakes/shopify/dev-sign-in.js';
import { sessionToken, sessionTokenClaims } from '../../fakes/shopify/session-token.js';
import { routeAllShops } from '../../fakes/shopify/shop-origin.js';
import { type Admin, type AdminOptions, createAdmin } from '../../src/admin/index.js';
import { createApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { buildDeps, type Deps } from '../../src/main.js';
import { waitForRedis } from '../../src/store/redis.js';
import { dropPrefix, testRedis, uniquePrefix } from './redis.js';
import { TEST_APP, testEnv } from './shopify.js';

export const API_KEY = 'test-api-key';
export const API_SECRET = 'test-api-secret-0123456789';
export const BROWSER_UA =
  'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130 Safari/537.36';

export function testShopify(opts: { apiKey?: string; apiSecret?: string } = {}): Shopify {
  return shopifyApi({
    apiKey: opts.apiKey ?? API_KEY,
    apiSecretKey: opts.apiSecret ?? API_SECRET,
    scopes: ['read_customers', 'write_customers', 'read_orders'],
    hostName: 'app.example.com',
    hostScheme: 'https',
    apiVersion: ApiVersion.July26,
    isEmbeddedApp: true,
    logger: { level: 0, httpRequests: false, timestamps: false, log: async () => {} },
  }) as unknown as Shopify;
}

export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    SHOPIFY_API_KEY: API_KEY,
    SHOPIFY_API_SECRET: API_SECRET,
    SHOPIFY_APP_URL: 'https://app.example.com',
    ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    ...env,
  });
}

export interface AdminHarness {
  deps: Deps;
  admin: Admin;
  app: Express;
  prefix: string;
  /** Token-exchange calls the Shopify stand-in received, by shop. */
  readonly exchanges: string[];
  token(shop: string, o?: { secret?: string; aud?: string; exp?: number; nbf?: number }): string;
  teardown(): Promise<void>;
}

/** The real app (admin routes mounted through extraRoutes) on real Redis, with the Shopify Admin API stand-in. */
export async function adminHarness(
  name: string,
  opts: AdminOptions & { env?: Record<string, string>; devSignIn?: boolean } = {},
): Promise<AdminHarness> {
  const prefix = uniquePrefix(name);
  const config = loadConfig(testEnv({ REDIS_KEY_PREFIX: prefix, ...opts.env }));
  const deps = buildDeps(config, { logger: pino({ level: 'silent' }) });
  await waitForRedis(deps.redis);
  // Shopify's side: the Admin API stand-in, which answers every token exchange with a new offline token.
  const fake = await ShopifyAdminFake.start();
  const unroute = routeAllShops(fake.origin);
  const admin = createAdmin(deps, opts);
  const app = createApp({
    ...deps,
    extraRoutes: (a) => {
      admin.mount(a);
      // The development sign-in is the demo's and the tests': the app itself never mounts it.
      if (opts.devSignIn) a.use(devSignInRouter(config));
    },
  });
  return {
    deps,
    admin,
    app,
    prefix,
    get exchanges() {
      // The request went to 127.0.0.1; the shop is the session token's destination.
      return fake.requests
        .filter((r) => r.path === '/admin/oauth/access_token')
        .map((r) => {
          const subject = String((JSON.parse(r.body) as { subject_token?: string }).subject_token ?? '');
          return String(sessionTokenClaims(subject).dest ?? '').replace('https://', '');
        });
    },
    token: (shop, o = {}) =>
      sessionToken({
        secret: o.secret ?? TEST_APP.apiSecret,
        apiKey: TEST_APP.apiKey,
        shop,
        aud: o.aud,
        exp: o.exp,
        nbf: o.nbf,
      }),
    async teardown() {
      unroute();
      await fake.close();
      await admin.close();
      await deps.close();
      const r = testRedis();
      await dropPrefix(r, prefix);
      await r.quit();
    },
  };
}
