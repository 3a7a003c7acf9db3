import { UnrecoverableError } from 'bullmq';
import type { Express } from 'express';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { adminApiRouter } from '../../src/admin/api.js';
import { ITRetailHealthRecorder } from '../../src/sync/itretail-health.js';
import { CustomerMatcher } from '../../src/sync/matching.js';
import { type AdminHarness, adminHarness } from '../helpers/admin.js';
import { shardWorkers } from '../helpers/queue.js';
import { keysMatching, testRedis } from '../helpers/redis.js';

const A = 'shop-a.myshopify.com';
const B = 'shop-b.myshopify.com';
const A_USER = { username: 'alice-backoffice', password: 'A-secret-Pa55word' };

let h: AdminHarness;
let app: Express;
let sim: ITRetailSimulator;
let failedJobId: string;
let adaId: string;
const DATA_REQUEST_ID = '9991';
const DATA_REPORT_AT = '2026-03-02T10:00:00.000Z';
const DATA_REPORT = JSON.stringify({
  generatedAt: DATA_REPORT_AT,
  shop: A,
  customer: { shopifyCustomerId: '7001', email: 'ada@example.com' },
  orders: [{ orderId: '9001', name: '#1001', buyer: { firstName: 'Ada', lastName: 'Lovelace' } }],
});

/** Snapshot of everything shop A owns in Redis, to prove another shop's calls leave it untouched. */
async function shopASnapshot() {
  const r = h.deps.redis;
  const keys = (await keysMatching(r, h.deps.keys.shopPattern(A)))
    .filter((k) => !k.includes(':session:'))
    .sort();
  // Not vacuous: shop A has data (settings, events) before the other shop's calls.
  if (keys.length === 0) throw new Error('shop A has no keys to compare');
  const out: Record<string, unknown> = {};
  for (const k of keys) {
    const t = await r.type(k);
    out[k] =
      t === 'hash'
        ? await r.hgetall(k)
        : t === 'string'
          ? await r.get(k)
          : t === 'zset'
            ? await r.zrange(k, 0, -1, 'WITHSCORES')
            : t === 'set'
              ? (await r.smembers(k)).sort()
              : t === 'list'
                ? await r.lrange(k, 0, -1)
                : t;
  }
  const job = await h.deps.queue.getJob(failedJobId);
  out.job = { state: await job?.getState(), shop: job?.data.shop };
  return out;
}

beforeAll(async () => {
  sim = await ITRetailSimulator.start({ users: [A_USER] });
  const seeded = sim.seedCustomers([
    {
      FirstName: 'Ada',
      LastName: 'Lovelace',
      Email: 'ada@example.com',
      LoyaltyPoints: 120,
      CardNo: '400123',
    },
  ]);
  adaId = seeded[0]?.Id ?? '';
  h = await adminHarness('admin-api');
  app = h.app;
  const { deps } = h;
  await deps.settings.update(A, { itretail: { baseUrl: sim.url, ...A_USER }, pointsPerDollar: '2' });
  await deps.settings.markInstalled(A);
  // Shop A: a link, events (one failed with a real failed job), link-existing progress.
  await new CustomerMatcher(deps.redis, deps.keys).link(A, adaId, {
    email: 'ada@example.com',
    shopifyCustomerId: '7001',
  });
  await deps.events.record({
    shop: A,
    topic: 'orders/paid',
    status: 'applied',
    shopifyOrderId: '9001',
    orderName: '#1001',
    customerName: 'Ada Lovelace',
    cardNo: '400123',
    itretailCustomerId: adaId,
    shopifyCustomerId: '7001',
    pointsBefore: 100,
    pointsDelta: 20,
    pointsAfter: 120,
  });
  const job = await deps.queue.add(
    'orders/paid',
    {
      kind: 'webhook',
      shop: A,
      topic: 'orders/paid',
      webhookId: 'w-1',
      receivedAt: new Date().toISOString(),
      payload: { id: 9002 },
    },
    { jobId: 'wh|shop-a|orders%2Fpaid|e-9002', attempts: 1 },
  );
  failedJobId = String(job.id);
  const conn = testRedis();
  const worker = shardWorkers(
    deps.queue,
    async () => {
      throw new UnrecoverableError('IT Retail refused the credentials; check them in Settings');
    },
    { connection: conn },
  );
  await new Promise<void>((resolve) => worker.on('failed', () => resolve()));
  await worker.close();
  conn.disconnect();
  await deps.events.record({
    shop: A,
    topic: 'orders/paid',
    status: 'failed',
    jobId: failedJobId,
    error: 'IT Retail refused the credentials; check them in Settings',
    errorCode: 'ITR_AUTH',
    shopifyOrderId: '9002',
    orderName: '#1002',
    customerName: 'Ada Lovelace',
    attempts: 1,
  });
  // A customers/data_request report, as the worker keeps it (the report and its place in the shop's index).
  await deps.redis.set(deps.keys.dataRequest(A, DATA_REQUEST_ID), DATA_REPORT, 'EX', 3600);
  await deps.redis.zadd(deps.keys.dataRequests(A), Date.now(), DATA_REQUEST_ID);
  await deps.redis.hset(deps.keys.linkExisting(A), {
    state: 'done',
    done: '42',
    total: '42',
    linked: '40',
    created: '2',
    skipped: '0',
    failed: '0',
    cursor: 'c-a',
  });
});

afterAll(async () => {
  await h?.teardown();
  await sim?.stop();
});

interface RouteCase {
  method: 'get' | 'post' | 'put';
  path: string;
  /** The route pattern as registered (for the coverage check). */
  pattern: string;
  body?: unknown;
  /** Called with shop B's answer; proves B saw none of A's data. */
  checkB: (res: request.Response) => void | Promise<void>;
}

const A_MARKERS = ['#1001', '#1002', 'Ada', '400123', 'alice-backoffice', 'A-secret', 'c-a'];
const noneOfA = (res: request.Response) => {
  const text = JSON.stringify(res.body);
  for (const m of A_MARKERS) expect(text).not.toContain(m);
  if (adaId) expect(text).not.toContain(adaId);
};

const ROUTES: RouteCase[] = [
  {
    method: 'get',
    path: '/api/overview',
    pattern: '/overview',
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body.shop).toBe(B);
      expect(r.body.failures).toBe(0);
      expect(r.body.customersLinked).toBe(0);
      expect(r.body.pointsToday).toEqual({ awarded: 0, deducted: 0 });
      noneOfA(r);
    },
  },
  {
    method: 'get',
    path: '/api/events',
    pattern: '/events',
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body.events).toEqual([]);
    },
  },
  {
    method: 'get',
    path: '/api/failures',
    pattern: '/failures',
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body.total).toBe(0);
      noneOfA(r);
    },
  },
  {
    method: 'post',
    path: '/api/failures/retry-all',
    pattern: '/failures/retry-all',
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ retried: 0, gone: 0 });
    },
  },
  {
    method: 'post',
    path: `/api/failures/${encodeURIComponent('wh|shop-a|orders%2Fpaid|e-9002')}/retry`,
    pattern: '/failures/:jobId/retry',
    checkB: (r) => {
      expect(r.status).toBe(404);
      noneOfA(r);
    },
  },
  {
    method: 'post',
    path: `/api/failures/${encodeURIComponent('wh|shop-a|orders%2Fpaid|e-9002')}/dismiss`,
    pattern: '/failures/:jobId/dismiss',
    checkB: (r) => {
      expect(r.status).toBe(404);
      noneOfA(r);
    },
  },
  {
    method: 'get',
    path: '/api/uncertain-writes',
    pattern: '/uncertain-writes',
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ writes: [], total: 0 });
    },
  },
  {
    method: 'post',
    path: '/api/uncertain-writes/c-a/decide',
    pattern: '/uncertain-writes/:itrId/decide',
    body: { writeId: 'w-of-a', decision: 'landed' },
    checkB: (r) => {
      expect(r.status).toBe(409);
      noneOfA(r);
    },
  },
  {
    method: 'get',
    path: '/api/customers?email=ada@example.com',
    pattern: '/customers',
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body.link).toBeNull();
      expect(r.body.orders).toEqual([]);
      noneOfA(r);
    },
  },
  {
    method: 'post',
    path: '/api/customers/resync',
    pattern: '/customers/resync',
    // Shop A's customer is unknown to shop B: B confirms it means to create one.
    body: { email: 'ada@example.com', confirmCreate: true },
    checkB: async (r) => {
      expect(r.status).toBe(200);
      const job = await h.deps.queue.getJob(r.body.jobId);
      expect(job?.data.shop).toBe(B);
      await job?.remove();
    },
  },
  {
    method: 'get',
    path: '/api/data-requests',
    pattern: '/data-requests',
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body.requests).toEqual([]);
      noneOfA(r);
    },
  },
  {
    method: 'get',
    path: `/api/data-requests/${DATA_REQUEST_ID}`,
    pattern: '/data-requests/:id',
    checkB: (r) => {
      expect(r.status).toBe(404);
      expect(r.headers['content-disposition']).toBeUndefined();
      noneOfA(r);
      expect(r.text).not.toContain('Ada');
    },
  },
  {
    method: 'get',
    path: '/api/settings',
    pattern: '/settings',
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body.itretail).toMatchObject({ configured: false, source: 'none' });
      noneOfA(r);
    },
  },
  {
    method: 'put',
    path: '/api/settings',
    pattern: '/settings',
    body: { pointsPerDollar: '5', paused: true },
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body.pointsPerDollar).toBe('5');
      noneOfA(r);
    },
  },
  {
    method: 'post',
    path: '/api/settings/test-connection',
    pattern: '/settings/test-connection',
    body: {},
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body.ok).toBe(false);
      expect(r.body.message).toMatch(/Enter a username/);
    },
  },
  {
    method: 'get',
    path: '/api/link-existing',
    pattern: '/link-existing',
    checkB: (r) => {
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ state: 'idle', done: 0 });
      noneOfA(r);
    },
  },
  {
    method: 'post',
    path: '/api/link-existing',
    pattern: '/link-existing',
    checkB: (r) => {
      expect(r.status).toBe(400);
      expect(r.body.error).toMatch(/Connect IT Retail/);
    },
  },
  {
    method: 'post',
    path: '/api/catch-up',
    pattern: '/catch-up',
    checkB: async (r) => {
      // B's own run: a job of shop B, and nothing of A's catch-up in the answer.
      expect(r.status).toBe(202);
      expect(r.body.jobId).toContain(encodeURIComponent(B));
      expect(r.body.catchUp).toMatchObject({ lastRunAt: null, ordersSeen: 0, ordersRecovered: 0 });
      // No worker runs here; later tests count the waiting jobs.
      await h.deps.queue.remove(r.body.jobId);
    },
  },
];
// The status route of the web app shares the /api prefix and the same session-token rule.
const AUTH_ONLY = [{ method: 'get' as const, path: '/api/status' }];

const call = (method: 'get' | 'post' | 'put', path: string, token?: string, body?: unknown) => {
  let req = request(app)[method](path);
  if (token) req = req.set('Authorization', `Bearer ${token}`);
  return body !== undefined ? req.send(body as object) : req;
};

describe('every /api route', () => {
  it('is listed here (so the checks below cover them all)', () => {
    const router = adminApiRouter({
      ...h.deps,
      install: h.admin.install,
      itretail: h.admin.itretail,
      links: new CustomerMatcher(h.deps.redis, h.deps.keys),
    });
    type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] } };
    // The section routers are mounted without a path: their routes are the API's routes as they are.
    const routesOf = (stack: Layer[]): string[] =>
      stack.flatMap((l) =>
        l.route
          ? Object.keys(l.route.methods).map((m) => `${m} ${l.route!.path}`)
          : l.handle?.stack
            ? routesOf(l.handle.stack)
            : [],
      );
    const registered = routesOf(router.stack as Layer[]).sort();
    const listed = [...new Set(ROUTES.map((r) => `${r.method} ${r.pattern}`))].sort();
    expect(listed).toEqual(registered);
  });

  const now = () => Math.floor(Date.now() / 1000);
  const bad: [string, () => string | undefined, RegExp][] = [
    ['no token', () => undefined, /missing session token/],
    ['a bad signature', () => h.token(A, { secret: 'not-the-app-secret-at-all' }), /invalid session token/],
    ['a wrong audience', () => h.token(A, { aud: 'another-app-key' }), /invalid session token/],
    ['an expired token', () => h.token(A, { exp: now() - 120, nbf: now() - 300 }), /invalid session token/],
    [
      'a token not valid yet',
      () => h.token(A, { nbf: now() + 300, exp: now() + 400 }),
      /invalid session token/,
    ],
  ];
  for (const [what, token, message] of bad) {
    it(`refuses ${what} with 401 on every route and changes nothing`, async () => {
      const before = await shopASnapshot();
      for (const r of [...ROUTES, ...AUTH_ONLY]) {
        const res = await call(r.method, r.path, token(), 'body' in r ? r.body : undefined);
        expect(res.status, `${r.method} ${r.path}`).toBe(401);
        expect(res.body.error).toMatch(message);
        expect(JSON.stringify(res.body)).not.toContain('Ada');
      }
      expect(await shopASnapshot()).toEqual(before);
    });
  }

  it("with another shop's token, reads none of shop A's data and changes none of it", async () => {
    const before = await shopASnapshot();
    for (const r of ROUTES) {
      const res = await call(r.method, r.path, h.token(B), r.body);
      await r.checkB(res);
    }
    expect(await shopASnapshot()).toEqual(before);
  });

  it("with shop A's own token, the same routes do show A's data (so the checks above are not vacuous)", async () => {
    const t = () => h.token(A);
    const overview = await call('get', '/api/overview', t());
    expect(overview.body).toMatchObject({
      shop: A,
      failures: 1,
      customersLinked: 1,
      pointsToday: { awarded: 20, deducted: 0 },
    });
    expect(
      (await call('get', '/api/events', t())).body.events.map((e: { orderName: string }) => e.orderName),
    ).toEqual(['#1002', '#1001']);
    const failures = await call('get', '/api/failures', t());
    expect(failures.body.failures[0]).toMatchObject({
      jobId: failedJobId,
      orderName: '#1002',
      retryable: true,
      jobState: 'failed',
    });
    expect(failures.body.failures[0].fix).toMatch(/username and password/);
    const customer = await call('get', '/api/customers?email=ADA@example.com', t());
    expect(customer.body.itretail).toMatchObject({
      id: adaId,
      cardNo: '400123',
      loyaltyPoints: 120,
      name: 'Ada Lovelace',
    });
    expect(customer.body.orders).toEqual([expect.objectContaining({ orderName: '#1001', points: 20 })]);
    expect((await call('get', '/api/settings', t())).body.itretail).toMatchObject({
      configured: true,
      source: 'shop',
      username: A_USER.username,
    });
    expect((await call('get', '/api/link-existing', t())).body).toMatchObject({ state: 'done', done: 42 });
    expect((await call('get', '/api/data-requests', t())).body.requests).toEqual([
      { id: DATA_REQUEST_ID, at: DATA_REPORT_AT, shopifyCustomerId: '7001', email: 'ada@example.com' },
    ]);
    const report = await call('get', `/api/data-requests/${DATA_REQUEST_ID}`, t());
    expect(report.status).toBe(200);
    expect(report.text).toBe(DATA_REPORT);
  });
});

describe('customer data request reports', () => {
  const shop = 'data-requests.myshopify.com';
  const report = (at: string, customer: string) =>
    JSON.stringify({ generatedAt: at, shop, customer: { shopifyCustomerId: customer }, orders: [] });

  it('are listed newest first and handed over as a JSON download', async () => {
    const r = h.deps.redis;
    const keep = async (id: string, at: string, customer: string) => {
      await r.set(h.deps.keys.dataRequest(shop, id), report(at, customer));
      await r.zadd(h.deps.keys.dataRequests(shop), Date.parse(at), id);
    };
    await keep('501', '2026-01-01T00:00:00.000Z', '11');
    await keep('502', '2026-02-01T00:00:00.000Z', '12');
    // Requests without an id of their own are kept under their job's id.
    const jobKey = 'job-wh|data-requests|customers%2Fdata_request|w-9';
    await keep(jobKey, '2025-12-01T00:00:00.000Z', '13');
    // A report that expired while its index entry remains is not listed.
    await r.zadd(h.deps.keys.dataRequests(shop), Date.parse('2025-11-01T00:00:00.000Z'), 'expired-1');

    const list = await call('get', '/api/data-requests', h.token(shop));
    expect(list.status).toBe(200);
    expect(list.body).toEqual({
      complete: true,
      requests: [
        { id: '502', at: '2026-02-01T00:00:00.000Z', shopifyCustomerId: '12' },
        { id: '501', at: '2026-01-01T00:00:00.000Z', shopifyCustomerId: '11' },
        { id: jobKey, at: '2025-12-01T00:00:00.000Z', shopifyCustomerId: '13' },
      ],
    });

    const res = await call('get', `/api/data-requests/${encodeURIComponent(jobKey)}`, h.token(shop));
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    expect(res.headers['content-disposition']).toBe(
      'attachment; filename="data-request-job-wh_data-requests_customers_2Fdata_request_w-9.json"',
    );
    expect(res.headers['cache-control']).toBe('no-store');
    expect(JSON.parse(res.text)).toMatchObject({ customer: { shopifyCustomerId: '13' } });
  });

  it('answer 404 for a report that is not kept, and 400 for an id that cannot be one', async () => {
    const gone = await call('get', '/api/data-requests/424242', h.token(shop));
    expect(gone.status).toBe(404);
    expect(gone.body.error).toMatch(/no longer kept/);
    const bad = await call('get', `/api/data-requests/${encodeURIComponent('a:b')}`, h.token(shop));
    expect(bad.status).toBe(400);
  });
});

describe('IT Retail connection card', () => {
  it('shows a failure the workers saw after the page’s own check succeeded', async () => {
    const shop = 'worker-health.myshopify.com';
    await h.deps.settings.update(shop, { itretail: { baseUrl: sim.url, ...A_USER } });
    const before = (await call('get', '/api/overview', h.token(shop))).body.itretail;
    expect(before.lastOkAt).toBeDefined();
    expect(before.lastError).toBeUndefined();
    // A worker's GetOne times out a moment later (recorded the way the worker records its calls).
    const recorder = new ITRetailHealthRecorder(h.deps.redis, h.deps.keys, 60_000);
    recorder.record(
      shop,
      { call: 'GetCustomer', status: 'timeout', durationMs: 15_000 },
      new Date(Date.now() + 1_000),
    );
    await recorder.flush();
    const after = (await call('get', '/api/overview', h.token(shop))).body.itretail;
    expect(after.lastError).toMatchObject({ code: 'timeout', message: 'GetCustomer: IT Retail timed out' });
    expect(after.lastOkAt).toBe(before.lastOkAt);
  });
});

describe('token exchange on the first API call', () => {
  it('exchanges once per shop and keeps the offline session', async () => {
    const shop = 'fresh-install.myshopify.com';
    const before = h.exchanges.filter((s) => s === shop).length;
    expect(before).toBe(0);
    await Promise.all([
      call('get', '/api/settings', h.token(shop)),
      call('get', '/api/events', h.token(shop)),
    ]);
    await call('get', '/api/overview', h.token(shop));
    expect(h.exchanges.filter((s) => s === shop)).toHaveLength(1);
    const session = await h.admin.sessions.loadSession(`offline_${shop}`);
    expect(session?.accessToken).toMatch(/^shpat_/);
    expect(await h.deps.settings.listShops()).toContain(shop);
  });
});

/** Adds webhook jobs and lets a worker fail each for good, recording the failure as the worker would. */
async function failJobs(jobs: { shop: string; jobId: string; order: string }[]) {
  // Nothing else may be waiting, or the failing worker below would take it too.
  expect(await h.deps.queue.getWaitingCount()).toBe(0);
  for (const j of jobs) {
    await h.deps.queue.add(
      'orders/paid',
      {
        kind: 'webhook',
        shop: j.shop,
        topic: 'orders/paid',
        webhookId: j.jobId,
        receivedAt: new Date().toISOString(),
        payload: { id: j.order },
      },
      { jobId: j.jobId, attempts: 1 },
    );
  }
  const conn = testRedis();
  const failed = new Set<string>();
  const worker = shardWorkers(
    h.deps.queue,
    async () => {
      throw new UnrecoverableError('IT Retail refused the credentials; check them in Settings');
    },
    { connection: conn },
  );
  await new Promise<void>((resolve) =>
    worker.on('failed', (job) => {
      failed.add(String(job?.id));
      if (jobs.every((j) => failed.has(j.jobId))) resolve();
    }),
  );
  await worker.close();
  conn.disconnect();
  for (const j of jobs) {
    await h.deps.events.record({
      shop: j.shop,
      topic: 'orders/paid',
      status: 'failed',
      jobId: j.jobId,
      error: 'IT Retail refused the credentials; check them in Settings',
      errorCode: 'ITR_AUTH',
      shopifyOrderId: j.order,
      attempts: 1,
    });
  }
}

describe('a retried job', () => {
  it('gets its full attempts again: failing once more with a retryable error is retried, not failed for good', async () => {
    const shop = 'retry-again.myshopify.com';
    const jobId = 'wh|retry-again|1';
    expect(await h.deps.queue.getWaitingCount()).toBe(0);
    await h.deps.queue.add(
      'orders/paid',
      {
        kind: 'webhook',
        shop,
        topic: 'orders/paid',
        webhookId: jobId,
        receivedAt: new Date().toISOString(),
        payload: { id: '8301' },
      },
      { jobId, attempts: 2 },
    );
    let calls = 0;
    const conn = testRedis();
    const worker = shardWorkers(
      h.deps.queue,
      async () => {
        calls++;
        // Attempts 1 and 2 use up the job's attempts; after the retry, attempt 3 fails again
        // (retryable) and attempt 4 succeeds.
        if (calls !== 4) throw new Error('IT Retail is busy (HTTP 503)');
        return 'ok';
      },
      { connection: conn },
    );
    // Resolves when the job completes or fails for good (BullMQ also reports each failed attempt).
    const settled = () =>
      new Promise<'completed' | 'failed'>((resolve) => {
        const onFailed = (job?: { id?: string; attemptsMade: number; opts: { attempts?: number } }) => {
          if (job?.id === jobId && job.attemptsMade >= (job.opts.attempts ?? 1)) done('failed');
        };
        const onCompleted = (job: { id?: string }) => {
          if (job.id === jobId) done('completed');
        };
        const done = (how: 'completed' | 'failed') => {
          worker.off('failed', onFailed);
          worker.off('completed', onCompleted);
          resolve(how);
        };
        worker.on('failed', onFailed);
        worker.on('completed', onCompleted);
      });
    try {
      expect(await settled()).toBe('failed');
      expect(calls).toBe(2);
      await h.deps.events.record({
        shop,
        topic: 'orders/paid',
        status: 'failed',
        jobId,
        error: 'IT Retail is busy',
        errorCode: 'ITR_UNAVAILABLE',
        attempts: 2,
      });

      const outcome = settled();
      const res = await call('post', `/api/failures/${encodeURIComponent(jobId)}/retry`, h.token(shop));
      expect(res.body.outcome).toBe('retried');
      // Without fresh attempts, the third call's error would be final.
      expect(await outcome).toBe('completed');
      expect(calls).toBe(4);
    } finally {
      await worker.close();
      conn.disconnect();
    }
    await h.deps.queue.remove(jobId);
  });
});

describe('retry all', () => {
  it("puts every failed job of the shop back on the queue, and no other shop's", async () => {
    const C = 'retry-all-c.myshopify.com';
    const D = 'retry-all-d.myshopify.com';
    const state = async (id: string) => (await h.deps.queue.getJob(id))?.getState();
    await failJobs([
      { shop: C, jobId: 'wh|retry-c|1', order: '8101' },
      { shop: C, jobId: 'wh|retry-c|2', order: '8102' },
      { shop: D, jobId: 'wh|retry-d|1', order: '8201' },
    ]);
    expect((await h.deps.events.failures(C, {})).total).toBe(2);

    const res = await call('post', '/api/failures/retry-all', h.token(C));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ retried: 2, gone: 0 });
    expect(await state('wh|retry-c|1')).toBe('waiting');
    expect(await state('wh|retry-c|2')).toBe('waiting');
    expect((await h.deps.events.failures(C, {})).total).toBe(0);
    // Shop D's failure is untouched: still failed, still listed.
    expect(await state('wh|retry-d|1')).toBe('failed');
    expect((await h.deps.events.failures(D, {})).total).toBe(1);
    expect(await state(failedJobId)).toBe('failed');

    for (const id of ['wh|retry-c|1', 'wh|retry-c|2', 'wh|retry-d|1']) await h.deps.queue.remove(id);
  });
});

describe('retry', () => {
  it('puts a failed job of the shop back on the queue and clears the failure', async () => {
    const res = await call('post', `/api/failures/${encodeURIComponent(failedJobId)}/retry`, h.token(A));
    expect(res.status).toBe(200);
    expect(res.body.outcome).toBe('retried');
    expect(await (await h.deps.queue.getJob(failedJobId))?.getState()).toBe('waiting');
    expect((await h.deps.events.failures(A, {})).total).toBe(0);
    const again = await call('post', '/api/failures/no-such-job/retry', h.token(A));
    expect(again.status).toBe(404);
    expect(again.body.error).toMatch(/cannot be retried/);
  });
});

describe('settings', () => {
  const shop = 'settings-shop.myshopify.com';
  const put = (body: unknown) => call('put', '/api/settings', h.token(shop), body);

  it('refuses bad input with a clear message per field and saves nothing', async () => {
    await put({ pointsPerDollar: '1.5' });
    const stored = await h.deps.redis.hgetall(h.deps.keys.settings(shop));
    const cases: [unknown, Record<string, RegExp>][] = [
      [{ pointsPerDollar: 'ten' }, { pointsPerDollar: /Points per dollar must be a number/ }],
      [{ pointsPerDollar: '1.2345' }, { pointsPerDollar: /at most 3 decimals/ }],
      [{ pointsPerDollar: '-1' }, { pointsPerDollar: /Points per dollar/ }],
      [{ includeTestOrders: 'yes' }, { includeTestOrders: /Include test orders must be true or false/ }],
      [{ paused: 1, pointsPerDollar: '2' }, { paused: /Pause sync must be true or false/ }],
      [{ excludeTax: 'on' }, { excludeTax: /Leave tax out must be true or false/ }],
      [{ includeShipping: 0 }, { includeShipping: /Give points for shipping must be true or false/ }],
      [{ orderRetentionDays: 0 }, { orderRetentionDays: /Keep order details must be at least 1 day/ }],
      [{ orderRetentionDays: 1.5 }, { orderRetentionDays: /whole number of days/ }],
      [
        { itretail: { username: '', password: 'x' } },
        { 'itretail.username': /IT Retail username is required/ },
      ],
      [{ itretail: { username: 'u' } }, { 'itretail.password': /IT Retail password/ }],
      [
        { itretail: { baseUrl: 'ftp://example.com', username: 'u', password: 'p' } },
        { 'itretail.baseUrl': /https:\/\// },
      ],
      [{ itretail: { token: 'short' } }, { 'itretail.token': /too short/ }],
      [{ itretail: 'user:pass' }, { itretail: /must be/ }],
      [{ colour: 'blue' }, { colour: /not a setting/ }],
      [[1, 2], { body: /JSON object/ }],
    ];
    for (const [body, fields] of cases) {
      const res = await put(body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(typeof res.body.error).toBe('string');
      for (const [field, msg] of Object.entries(fields))
        expect(res.body.fields?.[field], `${JSON.stringify(body)} → ${field}`).toMatch(msg);
    }
    // A good field next to a bad one is not saved either.
    const mixed = await put({ pointsPerDollar: '3', includeTestOrders: 'sometimes' });
    expect(mixed.status).toBe(400);
    expect(await h.deps.redis.hgetall(h.deps.keys.settings(shop))).toEqual(stored);
  });

  it('stores the points rules and the retention horizon, with their defaults until changed', async () => {
    const other = 'rules-shop.myshopify.com';
    const before = await call('get', '/api/settings', h.token(other));
    expect(before.body).toMatchObject({
      pointsRules: { excludeTax: true, excludeGiftCards: true, includeShipping: false },
      orderRetentionDays: 400,
    });
    const res = await call('put', '/api/settings', h.token(other), {
      excludeTax: false,
      includeShipping: true,
      orderRetentionDays: 90,
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      pointsRules: { excludeTax: false, excludeGiftCards: true, includeShipping: true },
      orderRetentionDays: 90,
    });
  });

  it('stores IT Retail credentials encrypted and never sends them back', async () => {
    const res = await put({
      itretail: { baseUrl: sim.url, username: A_USER.username, password: A_USER.password },
      includeTestOrders: true,
      pointsPerDollar: '1.250',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      pointsPerDollar: '1.25',
      includeTestOrders: true,
      itretail: { configured: true, source: 'shop', username: A_USER.username, baseUrl: sim.url },
    });
    expect(JSON.stringify(res.body)).not.toContain(A_USER.password);
    const get = await call('get', '/api/settings', h.token(shop));
    expect(JSON.stringify(get.body)).not.toContain(A_USER.password);
    const raw = JSON.stringify(await h.deps.redis.hgetall(h.deps.keys.settings(shop)));
    expect(raw).not.toContain(A_USER.password);
    const tokenRes = await put({ itretail: { token: 'pasted-token-0123456789' } });
    expect(JSON.stringify(tokenRes.body)).not.toContain('pasted-token');
    expect(tokenRes.body.itretail).toMatchObject({ configured: true, source: 'shop' });
  });

  it('tests a connection with the typed credentials or the saved ones, in plain words', async () => {
    const t = h.token(shop);
    const good = await call('post', '/api/settings/test-connection', t, {
      itretail: { baseUrl: sim.url, ...A_USER },
    });
    expect(good.body).toMatchObject({ ok: true });
    const wrong = await call('post', '/api/settings/test-connection', t, {
      itretail: { baseUrl: sim.url, username: A_USER.username, password: 'wrong-password' },
    });
    expect(wrong.body).toMatchObject({ ok: false, code: 'ITR_AUTH' });
    expect(wrong.body.message).toMatch(/refused the sign-in/);
    expect(JSON.stringify(wrong.body)).not.toContain('wrong-password');
    const bad = await call('post', '/api/settings/test-connection', t, { itretail: { username: 'x' } });
    expect(bad.status).toBe(400);
    expect(bad.body.fields['itretail.password']).toMatch(/password/);
    await put({ itretail: { baseUrl: sim.url, ...A_USER } });
    const saved = await call('post', '/api/settings/test-connection', t, {});
    expect(saved.body).toMatchObject({ ok: true });
  });
});

describe('customer lookup and resync', () => {
  it('refuses a bad email with a message', async () => {
    const res = await call('get', '/api/customers?email=not-an-email', h.token(A));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/valid email/);
  });

  it('queues a resync for the shop', async () => {
    const res = await call('post', '/api/customers/resync', h.token(A), { email: 'Ada@Example.com ' });
    expect(res.status).toBe(200);
    const job = await h.deps.queue.getJob(res.body.jobId);
    expect(job?.data).toMatchObject({ kind: 'resync-customer', shop: A, email: 'ada@example.com' });
  });
});

describe('Run catch-up now', () => {
  const shop = 'catch-up-api.myshopify.com';

  it('answers 202 with the job, queues one run at a time, and GET /api/status shows it', async () => {
    const t = h.token(shop);
    const before = await call('get', '/api/status', t);
    expect(before.body.catchUp).toEqual({
      lastRunAt: null,
      ordersSeen: 0,
      ordersRecovered: 0,
      running: false,
    });

    const res = await call('post', '/api/catch-up', t);
    expect(res.status).toBe(202);
    expect(res.body).toMatchObject({ started: true, catchUp: { running: true } });
    const job = await h.deps.queue.getJob(res.body.jobId);
    expect(job?.data).toMatchObject({ kind: 'catch-up', shop });
    expect(await job?.getState()).toBe('waiting');

    // A second press while it waits answers the same run.
    const again = await call('post', '/api/catch-up', t);
    expect(again.status).toBe(202);
    expect(again.body).toMatchObject({ jobId: res.body.jobId, started: false });

    const status = await call('get', '/api/status', t);
    expect(status.body.catchUp).toMatchObject({ running: true, lastRunAt: null });
    await h.deps.queue.remove(res.body.jobId);
  });
});

describe('bad query parameters', () => {
  it('answer 400 with the reason', async () => {
    const res = await call('get', '/api/events?status=done&limit=1000', h.token(A));
    expect(res.status).toBe(400);
    expect(res.body.fields.status).toMatch(/applied, skipped or failed/);
    expect(res.body.fields.limit).toMatch(/at most 100/);
  });
});
