import { createHmac, timingSafeEqual } from 'node:crypto';
import type { AuthQuery } from '@shopify/shopify-api';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { QueueUnavailableError, withRedis } from '../queue/enqueue.js';
import { addLogFields, logOf } from '../request-logger.js';
import type { SettingsStore, ShopSettings } from '../settings.js';
import { validShopDomain } from '../shop-domain.js';
import type { Shopify } from '../shopify/api.js';
import type { Keys } from '../store/keys.js';
import { type BalanceReader, BalanceUnavailableError } from './balance.js';
import { pointsValue } from './redemption-rules.js';

/**
 * The app proxy: Shopify forwards `https://<shop>/apps/loyalty/<path>` (see [app_proxy] in shopify.app.toml)
 * to `<app>/proxy/<path>`, adding `shop`, `logged_in_customer_id` (empty when signed out), `path_prefix`,
 * `timestamp` and `signature` to the query. Every request is refused with 401 unless
 *  - `signature` is the HMAC-SHA256 (hex, app secret) of the other query parameters, each `key=value`
 *    with several values joined by `,`, sorted, concatenated (checked by the Shopify library, and in
 *    Shopify's own byte order where the library's order differs),
 *  - `timestamp` is within PROXY_TIMESTAMP_TOLERANCE_S of now (either way: a replayed URL goes stale),
 *  - `shop` is a shop with the app installed (single-store mode: that shop only);
 * and personal routes also need `logged_in_customer_id`. The shop and customer come from the signed query
 * only, never from the body. Answers are JSON, never cached (`Cache-Control: no-store`) and never set
 * cookies (Shopify strips them anyway).
 */

/** The mount path: the path of the [app_proxy] url in shopify.app.toml. */
export const PROXY_PATH = '/proxy';

/**
 * How far a proxy request's timestamp may be from now, in seconds. The Shopify library refuses a signature
 * whose timestamp is further off than this (its own constant, 90 s); the proxy also refuses a request with
 * no timestamp at all, which the library would let through.
 */
export const PROXY_TIMESTAMP_TOLERANCE_S = 90;

export interface ProxyDeps {
  config: Pick<Config, 'shopify'>;
  logger: Logger;
  redis: Redis;
  keys: Keys;
  shopify: Shopify;
  settings: Pick<SettingsStore, 'get'>;
  balances: BalanceReader;
}

/** What a verified proxy request carries (res.locals.proxy). */
interface ProxyRequest {
  shop: string;
  /** Shopify's numeric customer id, or undefined for a signed-out visitor. */
  customerId?: string;
  /** The shop's settings as read for this request. */
  settings: ShopSettings;
}

const proxyOf = (res: Response) => res.locals.proxy as ProxyRequest;

function refuse(res: Response, status: number, error: string, extra: Record<string, unknown> = {}) {
  res.status(status).json({ error, ...extra });
}

/** The query as Express parsed it: every value a string or a list of strings, or undefined if not. */
function flatQuery(req: Request): Record<string, string | string[]> | undefined {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(req.query)) {
    if (typeof v === 'string') out[k] = v;
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[k] = v as string[];
    else return undefined;
  }
  return out;
}

function verifyProxyRequest(deps: ProxyDeps): RequestHandler {
  const single = deps.config.shopify.singleStore?.shop;
  return async (req, res, next) => {
    const query = flatQuery(req);
    const signature = query?.signature;
    if (!query || typeof signature !== 'string' || !/^[0-9a-f]{64}$/i.test(signature)) {
      refuse(res, 401, 'This request is not signed by Shopify.');
      return;
    }
    const timestamp = query.timestamp;
    if (typeof timestamp !== 'string' || !/^\d{1,12}$/.test(timestamp)) {
      refuse(res, 401, 'This request has no valid timestamp.');
      return;
    }
    if (Math.abs(Date.now() / 1000 - Number(timestamp)) > PROXY_TIMESTAMP_TOLERANCE_S) {
      refuse(res, 401, 'This request has expired; reload the page.');
      return;
    }
    let valid = false;
    try {
      valid = await deps.shopify.utils.validateHmac(query as unknown as AuthQuery, { signator: 'appProxy' });
    } catch (err) {
      // The library throws for a timestamp outside its tolerance (a clock at the edge of the window above).
      logOf(res, deps.logger).debug({ err: (err as Error).message }, 'app proxy signature refused');
    }
    // The library orders parameter names with localeCompare; Shopify sorts the `key=value` strings by
    // bytes. They differ for names a storefront URL may add (`Ref`, `a` next to `a1`), where the library
    // refuses a genuine request: Shopify's own order decides then.
    if (!valid) valid = signedInShopifyOrder(query, signature, deps.config.shopify.apiSecret);
    if (!valid) {
      refuse(res, 401, 'This request is not signed by Shopify.');
      return;
    }
    const shop = validShopDomain(query.shop);
    let settings: ShopSettings | undefined;
    try {
      if (shop && (!single || shop === single)) settings = await installedShop(deps, shop);
    } catch {
      refuse(res, 503, 'Points are unavailable right now. Try again in a minute.');
      return;
    }
    if (!shop || !settings) {
      refuse(res, 401, 'The loyalty app is not installed on this shop.');
      return;
    }
    const raw = query.logged_in_customer_id;
    const customerId = typeof raw === 'string' && /^\d{1,20}$/.test(raw) ? raw : undefined;
    res.locals.proxy = { shop, customerId, settings } satisfies ProxyRequest;
    addLogFields(res, { shop });
    next();
  };
}

/** Whether `signature` is Shopify's app-proxy signature of the query, computed exactly as Shopify does. */
function signedInShopifyOrder(
  query: Record<string, string | string[]>,
  signature: string,
  secret: string,
): boolean {
  const message = Object.entries(query)
    .filter(([k]) => k !== 'signature')
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`)
    .sort()
    .join('');
  const expected = createHmac('sha256', secret).update(message).digest();
  const given = Buffer.from(signature, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The shop's settings when it is a known shop with the app installed, else undefined. */
async function installedShop(deps: ProxyDeps, shop: string): Promise<ShopSettings | undefined> {
  const [known, settings] = await withRedis(deps.redis, 'shop lookup', () =>
    Promise.all([deps.redis.sismember(deps.keys.shops(), shop), deps.settings.get(shop)]),
  );
  return known === 1 && settings.installed ? settings : undefined;
}

/** Personal routes: a signed-out visitor (no logged_in_customer_id) gets 401 and a sign-in hint. */
const requireCustomer: RequestHandler = (_req, res, next) => {
  if (!proxyOf(res).customerId) {
    refuse(res, 401, 'Sign in to see your points.', { signIn: true });
    return;
  }
  next();
};

/** Catches a handler's rejection and turns it into a plain answer. */
const handle =
  (deps: ProxyDeps, fn: (req: Request, res: Response) => Promise<void>): RequestHandler =>
  async (req, res, next: NextFunction) => {
    try {
      await fn(req, res);
    } catch (err) {
      if (res.headersSent) return next(err);
      if (err instanceof QueueUnavailableError) {
        refuse(res, 503, 'Points are unavailable right now. Try again in a minute.');
        return;
      }
      logOf(res, deps.logger).warn({ err: (err as Error).message }, 'app proxy request failed');
      refuse(res, 503, 'Your points could not be read right now. Try again in a minute.');
    }
  };

export function proxyRouter(deps: ProxyDeps): express.Router {
  const router = express.Router();
  router.use((_req, res, next) => {
    res.set('Cache-Control', 'no-store');
    next();
  });
  router.use(verifyProxyRequest(deps));

  router.get(
    '/balance',
    requireCustomer,
    handle(deps, async (_req, res) => {
      const { shop, customerId, settings } = proxyOf(res);
      const rules = settings.redemption;
      let b: Awaited<ReturnType<BalanceReader['balance']>>;
      try {
        b = await deps.balances.balance(shop, customerId as string);
      } catch (err) {
        if (err instanceof BalanceUnavailableError) {
          refuse(res, 503, 'Points are not available in this shop yet.');
          return;
        }
        throw err;
      }
      res.json({
        points: b.points,
        value: pointsValue(b.points, rules),
        currency: rules.currency,
        linked: b.linked,
        ...(b.asOf ? { asOf: b.asOf } : {}),
        redemption: {
          enabled: rules.enabled,
          pointsPerUnit: rules.pointsPerUnit,
          minimumPoints: rules.minimumPoints,
          stepPoints: rules.stepPoints,
          maximumPoints: rules.maximumPoints,
        },
      });
    }),
  );

  // Anything else under the proxy: signed, but not (yet) served.
  router.use((_req, res) => {
    refuse(res, 404, 'This loyalty feature is not available.');
  });
  return router;
}
