import { Session } from '@shopify/shopify-api';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type FakeOrder, ShopifyAdminFake } from '../../fakes/shopify/admin.js';
import { routeAllShops } from '../../fakes/shopify/shop-origin.js';
import { orderPayload, refundPayload } from '../../fakes/shopify/webhooks.js';
import type { WebhookJobData } from '../../src/queue/jobs.js';
import { adminAccessFromConfig } from '../../src/shopify/admin-access.js';
import { RedisSessionStorage } from '../../src/shopify/session-storage.js';
import { runCatchUp, startCatchUp } from '../../src/sync/catch-up.js';
import { graphqlForSessions } from '../../src/sync/catch-up-job.js';
import { catchUpStatus, isRecovered, readCatchUp } from '../../src/sync/catch-up-state.js';
import { jobsFromConfig } from '../../src/sync/jobs/handlers.js';
import type { JobHandlers } from '../../src/sync/jobs/types.js';
import type { FetchOrderSnapshot } from '../../src/sync/order-jobs.js';
import { parsePayload } from '../../src/sync/payloads.js';
import { compactedLedger, compactOrders, DAY_MS } from '../../src/sync/retention.js';
import { testConfig } from '../helpers/admin.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

/**
 * Webhooks that never arrived (an orders/paid, a refunds/create, an orders/cancelled) are recovered by the
 * catch-up from the Admin API: the stand-in answers paged GraphQL with cost extensions and one THROTTLED
 * answer, and every IT Retail balance ends exactly where full delivery would have left it.
 */

const TOKEN = 'shpat_catch_up_test';
const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();

const CUSTOMERS = {
  ada: { id: '601', email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace' },
  grace: { id: '602', email: 'grace@example.com', firstName: 'Grace', lastName: 'Hopper' },
  linus: { id: '603', email: 'linus@example.com', firstName: 'Linus', lastName: 'Pauling' },
  mary: { id: '604', email: 'mary@example.com', firstName: 'Mary', lastName: 'Somerville' },
};
type Who = keyof typeof CUSTOMERS;

interface Spec {
  id: string;
  who: Who;
  /** The subtotal when paid. */
  subtotal: string;
  refunds?: { id: string; subtotal: string }[];
  cancelled?: boolean;
  status?: string;
  updatedMinutesAgo: number;
}

/** The order as the Admin API holds it now (after its refunds and any cancel). */
function fakeOrder(s: Spec): FakeOrder {
  const refunded = (s.refunds ?? []).reduce((sum, r) => sum + Math.round(Number(r.subtotal) * 100), 0);
  const current = ((Math.round(Number(s.subtotal) * 100) - refunded) / 100).toFixed(2);
  return {
    id: `gid://shopify/Order/${s.id}`,
    name: `#${s.id.slice(-4)}`,
    email: CUSTOMERS[s.who].email,
    createdAt: minutesAgo(120),
    processedAt: minutesAgo(120),
    updatedAt: minutesAgo(s.updatedMinutesAgo),
    cancelledAt: s.cancelled ? minutesAgo(s.updatedMinutesAgo) : null,
    displayFinancialStatus: s.status ?? (refunded ? 'PARTIALLY_REFUNDED' : 'PAID'),
    currentSubtotal: current,
    subtotal: s.subtotal,
    customerId: `gid://shopify/Customer/${CUSTOMERS[s.who].id}`,
    refunds: (s.refunds ?? []).map((r) => ({
      id: `gid://shopify/Refund/${r.id}`,
      createdAt: minutesAgo(s.updatedMinutesAgo),
      lines: [
        {
          id: `gid://shopify/RefundLineItem/${r.id}1`,
          quantity: 1,
          lineItemId: 'gid://shopify/LineItem/1',
          subtotal: r.subtotal,
        },
      ],
    })),
  };
}

const paid = (s: Spec) => {
  const c = CUSTOMERS[s.who];
  return orderPayload({
    id: s.id,
    email: c.email,
    subtotal: s.subtotal,
    customerId: c.id,
    firstName: c.firstName,
    lastName: c.lastName,
  });
};

// Points are floor(1 × eligible subtotal) per order. By hand:
//   Ada   50 seeded + #1001 (120.00 − refund 20.00 = 100) + #1002 (35.50 → 35)        = 185
//   Grace 10 seeded + #1003 (80.00, cancelled → 0)  + #1005 (15.00 − 5.00 = 10)        = 20
//   Linus  new      + #1004 (42.99 − refund 10.00 = 32.99 → 32)                         = 32
//   Mary   new      + #1007…#1010 (4 × 10.00)                                           = 40
// Webhooks lost: #1001's refunds/create, #1002's orders/paid, #1003's orders/cancelled (and its refund),
// #1004's orders/paid and refunds/create. #1006 is unpaid and earns nothing.
const ORDERS: Spec[] = [
  {
    id: '8000001001',
    who: 'ada',
    subtotal: '120.00',
    refunds: [{ id: '9100', subtotal: '20.00' }],
    updatedMinutesAgo: 50,
  },
  { id: '8000001002', who: 'ada', subtotal: '35.50', updatedMinutesAgo: 48 },
  {
    id: '8000001003',
    who: 'grace',
    subtotal: '80.00',
    refunds: [{ id: '9300', subtotal: '80.00' }],
    cancelled: true,
    status: 'REFUNDED',
    updatedMinutesAgo: 46,
  },
  {
    id: '8000001004',
    who: 'linus',
    subtotal: '42.99',
    refunds: [{ id: '9400', subtotal: '10.00' }],
    updatedMinutesAgo: 44,
  },
  {
    id: '8000001005',
    who: 'grace',
    subtotal: '15.00',
    refunds: [{ id: '9500', subtotal: '5.00' }],
    updatedMinutesAgo: 42,
  },
  { id: '8000001006', who: 'ada', subtotal: '99.00', status: 'PENDING', updatedMinutesAgo: 40 },
  ...[7, 8, 9, 10].map((n) => ({
    id: `80000010${String(n).padStart(2, '0')}`,
    who: 'mary' as const,
    subtotal: '10.00',
    // The last two sit inside the next run's overlap, so that run reads them again.
    updatedMinutesAgo: n <= 8 ? 38 - n : 2,
  })),
];

const DELIVERED = [
  { topic: 'orders/paid', payload: paid(ORDERS[0]!) },
  { topic: 'orders/paid', payload: paid(ORDERS[2]!) },
  { topic: 'orders/paid', payload: paid(ORDERS[4]!) },
  { topic: 'refunds/create', payload: refundPayload('8000001005', '9500', '5.00') },
  ...ORDERS.slice(6).map((s) => ({ topic: 'orders/paid', payload: paid(s) })),
];

let h: Harness;
let fake: ShopifyAdminFake;
let unroute: () => void;
/** The worker's Admin API read of one order (a compacted order's refund or edit uses it). */
let fetchOrderSnapshot: FetchOrderSnapshot;
let handlers: JobHandlers;

async function drained() {
  for (let i = 0; i < 600; i++) {
    const c = await h.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized');
    if (!c.waiting && !c.active && !c.delayed && !c.prioritized) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the queue did not drain');
}

const balance = (email: string) => h.sim.findByEmail(email)[0]?.LoyaltyPoints;
const balances = () => ({
  ada: balance('ada@example.com'),
  grace: balance('grace@example.com'),
  linus: balance('linus@example.com'),
  mary: balance('mary@example.com'),
});

beforeAll(async () => {
  h = await createHarness('catch-up');
  // A fast-refilling bucket: the runs of later tests need not wait out the earlier ones' spending.
  fake = await ShopifyAdminFake.start({
    accessTokens: [TOKEN],
    maximumAvailable: 20_000,
    restoreRate: 1_000,
  });
  // Every Admin API request of the Shopify library goes to the stand-in.
  unroute = routeAllShops(fake.origin);
  fake.customers = Object.values(CUSTOMERS).map((c) => ({
    id: `gid://shopify/Customer/${c.id}`,
    firstName: c.firstName,
    lastName: c.lastName,
    email: c.email,
  }));
  fake.orders = ORDERS.map(fakeOrder);
  // #1004 in full: a taxed line and shipping (tax is on top of the price here, shipping earns nothing by
  // default, so its points stay 32), and the refund's tax.
  const linus = fake.orders.find((o) => o.id.endsWith('8000001004'));
  if (linus) {
    linus.lineItems = [{ id: 'gid://shopify/LineItem/41', quantity: 1, unitPrice: '42.99', taxes: ['3.44'] }];
    linus.shippingLines = [{ price: '5.00' }];
    const line = linus.refunds[0]?.lines[0];
    if (line) line.tax = '0.80';
  }
  h.sim.seedCustomers([
    { FirstName: 'Ada', LastName: 'Lovelace', Email: 'ada@example.com', LoyaltyPoints: 50 },
    { FirstName: 'Grace', LastName: 'Hopper', Email: 'grace@example.com', LoyaltyPoints: 10 },
  ]);
  // Single-store install mode (every Admin API request goes to the stand-in, routed above).
  const config = testConfig({
    SHOPIFY_SHOP: SHOP,
    SHOPIFY_ADMIN_ACCESS_TOKEN: TOKEN,
  });
  const jobs = jobsFromConfig({
    config,
    redis: h.redis,
    keys: h.keys,
    logger,
    catchUp: { pageSize: 3, settleMs: 1_000 },
  });
  fetchOrderSnapshot = jobs.fetchOrderSnapshot;
  handlers = jobs.handlers;
  await h.start({ fetchOrderSnapshot, handlers });
});

afterAll(async () => {
  unroute?.();
  await h?.close();
  await fake?.close();
});

describe('catch-up from the Admin API', () => {
  it('restores every balance exactly after orders/paid, refunds/create and orders/cancelled were never delivered', async () => {
    const ends = await h.run(DELIVERED);
    expect(ends.every((e) => e.state === 'completed')).toBe(true);
    expect(balances()).toEqual({ ada: 170, grace: 100, linus: undefined, mary: 40 });

    fake.throttleNext(1);
    const { jobId, started } = await startCatchUp({ redis: h.redis, keys: h.keys, queue: h.queue }, SHOP, {
      everyMs: 0,
    });
    expect(started).toBe(true);
    const [end] = await h.waitFor([jobId]);
    expect(end?.state).toBe('completed');
    await drained();

    expect(balances()).toEqual({ ada: 185, grace: 20, linus: 32, mary: 40 });

    // Paged with cursors, one THROTTLED answer waited out and repeated, every document valid, cost reported.
    const pages = fake.received.filter((r) => r.operationName === 'CatchUpOrders');
    expect(pages.filter((r) => r.outcome === 'throttled')).toHaveLength(1);
    const answered = pages.filter((r) => r.outcome === 'ok');
    expect(answered).toHaveLength(4); // 10 orders, 3 a page
    expect(answered.map((r) => Boolean(r.variables.after))).toEqual([false, true, true, true]);
    expect(fake.received.every((r) => r.outcome === 'ok' || r.outcome === 'throttled')).toBe(true);
    expect(
      fake.received.filter((r) => r.operationName === 'CatchUpRefund' && r.outcome === 'ok'),
    ).toHaveLength(4);

    const status = await catchUpStatus(h.redis, h.keys, SHOP);
    expect(status).toMatchObject({ ordersSeen: 10, ordersRecovered: 4, running: false });
    expect(Date.parse(status.lastRunAt ?? '')).toBeGreaterThan(Date.now() - 60_000);

    // Each recovered order is an event of its own; orders found already right leave none.
    const events = (await h.events.latest(SHOP, 200)).filter((e) => e.topic.startsWith('catch-up/'));
    const recovered = events.filter((e) => isRecovered(e.reason));
    expect(new Set(recovered.map((e) => e.shopifyOrderId))).toEqual(
      new Set(['8000001001', '8000001002', '8000001003', '8000001004']),
    );
    expect(events.every((e) => isRecovered(e.reason))).toBe(true);
    expect(recovered.find((e) => e.shopifyOrderId === '8000001002')).toMatchObject({
      topic: 'catch-up/orders/paid',
      status: 'applied',
      pointsDelta: 35,
    });
  });

  it('a second run, started by the schedule, reads the overlap again and recovers nothing', async () => {
    const before = balances();
    const first = await readCatchUp(h.redis, h.keys, SHOP);
    await h.settings.remember(SHOP);
    await h.running?.close();
    await h.start({ catchUpEveryMs: 60_000, catchUpCheckMs: 100, fetchOrderSnapshot, handlers });
    for (let i = 0; i < 200; i++) {
      const p = await readCatchUp(h.redis, h.keys, SHOP);
      if (p.lastRunId && p.lastRunId !== first.lastRunId) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    await drained();
    const second = await readCatchUp(h.redis, h.keys, SHOP);
    expect(second.lastRunId).not.toBe(first.lastRunId);
    expect(second.lastOrdersSeen).toBe(2); // the two orders inside the overlap
    expect(await catchUpStatus(h.redis, h.keys, SHOP)).toMatchObject({ ordersSeen: 2, ordersRecovered: 0 });
    expect(Date.parse(second.watermark ?? '')).toBeGreaterThan(Date.parse(first.watermark ?? ''));
    expect(balances()).toEqual(before);
  });

  it('reads through an offline session from session storage, and queues exactly what the webhooks would carry', async () => {
    const shop = 'second-shop.myshopify.com';
    const token = 'shpat_offline_session';
    fake.accessTokens.add(token);
    const config = testConfig();
    const access = adminAccessFromConfig({ config, redis: h.redis, keys: h.keys, logger });
    const graphqlFor = graphqlForSessions(access.shopify, access.offlineSession);
    const job = {
      data: { kind: 'catch-up' as const, shop, requestedAt: new Date().toISOString(), runId: 'r1' },
    };
    const added: { name: string; data: WebhookJobData; jobId?: string }[] = [];
    const queue = {
      add: async (name: string, data: unknown, opts?: { jobId?: string }) => {
        added.push({ name, data: data as WebhookJobData, jobId: opts?.jobId });
        return {} as never;
      },
    };
    const deps = { redis: h.redis, keys: h.keys, queue, graphqlFor, options: { settleMs: 1_000 } };
    // No session stored yet: the shop has no token, said in plain words.
    await expect(runCatchUp(job, deps)).rejects.toThrow(/no Shopify access token/);

    const storage = new RedisSessionStorage(h.redis, h.keys, config.encryptionKey);
    const id = access.shopify.session.getOfflineId(shop);
    await storage.storeSession(new Session({ id, shop, state: '', isOnline: false, accessToken: token }));
    const r = await runCatchUp(job, deps);
    expect(r.progress.lastOrdersSeen).toBe(10);
    // 9 paid orders, one of them cancelled too; the pending one queues nothing.
    expect(added.map((a) => a.name).sort()).toEqual(
      [...Array(9).fill('orders/paid'), 'orders/cancelled'].sort(),
    );
    expect(new Set(added.map((a) => a.jobId)).size).toBe(10);
    for (const a of added) {
      expect(a.data).toMatchObject({ kind: 'webhook', shop, source: 'catch-up', catchUpRunId: 'r1' });
      expect(parsePayload(a.name, a.data.payload).ok).toBe(true);
    }
    const linus = parsePayload(
      'orders/paid',
      added.find((a) => a.data.webhookId.includes('8000001004'))?.data.payload,
    );
    expect(linus).toMatchObject({
      ok: true,
      data: {
        id: '8000001004',
        name: '#1004',
        email: 'linus@example.com',
        currentSubtotalCents: 3299,
        customer: { id: '603', first_name: 'Linus', last_name: 'Pauling' },
        refunds: [{ id: '9400', orderId: '8000001004', subtotalCents: 1000, amounts: { tax: 80 } }],
        snapshot: { subtotal: 3299, lineTax: 344, shipping: 500, taxesIncluded: false, refundIds: ['9400'] },
      },
    });
  });

  it('resumes from its saved cursor after Shopify fails part-way, counting each order once', async () => {
    const shop = 'resume-shop.myshopify.com';
    const token = 'shpat_resume';
    fake.accessTokens.add(token);
    const config = testConfig({
      SHOPIFY_SHOP: shop,
      SHOPIFY_ADMIN_ACCESS_TOKEN: token,
    });
    const access = adminAccessFromConfig({ config, redis: h.redis, keys: h.keys, logger });
    const added: string[] = [];
    const queue = {
      add: async (_name: string, _data: unknown, opts?: { jobId?: string }) => {
        added.push(opts?.jobId ?? '');
        return {} as never;
      },
    };
    const deps = {
      redis: h.redis,
      keys: h.keys,
      queue,
      graphqlFor: graphqlForSessions(access.shopify, access.offlineSession),
      options: { settleMs: 1_000, pageSize: 4 },
    };
    const job = {
      data: { kind: 'catch-up' as const, shop, requestedAt: new Date().toISOString(), runId: 'r2' },
    };
    const seen = fake.received.length;
    // The third page's request meets a Shopify outage.
    const afters = new Set<string>();
    fake.failNext({
      when: (r) => {
        if (r.operationName !== 'CatchUpOrders' || !r.variables.after) return false;
        afters.add(String(r.variables.after));
        return afters.size === 2;
      },
    });
    await expect(runCatchUp(job, deps)).rejects.toThrow(/unavailable/i);
    const stopped = await readCatchUp(h.redis, h.keys, shop);
    expect(stopped).toMatchObject({ ordersSeen: 8, state: 'running' });
    expect(stopped.cursor).toBeTruthy();

    const r = await runCatchUp(job, deps);
    expect(r.progress).toMatchObject({ state: 'done', lastOrdersSeen: 10 });
    const orderPages = fake.received
      .slice(seen)
      .filter((x) => x.operationName === 'CatchUpOrders' && x.outcome !== 'throttled');
    // The retry's first page is the stopped run's next one, asked with its saved cursor.
    expect(orderPages.map((x) => x.outcome)).toEqual(['ok', 'ok', 'error', 'ok']);
    expect(orderPages[3]?.variables.after).toBe(stopped.cursor);
    // 10 webhooks' worth (9 paid, 1 cancelled), each order's job id once: nothing queued twice.
    expect(new Set(added).size).toBe(10);
    expect(added).toHaveLength(10);
  });

  it('a refund of an order whose facts were compacted away reads the order from the Admin API and continues exactly', async () => {
    const spec: Spec = { id: '8000002001', who: 'mary', subtotal: '30.00', updatedMinutesAgo: 3 };
    const before = balance('mary@example.com') ?? 0;
    await h.run([{ topic: 'orders/paid', payload: paid(spec) }]);
    expect(balance('mary@example.com')).toBe(before + 30);
    // Past the retention horizon: the order's facts are compacted to its small ledger.
    const r = await compactOrders(h.redis, h.keys, SHOP, {
      horizonMs: 400 * DAY_MS,
      nowMs: Date.now() + 401 * DAY_MS,
    });
    expect(r.compacted).toBeGreaterThanOrEqual(1);
    expect(await compactedLedger(h.redis, h.keys, SHOP, spec.id)).toMatchObject({ appliedPoints: 30 });
    // Shopify now holds the order with a refund of 12.50; its refunds/create webhook arrives.
    fake.orders.push(
      fakeOrder({ ...spec, refunds: [{ id: '9601', subtotal: '12.50' }], updatedMinutesAgo: 1 }),
    );
    const [end] = await h.run([
      { topic: 'refunds/create', payload: refundPayload(spec.id, '9601', '12.50') },
    ]);
    expect(end?.state).toBe('completed');
    expect(balance('mary@example.com')).toBe(before + 17);
    expect(
      fake.received.some((x) => x.operationName === 'CatchUpOrders' && x.variables.query === `id:${spec.id}`),
    ).toBe(true);
    // The same refund again changes nothing.
    await h.run([{ topic: 'refunds/create', payload: refundPayload(spec.id, '9601', '12.50') }]);
    expect(balance('mary@example.com')).toBe(before + 17);
  });
});
