import '@shopify/shopify-api/adapters/node';
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiVersion, type Shopify, shopifyApi } from '@shopify/shopify-api';

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

const b64url = (v: Buffer | string) => Buffer.from(v).toString('base64url');

/** A session token as App Bridge would mint it (HS256 with the app's secret). */
export function sessionToken(
  shop: string,
  o: { secret?: string; aud?: string; expOffset?: number; nbfOffset?: number; dest?: string } = {},
): string {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const payload = b64url(
    JSON.stringify({
      iss: `https://${shop}/admin`,
      dest: o.dest ?? `https://${shop}`,
      aud: o.aud ?? API_KEY,
      sub: '42',
      exp: now + (o.expOffset ?? 60),
      nbf: now + (o.nbfOffset ?? -5),
      iat: now - 5,
      jti: randomBytes(8).toString('hex'),
      sid: randomBytes(8).toString('hex'),
    }),
  );
  const sig = createHmac('sha256', o.secret ?? API_SECRET)
    .update(`${header}.${payload}`)
    .digest('base64url');
  return `${header}.${payload}.${sig}`;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A local HTTP stand-in for Shopify; the handler decides the answers. */
export async function fakeShopify(
  handler: (
    req: RecordedRequest,
  ) => { status?: number; json: unknown } | Promise<{ status?: number; json: unknown }>,
): Promise<{ origin: string; requests: RecordedRequest[]; close: () => Promise<void> }> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const rec = {
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(rec);
      try {
        const out = await handler(rec);
        res.writeHead(out.status ?? 200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(out.json));
      } catch (err) {
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: String(err) }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

import { type Config, loadConfig } from '../../src/config.js';

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

import type { Express } from 'express';
import pino from 'pino';
import { devSignInRouter } from '../../fakes/shopify/dev-sign-in.js';
import { type Admin, type AdminOptions, createAdmin } from '../../src/admin/index.js';
import { createApp } from '../../src/app.js';
import { buildDeps, type Deps } from '../../src/main.js';
import { routeShopRequests } from '../../src/shopify/shop-origin.js';
import { waitForRedis } from '../../src/store/redis.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { sessionToken as helperToken, TEST_APP, testEnv } from '../helpers/shopify.js';

export interface AdminHarness {
  deps: Deps;
  admin: Admin;
  app: Express;
  prefix: string;
  /** Token-exchange calls the fake Shopify received, by shop. */
  exchanges: string[];
  token(shop: string, o?: { secret?: string; aud?: string; exp?: number; nbf?: number }): string;
  teardown(): Promise<void>;
}

/** The real app (admin routes mounted through extraRoutes) on real Redis, with a local fake of Shopify's token endpoint. */
export async function adminHarness(
  name: string,
  opts: AdminOptions & { env?: Record<string, string>; devSignIn?: boolean } = {},
): Promise<AdminHarness> {
  const prefix = uniquePrefix(name);
  const config = loadConfig(testEnv({ REDIS_KEY_PREFIX: prefix, ...opts.env }));
  const deps = buildDeps(config, { logger: pino({ level: 'silent' }) });
  await waitForRedis(deps.redis);
  const exchanges: string[] = [];
  const fake = await fakeShopify((req) => {
    if (req.path === '/admin/oauth/access_token') {
      // The request went to 127.0.0.1; the shop is the session token's destination.
      const subject = String((JSON.parse(req.body) as { subject_token?: string }).subject_token ?? '');
      const claims = JSON.parse(Buffer.from(subject.split('.')[1] ?? '', 'base64url').toString() || '{}');
      exchanges.push(String(claims.dest ?? '').replace('https://', ''));
      return {
        json: {
          access_token: `shpat_${randomBytes(8).toString('hex')}`,
          scope: 'read_customers,write_customers,read_orders',
        },
      };
    }
    return { status: 404, json: {} };
  });
  const unroute = routeShopRequests((host) => (host.endsWith('.myshopify.com') ? fake.origin : undefined));
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
    exchanges,
    token: (shop, o = {}) =>
      helperToken({
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
