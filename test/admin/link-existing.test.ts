import { Session } from '@shopify/shopify-api';
import { QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { type RecordedRequest, ShopifyAdminFake } from '../../fakes/shopify/admin.js';
import { routeShopRequests } from '../../fakes/shopify/shop-origin.js';
import { readProgress, runLinkExisting, startLinkExisting } from '../../src/admin/link-existing.js';
import { ITRetailClient } from '../../src/itretail/client.js';
import { createLogger } from '../../src/logger.js';
import type { AdminJobData } from '../../src/queue/jobs.js';
import { createSyncQueues } from '../../src/queue/shards.js';
import { SettingsStore } from '../../src/settings.js';
import { CustomerPager, graphqlRequestFor, throttleWaitMs } from '../../src/shopify/graphql.js';
import { createKeys } from '../../src/store/keys.js';
import { SyncEventStore } from '../../src/sync/events.js';
import { buildJobHandlers } from '../../src/sync/jobs/handlers.js';
import { CustomerMatcher } from '../../src/sync/matching.js';
import { workerDepsFromConfig } from '../../src/worker/from-config.js';
import { startWorker } from '../../src/worker/worker.js';
import { testConfig, testShopify } from '../helpers/admin.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const SHOP = 'linking-shop.myshopify.com';
const prefix = uniquePrefix('link-existing');
const redis = testRedis();
const keys = createKeys(prefix);
const shopify = testShopify();
const events = new SyncEventStore(redis, keys);
const matcher = new CustomerMatcher(redis, keys);
const logger = createLogger({ level: 'silent' });

interface FakeCustomer {
  id: number;
  first: string;
  last: string;
  email?: string;
  phone?: string;
}
// 7 customers over 3 pages of 3/3/1: two already in IT Retail, one without email.
const CUSTOMERS: FakeCustomer[] = [
  { id: 1001, first: 'Ada', last: 'Lovelace', email: 'ada@example.com', phone: '+16135550101' },
  { id: 1002, first: 'Grace', last: 'Hopper', email: 'GRACE@example.com' },
  { id: 1003, first: 'Walk', last: 'In' },
  { id: 1004, first: 'Alan', last: 'Turing', email: 'alan@example.com' },
  { id: 1005, first: 'Edsger', last: 'Dijkstra', email: 'edsger@example.com' },
  { id: 1006, first: 'Barbara', last: 'Liskov', email: 'barbara@example.com' },
  { id: 1007, first: 'Donald', last: 'Knuth', email: 'donald@example.com' },
];
const PER_PAGE = 3;

let sim: ITRetailSimulator;
let client: ITRetailClient;
let fake: ShopifyAdminFake;
let unroute: () => void;
/** Behaviour switches of the fake, per test. */
const script = {
  throttleOnceAtCursor: undefined as string | undefined,
  failOnceAtCursor: undefined as string | undefined,
  lowBudget: false,
};
const graphqlCalls: { query: string; after: string | null }[] = [];

function cost(available: number) {
  return {
    requestedQueryCost: 252,
    actualQueryCost: 12,
    throttleStatus: { maximumAvailable: 2000, currentlyAvailable: available, restoreRate: 100 },
  };
}

function answer(req: RecordedRequest) {
  if (!req.path.startsWith('/admin/api/2026-07/graphql.json'))
    return { status: 404, json: { errors: 'Not Found' } };
  if (req.headers['x-shopify-access-token'] !== 'shpat_linking')
    return { status: 401, json: { errors: '[API] Invalid API key or access token' } };
  const { query, variables } = JSON.parse(req.body) as {
    query: string;
    variables: { after?: string | null; first?: number };
  };
  if (query.includes('customersCount')) {
    graphqlCalls.push({ query: 'count', after: null });
    return {
      json: { data: { customersCount: { count: CUSTOMERS.length } }, extensions: { cost: cost(1990) } },
    };
  }
  const after = variables.after ?? null;
  graphqlCalls.push({ query: 'customers', after });
  if (script.throttleOnceAtCursor !== undefined && after === script.throttleOnceAtCursor) {
    script.throttleOnceAtCursor = undefined;
    return {
      json: {
        errors: [
          {
            message: 'Throttled',
            extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' },
          },
        ],
        extensions: {
          cost: {
            requestedQueryCost: 252,
            actualQueryCost: null,
            throttleStatus: { maximumAvailable: 2000, currentlyAvailable: 40, restoreRate: 100 },
          },
        },
      },
    };
  }
  if (script.failOnceAtCursor !== undefined && after === script.failOnceAtCursor) {
    script.failOnceAtCursor = undefined;
    return { status: 503, json: { errors: 'Service Unavailable' } };
  }
  expect(variables.first).toBe(250);
  const start = after ? Number(after.replace('cursor-', '')) : 0;
  const slice = CUSTOMERS.slice(start, start + PER_PAGE);
  const end = start + slice.length;
  return {
    json: {
      data: {
        customers: {
          pageInfo: { hasNextPage: end < CUSTOMERS.length, endCursor: slice.length ? `cursor-${end}` : null },
          nodes: slice.map((c) => ({
            id: `gid://shopify/Customer/${c.id}`,
            firstName: c.first,
            lastName: c.last,
            defaultEmailAddress: c.email ? { emailAddress: c.email } : null,
            defaultPhoneNumber: c.phone ? { phoneNumber: c.phone } : null,
          })),
        },
      },
      extensions: { cost: cost(script.lowBudget ? 100 : 1748) },
    },
  };
}

const session = new Session({
  id: `offline_${SHOP}`,
  shop: SHOP,
  state: '',
  isOnline: false,
  accessToken: 'shpat_linking',
});

beforeAll(async () => {
  sim = await ITRetailSimulator.start({ users: [{ username: 'u', password: 'p' }] });
  sim.seedCustomers([
    { FirstName: 'Ada', LastName: 'Lovelace', Email: 'ada@example.com', LoyaltyPoints: 50 },
    { FirstName: 'Grace', LastName: 'Hopper', Email: 'grace@example.com', LoyaltyPoints: 10 },
  ]);
  client = new ITRetailClient({
    baseUrl: sim.url,
    credentials: { kind: 'password', username: 'u', password: 'p' },
  });
  fake = await ShopifyAdminFake.start({ script: answer });
  unroute = routeShopRequests((host) => (host === SHOP ? fake.origin : undefined));
});

afterAll(async () => {
  unroute();
  await fake.close();
  await client.close();
  await sim.stop();
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('throttle arithmetic', () => {
  it('waits for the missing cost at the restore rate, and not at all when the bucket holds enough', () => {
    const s = { maximumAvailable: 1000, currentlyAvailable: 100, restoreRate: 50 };
    expect(throttleWaitMs(s, 252)).toBe(Math.ceil(((252 - 100) / 50) * 1000));
    expect(throttleWaitMs({ ...s, currentlyAvailable: 300 }, 252)).toBe(0);
    expect(throttleWaitMs(undefined, 252)).toBe(0);
  });
});

describe('link existing customers', () => {
  it('pages the customers through a throttled answer and a Shopify outage, resumes from the saved cursor, and links or creates each', async () => {
    const queue = createSyncQueues(redis, keys, 4);
    try {
      const started = await startLinkExisting({ redis, keys, queue }, SHOP);
      expect(started.started).toBe(true);
      const jobId = started.progress.jobId as string;
      const job = await queue.getJob(jobId);
      expect(job?.data).toMatchObject({ kind: 'link-existing', shop: SHOP });
      // A second press while it is queued answers the same run.
      const again = await startLinkExisting({ redis, keys, queue }, SHOP);
      expect(again.started).toBe(false);
      expect(again.progress.jobId).toBe(jobId);

      const waits: number[] = [];
      const deps = {
        redis,
        keys,
        logger,
        events,
        matcher,
        graphqlFor: async () => graphqlRequestFor(shopify, session),
        clientFor: async () => client,
        pager: { sleep: async (ms: number) => void waits.push(ms) },
      };
      script.throttleOnceAtCursor = 'cursor-3';
      script.failOnceAtCursor = 'cursor-6';
      script.lowBudget = true;

      // First attempt: page 1, THROTTLED then page 2, then Shopify is down at page 3.
      const first = await runLinkExisting({ id: jobId, data: job!.data as AdminJobData }, deps).catch(
        (e) => e,
      );
      expect(first).toBeInstanceOf(Error);
      expect(first.code).toBe('SHOPIFY_UNAVAILABLE');
      const mid = await readProgress(redis, keys, SHOP);
      expect(mid).toMatchObject({ state: 'running', done: 6, total: 7, cursor: 'cursor-6' });
      expect(mid.error).toMatch(/continue automatically/);
      // Low budget after each answer → the pager waited before the next page; the THROTTLED answer too.
      expect(waits.length).toBeGreaterThanOrEqual(2);
      expect(waits).toContain(Math.ceil(((252 - 40) / 100) * 1000));
      expect(waits).toContain(Math.ceil(((252 - 100) / 100) * 1000));

      // The retry (BullMQ runs the same job again) starts from the saved cursor, not from the beginning.
      const callsBefore = graphqlCalls.length;
      script.lowBudget = false;
      const done = await runLinkExisting({ id: jobId, data: job!.data as AdminJobData }, deps);
      const resumed = graphqlCalls.slice(callsBefore).filter((c) => c.query === 'customers');
      expect(resumed.map((c) => c.after)).toEqual(['cursor-6']);
      expect(done).toMatchObject({
        state: 'done',
        done: 7,
        total: 7,
        linked: 2,
        created: 4,
        skipped: 1,
        failed: 0,
      });

      // Every customer with an email is linked, the two existing ones to their IT Retail records.
      const ada = sim.findByEmail('ada@example.com');
      expect(ada).toHaveLength(1);
      expect(await matcher.linkedByCustomer(SHOP, '1001')).toBe(ada[0]?.Id);
      expect(await matcher.linkedByCustomer(SHOP, '1002')).toBe(sim.findByEmail('grace@example.com')[0]?.Id);
      for (const c of CUSTOMERS.filter((x) => x.email && x.id > 1003)) {
        const found = sim.findByEmail(c.email as string);
        expect(found).toHaveLength(1);
        expect(found[0]).toMatchObject({ FirstName: c.first, LastName: c.last });
        expect(await matcher.linkedByCustomer(SHOP, String(c.id))).toBe(found[0]?.Id);
      }
      expect(await matcher.linkedByCustomer(SHOP, '1003')).toBeUndefined();
      const summary = await events.list(SHOP, { topic: 'admin/link-existing' });
      expect(summary.events[0]?.reason).toMatch(/2 found in IT Retail, 4 created, 1 without email/);

      // Running it again changes nothing in IT Retail: everything is found through the links.
      const count = sim.listCustomers().length;
      const restart = await startLinkExisting({ redis, keys, queue }, SHOP);
      expect(restart.started).toBe(true);
      const rerun = await runLinkExisting(
        { id: restart.progress.jobId, data: job!.data as AdminJobData },
        deps,
      );
      expect(rerun).toMatchObject({ state: 'done', done: 7, linked: 6, created: 0 });
      expect(sim.listCustomers().length).toBe(count);
    } finally {
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
    }
  });

  it('reports a shop without a usable access token as a stopped run with the reason', async () => {
    const shop = 'no-token.myshopify.com';
    const res = await runLinkExisting(
      { id: 'x1', data: { kind: 'link-existing', shop, requestedAt: new Date().toISOString() } },
      {
        redis,
        keys,
        matcher,
        graphqlFor: async () => {
          throw new Error('the shop has no Shopify access token; open the app from the Shopify admin once');
        },
        clientFor: async () => client,
      },
    ).catch((e) => e);
    expect(res).toBeInstanceOf(Error);
    const p = await readProgress(redis, keys, shop);
    expect(p.state).toBe('failed');
    expect(p.error).toMatch(/no Shopify access token/);
  });

  it('runs as a job of the sync worker once registered, and the worker records its outcome', async () => {
    const shop = SHOP;
    const cfg = testConfig();
    const conn = testRedis();
    const settings = new SettingsStore(redis, keys, cfg.encryptionKey, {
      pointsPerDollar: '1',
      allowLoopbackBaseUrl: true,
    });
    await settings.update(shop, { itretail: { baseUrl: sim.url, username: 'u', password: 'p' } });
    const running = await startWorker({
      ...workerDepsFromConfig(cfg, logger, conn, keys),
      handlers: buildJobHandlers({ shopify, offlineSession: async () => session }),
      settings,
      events,
    });
    const queue = createSyncQueues(redis, keys, cfg.redis.queueShards);
    const queueEvents = new QueueEvents(queue.forShop(shop).name, {
      connection: conn.duplicate(),
      prefix: queue.forShop(shop).opts.prefix,
    });
    await queueEvents.waitUntilReady();
    try {
      const { progress } = await startLinkExisting({ redis, keys, queue }, shop);
      const job = await queue.getJob(progress.jobId as string);
      await job?.waitUntilFinished(queueEvents);
      expect(await readProgress(redis, keys, shop)).toMatchObject({ state: 'done', done: 7, total: 7 });
      const recorded = (await events.list(shop, { topic: 'admin/link-existing' })).events.find(
        (e) => e.jobId === job?.id,
      );
      expect(recorded).toMatchObject({ status: 'applied' });
      expect(recorded?.reason).toMatch(/Linked existing customers: \d+ found in IT Retail/);
    } finally {
      await running.close();
      await queueEvents.close();
      await queue.close();
      conn.disconnect();
    }
  });

  it('a pager used alone reads the total and maps the customer fields', async () => {
    const pager = new CustomerPager(graphqlRequestFor(shopify, session), { sleep: async () => undefined });
    expect(await pager.count()).toBe(7);
    const page = await pager.page();
    expect(page.customers[0]).toEqual({
      gid: 'gid://shopify/Customer/1001',
      id: '1001',
      firstName: 'Ada',
      lastName: 'Lovelace',
      email: 'ada@example.com',
      phone: '+16135550101',
    });
    expect(page.customers[2]?.email).toBeUndefined();
    expect(page).toMatchObject({ hasNextPage: true, endCursor: 'cursor-3' });
  });
});
