/**
 * `npm run demo`: the whole bridge on one machine, with live data on the admin page and no Shopify.
 *
 * - the IT Retail simulator (seeded customers, user demo/demo);
 * - a local stand-in for the shop's Shopify Admin API (token endpoint and the customers GraphQL query), so
 *   token exchange and "Link existing customers" work;
 * - the app (web + sync worker in this process) on Redis (scripts/with-redis.mjs provides one);
 * - a stream of signed sample webhooks — customers/create, orders/paid, refunds/create, orders/cancelled —
 *   with some faults: duplicate deliveries, a refund before its order, a guest order without email, a test
 *   order, an unreadable payload, and spells where IT Retail answers errors;
 * - the development sign-in, which serves the page with locally minted session tokens.
 */
import '@shopify/shopify-api/adapters/node';
import { createHash, randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import { createAdmin } from '../src/admin/index.js';
import { createApp } from '../src/app.js';
import { type Config, loadConfig } from '../src/config.js';
import { createLogger, type Logger } from '../src/logger.js';
import { buildDeps, type Deps } from '../src/main.js';
import { createRedis, scanKeys, unlinkKeys, waitForRedis } from '../src/store/redis.js';
import { buildJobHandlers } from '../src/sync/jobs/handlers.js';
import { workerDepsFromConfig } from '../src/worker/from-config.js';
import { startWorker } from '../src/worker/worker.js';
import { ITRetailSimulator } from './itretail/simulator.js';
import { ShopifyAdminFake } from './shopify/admin.js';
import { installLoyaltyApi, type LoyaltyFake } from './shopify/admin-loyalty.js';
import { devSignInRouter, mintSessionToken } from './shopify/dev-sign-in.js';
import { routeAllShops } from './shopify/shop-origin.js';
import { storefrontPreview } from './shopify/storefront-preview.js';
import {
  cancelledPayload,
  customerPayload,
  orderPayload,
  refundPayload,
  webhookHeaders,
} from './shopify/webhooks.js';

export const DEMO_SHOP = 'demo-shop.myshopify.com';

export interface DemoOptions {
  port?: number;
  redisUrl?: string;
  keyPrefix?: string;
  logLevel?: Config['logLevel'];
  /** Send the sample webhook stream (default true). */
  stream?: boolean;
  /** Milliseconds between webhooks of the live stream (default 3000). */
  streamEveryMs?: number;
  seedCustomers?: number;
}

export interface RunningDemo {
  url: string;
  signInUrl: string;
  /** The storefront preview: sign in as a sample shopper, see the balance, redeem points. */
  previewUrl: string;
  /** The stand-in's metafields and discount codes. */
  loyalty: LoyaltyFake;
  config: Config;
  deps: Deps;
  sim: ITRetailSimulator;
  /** The origin of the Shopify Admin API stand-in every request of the Shopify library goes to. */
  shopifyOrigin: string;
  logger: Logger;
  /** Sends one signed webhook to the app, as Shopify would. */
  sendWebhook(topic: string, payload: unknown, opts?: { eventId?: string }): Promise<number>;
  stop(): Promise<void>;
}

/** Environment of the demo: dummy Shopify app credentials and a fresh encryption key, never real ones. */
function demoConfig(o: DemoOptions): Config {
  return loadConfig({
    NODE_ENV: 'development',
    PORT: String(o.port ?? 3000),
    HOST: '127.0.0.1',
    // Quiet by default so the console shows the demo's own lines; LOG_LEVEL=info shows the app's log.
    LOG_LEVEL: o.logLevel ?? process.env.LOG_LEVEL ?? 'silent',
    REDIS_URL: o.redisUrl ?? process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_KEY_PREFIX: o.keyPrefix ?? 'itrb-demo',
    SHOPIFY_API_KEY: 'demo-api-key',
    SHOPIFY_API_SECRET: 'demo-shopify-api-secret-not-for-production',
    SHOPIFY_APP_URL: `http://localhost:${o.port ?? 3000}`,
    // A fixed dummy key: the demo's data is thrown away at every start anyway.
    ENCRYPTION_KEY: createHash('sha256').update('itretail-loyalty-bridge demo key').digest('hex'),
    WORKER_CONCURRENCY: '4',
  });
}

// ------------------------------------------------------------------------------------------------ fake Shopify

interface ShopCustomer {
  id: number;
  first: string;
  last: string;
  email?: string;
  phone?: string;
}

/**
 * Shopify's side for the demo shop: the Admin API stand-in the tests use (token exchange, the customers the
 * "Link existing customers" job pages through, every document validated against Shopify's schema, a cost
 * budget). Its order list is empty: every demo order reaches the app as a webhook, so the catch-up finds
 * nothing to recover.
 */
async function startFakeShopify(
  customers: ShopCustomer[],
): Promise<{ origin: string; loyalty: LoyaltyFake; close(): Promise<void> }> {
  const fake = await ShopifyAdminFake.start({ accessTokens: [] });
  // Customer metafields and discount codes, for the storefront side.
  const loyalty = installLoyaltyApi(fake);
  // The demo's shop keeps gaining customers while it runs: Shopify's list is read as it is at each request.
  Object.defineProperty(fake, 'customers', {
    get: () =>
      customers.map((c) => ({
        id: `gid://shopify/Customer/${c.id}`,
        firstName: c.first,
        lastName: c.last,
        email: c.email ?? null,
        phone: c.phone ?? null,
      })),
  });
  return { origin: fake.origin, loyalty, close: () => fake.close() };
}

// ------------------------------------------------------------------------------------------------ samples

const FIRST = [
  'Maria',
  'James',
  'Aiko',
  'Omar',
  'Chloé',
  'Liam',
  'Priya',
  'Noah',
  'Sofia',
  'Mateo',
  'Ava',
  'Ethan',
];
const LAST = [
  'Lopez',
  'Smith',
  'Tanaka',
  'Haddad',
  'Martin',
  'Murphy',
  'Patel',
  'Brown',
  'Rossi',
  'Garcia',
  'Chen',
  'Okafor',
];

function money(cents: number): string {
  return (cents / 100).toFixed(2);
}

/** An order of the demo shop, built from Shopify's example payload (fakes/shopify/webhooks.ts). */
function demoOrder(o: {
  id: number;
  number: number;
  customer?: ShopCustomer;
  subtotalCents: number;
  test?: boolean;
  cancelled?: boolean;
}) {
  const now = new Date().toISOString();
  const spec = {
    id: String(o.id),
    number: o.number,
    email: o.customer ? (o.customer.email ?? null) : null,
    customerId: o.customer ? String(o.customer.id) : undefined,
    firstName: o.customer?.first,
    lastName: o.customer?.last,
    subtotal: money(o.subtotalCents),
    test: o.test,
    at: now,
  };
  return o.cancelled
    ? cancelledPayload({ ...spec, currentSubtotal: '0.00', financialStatus: 'refunded' }, now)
    : orderPayload(spec);
}

/** A refund of the order's one line. */
function demoRefund(orderId: number, refundCents: number) {
  return refundPayload(
    String(orderId),
    String(orderId * 7 + 3),
    money(refundCents),
    new Date().toISOString(),
  );
}

function demoCustomer(c: ShopCustomer) {
  return customerPayload({
    id: String(c.id),
    email: c.email ?? null,
    firstName: c.first,
    lastName: c.last,
    phone: c.phone ?? null,
    updatedAt: new Date().toISOString(),
  });
}

// ------------------------------------------------------------------------------------------------ demo

export async function startDemo(o: DemoOptions = {}): Promise<RunningDemo> {
  // The shop's customers on Shopify's side (filled below, once IT Retail's are known).
  const shopCustomers: ShopCustomer[] = [];
  const fakeShopify = await startFakeShopify(shopCustomers);
  // Every Admin API request of the Shopify library (token exchange, GraphQL) goes to the stand-in.
  const unroute = routeAllShops(fakeShopify.origin);
  const config = demoConfig(o);
  const logger = createLogger({ level: config.logLevel, name: 'demo' });

  const sim = await ITRetailSimulator.start({
    users: [{ username: 'demo', password: 'demo' }],
    randomSeed: 2026,
  });
  sim.generateCustomers(o.seedCustomers ?? 60, { emailDomain: 'example.com', deletedShare: 0.03 });
  const known = sim
    .listCustomers()
    .filter((c) => c.Email && !c.Deleted)
    .slice(0, 30);

  // The shop's customers: some already in IT Retail (by email), some new, one without email.
  let nextCustomerId = 7_000_000_001;
  shopCustomers.push(
    ...known.slice(0, 20).map((c) => ({
      id: nextCustomerId++,
      first: c.FirstName ?? 'Pat',
      last: c.LastName ?? 'Doe',
      email: c.Email ?? undefined,
    })),
  );
  for (let i = 0; i < 25; i++) {
    const first = FIRST[i % FIRST.length] as string;
    const last = LAST[(i * 5) % LAST.length] as string;
    shopCustomers.push({
      id: nextCustomerId++,
      first,
      last,
      email:
        i === 7
          ? undefined
          : `${first
              .toLowerCase()
              .normalize('NFD')
              .replace(/[^a-z]/g, '')}.${last.toLowerCase()}${i}@shopper.test`,
      phone: i % 3 === 0 ? `+1613555${String(1000 + i).slice(-4)}` : undefined,
    });
  }

  const deps = buildDeps(config, { logger });
  await waitForRedis(deps.redis, 5_000);
  // Every start is a fresh demo: drop what an earlier run left under the demo's key prefix.
  await scanKeys(deps.redis, `${config.redis.keyPrefix}:*`, (found) => unlinkKeys(deps.redis, found));
  const admin = createAdmin(deps);
  await deps.settings.update(DEMO_SHOP, {
    itretail: { baseUrl: sim.url, username: 'demo', password: 'demo' },
    pointsPerDollar: '1',
    // Shoppers may redeem points for codes in the storefront preview.
    redemption: { enabled: true },
  });
  await deps.settings.markInstalled(DEMO_SHOP);
  // The shop's offline token, as the first opening of the app gets it (the storefront's jobs need it).
  await admin.install
    .ensureOfflineSession(DEMO_SHOP, mintSessionToken(config, DEMO_SHOP))
    .catch(() => undefined);

  // The worker, in this process, with every job handler.
  const workerRedis = createRedis(config.redis, 'worker');
  workerRedis.on('error', () => undefined);
  await waitForRedis(workerRedis, 5_000);
  const workerDeps = workerDepsFromConfig(
    config,
    logger.child({ component: 'worker' }),
    workerRedis,
    deps.keys,
  );
  // Admin API access through the sessions the demo's own sign-in stores.
  const shopifyJobs = buildJobHandlers({
    shopify: deps.shopify,
    offlineSession: (shop) => admin.install.offlineSession(shop),
  });
  const worker = await startWorker({
    ...workerDeps,
    // The storefront's jobs (redemptions, codes, the loyalty metafield) stay as workerDepsFromConfig made them.
    handlers: { ...shopifyJobs, admin: { ...workerDeps.handlers?.admin, ...shopifyJobs.admin } },
  });

  let appOrigin = '';
  const preview = storefrontPreview({
    shop: DEMO_SHOP,
    secret: config.shopify.apiSecret,
    appOrigin: () => appOrigin,
    metafield: (id) => fakeShopify.loyalty.pointsOf(id),
    customers: async () => {
      const links = await deps.redis.hgetall(deps.keys.shop(DEMO_SHOP, 'link', 'customer'));
      return Object.entries(links)
        .map(([id, itrId]) => {
          const c = shopCustomers.find((x) => String(x.id) === id);
          const points = sim.getCustomer(itrId)?.LoyaltyPoints ?? undefined;
          return { id, name: c ? `${c.first} ${c.last}` : `customer ${id}`, email: c?.email, points };
        })
        .sort((a, b) => (b.points ?? 0) - (a.points ?? 0))
        .slice(0, 8);
    },
  });
  const app = createApp({
    ...deps,
    itretail: admin.itretail,
    extraRoutes: (a) => {
      a.use(preview);
      admin.mount(a);
      a.use(devSignInRouter(config));
    },
  });
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, config.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://localhost:${port}`;
  appOrigin = `http://127.0.0.1:${port}`;

  async function sendWebhook(
    topic: string,
    payload: unknown,
    opts: { eventId?: string } = {},
  ): Promise<number> {
    const body = JSON.stringify(payload);
    const res = await fetch(`http://127.0.0.1:${port}/webhooks`, {
      method: 'POST',
      headers: webhookHeaders({
        topic,
        shop: DEMO_SHOP,
        secret: config.shopify.apiSecret,
        body,
        apiVersion: config.shopify.apiVersion,
        eventId: opts.eventId,
      }),
      body,
    });
    await res.arrayBuffer();
    return res.status;
  }

  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  if (o.stream !== false) {
    let orderId = 6_100_000_001;
    let orderNumber = 1001;
    const pick = <T>(xs: T[], i: number) => xs[i % xs.length] as T;
    const withEmail = shopCustomers.filter((c) => c.email);
    const paid: { id: number; cents: number }[] = [];
    const script: (() => Promise<unknown>)[] = [];
    const order = (customer: ShopCustomer | undefined, cents: number, extra: { test?: boolean } = {}) => {
      const id = orderId++;
      const p = demoOrder({ id, number: orderNumber++, customer, subtotalCents: cents, ...extra });
      paid.push({ id, cents });
      return { id, p };
    };
    // Opening burst: enough for every part of the page to have something to show.
    for (let i = 0; i < 6; i++) {
      const c = pick(shopCustomers.slice(20), i);
      script.push(() => sendWebhook('customers/create', demoCustomer(c)));
    }
    for (let i = 0; i < 10; i++) {
      const c = pick(withEmail, i * 3);
      const { p } = order(c, 1500 + ((i * 1731) % 9000));
      const eventId = randomUUID();
      script.push(() => sendWebhook('orders/paid', p, { eventId }));
      // Shopify delivers twice now and then: the second delivery is recognised and ignored.
      if (i % 4 === 1) script.push(() => sendWebhook('orders/paid', p, { eventId }));
    }
    {
      // A refund that arrives before its order (out of order), then the order.
      const c = pick(withEmail, 5);
      const { id, p } = order(c, 8000);
      script.push(() => sendWebhook('refunds/create', demoRefund(id, 2500)));
      script.push(() => sendWebhook('orders/paid', p));
    }
    script.push(() => sendWebhook('orders/paid', order(undefined, 4200).p)); // guest order without email: skipped
    script.push(() => sendWebhook('orders/paid', order(pick(withEmail, 2), 999, { test: true }).p)); // test order: skipped
    {
      // A payload whose amount cannot be read: fails for good, with the reason on the Failures list.
      const bad = demoOrder({
        id: orderId++,
        number: orderNumber++,
        customer: pick(withEmail, 9),
        subtotalCents: 100,
      });
      script.push(() =>
        sendWebhook('orders/paid', {
          ...bad,
          current_subtotal_price: 'twelve dollars',
          subtotal_price: 'twelve dollars',
          current_subtotal_price_set: undefined,
          subtotal_price_set: undefined,
        }),
      );
    }
    {
      const { id, p } = order(pick(withEmail, 11), 6400);
      script.push(() => sendWebhook('orders/paid', p));
      script.push(() =>
        sendWebhook(
          'orders/cancelled',
          demoOrder({
            id,
            number: Number(p.order_number),
            customer: pick(withEmail, 11),
            subtotalCents: 6400,
            cancelled: true,
          }),
        ),
      );
    }
    for (const step of script) await step().catch(() => undefined);

    // Then a live trickle, with an IT Retail outage every so often.
    let tick = 0;
    const live = async () => {
      if (stopped) return;
      tick++;
      try {
        if (tick % 20 === 5) sim.setFaults({ errorRate: 0.6 });
        if (tick % 20 === 9) sim.resetFaults();
        const r = tick % 7;
        if (r === 3 && paid.length) {
          const victim = pick(paid, tick * 13);
          await sendWebhook(
            'refunds/create',
            demoRefund(victim.id, Math.min(victim.cents, 500 + ((tick * 97) % 2000))),
          );
        } else if (r === 6) {
          const c: ShopCustomer = {
            id: nextCustomerId++,
            first: pick(FIRST, tick),
            last: pick(LAST, tick * 7),
            email: `new.${tick}.${Date.now() % 1000}@shopper.test`,
          };
          shopCustomers.push(c);
          await sendWebhook('customers/create', demoCustomer(c));
        } else {
          await sendWebhook(
            'orders/paid',
            order(pick(withEmail, tick * 5), 1000 + ((tick * 2417) % 12000)).p,
          );
        }
      } catch {
        // The demo goes on; the page shows what happened.
      }
      timer = setTimeout(live, o.streamEveryMs ?? 3_000);
    };
    timer = setTimeout(live, o.streamEveryMs ?? 3_000);
  }

  return {
    url,
    signInUrl: `${url}/dev/sign-in?shop=${DEMO_SHOP}`,
    previewUrl: `${url}/preview`,
    loyalty: fakeShopify.loyalty,
    config,
    deps,
    sim,
    shopifyOrigin: fakeShopify.origin,
    logger,
    sendWebhook,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await worker.close().catch(() => undefined);
      await admin.close();
      await deps.close();
      workerRedis.disconnect();
      unroute();
      await fakeShopify.close();
      await sim.stop();
    },
  };
}

async function main(): Promise<void> {
  if (process.env.NODE_ENV === 'production') {
    console.error(
      'The demo signs in without Shopify, which is refused when NODE_ENV=production. Unset NODE_ENV.',
    );
    process.exit(1);
  }
  const port = process.env.PORT ? Number(process.env.PORT) : 3000;
  let demo: RunningDemo;
  try {
    demo = await startDemo({ port: Number.isInteger(port) ? port : 3000 });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    console.error(
      code === 'EADDRINUSE'
        ? `Port ${port} is in use; run with PORT=<another port> npm run demo`
        : `The demo could not start: ${(err as Error).message}`,
    );
    process.exit(1);
  }
  console.log('');
  console.log('  IT Retail Loyalty Bridge — demo');
  console.log(`  Open the admin page:  ${demo.signInUrl}`);
  console.log(`  Storefront preview:   ${demo.previewUrl} (sign in as a shopper, redeem points)`);
  console.log(`  IT Retail simulator:  ${demo.sim.url} (user demo / demo)`);
  console.log('  Sample webhooks are arriving every few seconds; IT Retail has an outage now and then.');
  console.log('  Ctrl-C to stop.');
  console.log('');
  let stopping = false;
  const stop = () => {
    if (stopping) process.exit(1);
    stopping = true;
    demo.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  void main();
}
