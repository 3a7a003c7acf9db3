import pino from 'pino';
import type { SimulatorOptions } from '../../fakes/itretail/simulator.js';
import { ShopifyAdminFake } from '../../fakes/shopify/admin.js';
import { installLoyaltyApi, type LoyaltyFake } from '../../fakes/shopify/admin-loyalty.js';
import { routeAllShops } from '../../fakes/shopify/shop-origin.js';
import { adminAccessFromConfig } from '../../src/shopify/admin-access.js';
import { registerStorefrontJobs } from '../../src/storefront/worker-jobs.js';
import { graphqlForSessions } from '../../src/sync/catch-up-job.js';
import { testConfig } from '../helpers/admin.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

/**
 * A worker (real Redis, the IT Retail simulator over HTTP) with the storefront jobs registered against the
 * Admin API stand-in over HTTP (single-store mode, every Admin API request sent to it), and the
 * stand-in's storefront operations (metafields, discount codes).
 */

export const TOKEN = 'shpat_storefront_test';
export const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export interface StorefrontHarness {
  h: Harness;
  fake: ShopifyAdminFake;
  loyalty: LoyaltyFake;
  sf: ReturnType<typeof registerStorefrontJobs>;
  close(): Promise<void>;
}

/** THROTTLED answers and retries wait at most a few milliseconds in tests. */
const fastSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 5)));

export async function createStorefrontHarness(
  name: string,
  opts: { simOpts?: SimulatorOptions; expiryGraceMs?: number } = {},
): Promise<StorefrontHarness> {
  const h = await createHarness(name, opts.simOpts);
  const fake = await ShopifyAdminFake.start({
    accessTokens: [TOKEN],
    maximumAvailable: 20_000,
    restoreRate: 1_000,
  });
  const loyalty = installLoyaltyApi(fake);
  // Every Admin API request of the Shopify library goes to the stand-in.
  const unroute = routeAllShops(fake.origin);
  const config = testConfig({
    SHOPIFY_SHOP: SHOP,
    SHOPIFY_ADMIN_ACCESS_TOKEN: TOKEN,
  });
  const access = adminAccessFromConfig({ config, redis: h.redis, keys: h.keys, logger });
  const sf = registerStorefrontJobs({
    redis: h.redis,
    keys: h.keys,
    logger,
    graphqlFor: graphqlForSessions(access.shopify, access.offlineSession),
    queue: h.queue,
    metafieldDelayMs: 50,
    expiryGraceMs: opts.expiryGraceMs ?? 0,
    sleep: fastSleep,
  });
  await h.settings.remember(SHOP);
  await h.start({
    handlers: sf.withHandlers(),
    onBalanceChanged: sf.onBalanceChanged,
    matcherOptions: { missRefreshAfterMs: 60_000, refreshWaitMs: 10_000, onRefresh: sf.onRefresh },
  });
  return {
    h,
    fake,
    loyalty,
    sf,
    async close() {
      unroute();
      await h.close();
      await fake.close();
    },
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until `check` holds (or throws after `timeoutMs` saying what was last seen). */
export async function until<T>(
  what: string,
  read: () => T | Promise<T>,
  check: (v: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  for (;;) {
    last = await read();
    if (check(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: still ${JSON.stringify(last)}`);
    await sleep(25);
  }
}

/** Waits until the sync queue has nothing waiting, active or delayed (delayed jobs due soon included). */
export async function drained(h: Harness, timeoutMs = 30_000): Promise<void> {
  await until(
    'queue drained',
    () => h.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized'),
    (c) => !c.waiting && !c.active && !c.delayed && !c.prioritized,
    timeoutMs,
  );
}
