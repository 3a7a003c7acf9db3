import { UnrecoverableError } from 'bullmq';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { dismissedKey } from '../../src/admin/routes/failures.js';
import { CustomerMatcher } from '../../src/sync/matching.js';
import { type AdminHarness, adminHarness } from '../helpers/admin.js';
import { shardWorkers } from '../helpers/queue.js';
import { testRedis } from '../helpers/redis.js';

/**
 * The section routers of the admin API: the overview's verdict, Dismiss of a failure a retry cannot help,
 * the Resync guard, "Keep what is saved" with a new base URL, and the Activity search and Resync filter.
 */

const USER = { username: 'sections-clerk', password: 'Sections-Pa55' };
let h: AdminHarness;
let sim: ITRetailSimulator;

const call = (method: 'get' | 'post' | 'put', shop: string, path: string, body?: unknown) => {
  const req = request(h.app)
    [method](path)
    .set('Authorization', `Bearer ${h.token(shop)}`);
  return body !== undefined ? req.send(body as object) : req;
};

/** A shop connected to the simulator with the right password, installed. */
async function connectedShop(shop: string) {
  await h.deps.settings.update(shop, { itretail: { baseUrl: sim.url, ...USER } });
  await h.deps.settings.markInstalled(shop);
}

/** A job of the shop that really failed (so it can be retried), and its recorded failure. */
async function failedJob(shop: string, n: number, errorCode: string) {
  const job = await h.deps.queue.forShop(shop).add(
    'orders/paid',
    {
      kind: 'webhook',
      shop,
      topic: 'orders/paid',
      webhookId: `w-${n}`,
      receivedAt: new Date().toISOString(),
      payload: { id: n },
    },
    { jobId: `wh|${shop}|orders%2Fpaid|e-${n}`, attempts: 1 },
  );
  const conn = testRedis();
  const worker = shardWorkers(
    h.deps.queue,
    async () => {
      throw new UnrecoverableError('failed on purpose');
    },
    { connection: conn },
  );
  await new Promise<void>((resolve) => worker.on('failed', () => resolve()));
  await worker.close();
  conn.disconnect();
  await h.deps.events.record({
    shop,
    topic: 'orders/paid',
    status: 'failed',
    jobId: String(job.id),
    error: 'failed on purpose',
    errorCode,
    shopifyOrderId: String(n),
    orderName: `#${n}`,
    attempts: 1,
  });
  return String(job.id);
}

beforeAll(async () => {
  sim = await ITRetailSimulator.start({ users: [USER] });
  h = await adminHarness('admin-sections');
});
afterAll(async () => {
  await h?.teardown();
  await sim?.stop();
});

describe('overview verdict', () => {
  it('says Working when nothing is wrong', async () => {
    const shop = 'verdict-ok.myshopify.com';
    await connectedShop(shop);
    const o = (await call('get', shop, '/api/overview')).body;
    expect(o.verdict).toBe('working');
    expect(o.problems).toEqual([]);
    expect(o.itretail.state).toBe('ok');
    expect(o.setup).toEqual({ credentials: true, connected: true, linked: false });
  });

  it('says Not working with "IT Retail refused the sign-in" and Open Settings for a wrong password', async () => {
    const shop = 'verdict-refused.myshopify.com';
    await h.deps.settings.update(shop, {
      itretail: { baseUrl: sim.url, username: USER.username, password: 'wrong-Pa55' },
    });
    await h.deps.settings.markInstalled(shop);
    const o = (await call('get', shop, '/api/overview')).body;
    expect(o.verdict).toBe('not-working');
    expect(o.problems[0]).toMatchObject({
      severity: 'critical',
      title: 'IT Retail refused the sign-in',
      action: { label: 'Open Settings', kind: 'open', section: 'settings' },
    });
    expect(o.itretail.state).toBe('refused');
  });

  it('says Needs attention with a Resume button when paused, and the most severe problem first', async () => {
    const shop = 'verdict-paused.myshopify.com';
    await connectedShop(shop);
    await h.deps.settings.update(shop, { paused: true });
    const paused = (await call('get', shop, '/api/overview')).body;
    expect(paused.verdict).toBe('needs-attention');
    expect(paused.problems).toEqual([
      expect.objectContaining({ code: 'PAUSED', action: { label: 'Resume', kind: 'resume' } }),
    ]);
    // A failure a retry can help comes first, with "Retry 1".
    await failedJob(shop, 7101, 'ITR_UNAVAILABLE');
    const both = (await call('get', shop, '/api/overview')).body;
    expect(both.verdict).toBe('not-working');
    expect(both.problems.map((p: { code: string }) => p.code)).toEqual(['FAILURES', 'PAUSED']);
    expect(both.problems[0].action).toEqual({ label: 'Retry 1', kind: 'retry-all' });
  });
});

describe('dismissing a failure', () => {
  it('takes a failure no retry can help off the overview, keeps it per shop, and refuses one a retry can help', async () => {
    const shop = 'dismiss.myshopify.com';
    await connectedShop(shop);
    const bad = await failedJob(shop, 7201, 'INVALID_PAYLOAD');
    const auth = await failedJob(shop, 7202, 'ITR_AUTH');

    const list = (await call('get', shop, '/api/failures')).body;
    const byId = Object.fromEntries(list.failures.map((f: { jobId: string }) => [f.jobId, f]));
    expect(byId[bad]).toMatchObject({ retryable: false, dismissable: true, permanent: true });
    expect(byId[auth]).toMatchObject({ retryable: true, dismissable: false });

    const refused = await call('post', shop, `/api/failures/${encodeURIComponent(auth)}/dismiss`);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatch(/Retry/);

    // Retry all leaves the permanent one alone.
    const before = (await call('get', shop, '/api/overview')).body;
    expect(before.problems[0]).toMatchObject({ code: 'FAILURES', action: { label: 'Retry 1' } });
    await h.deps.queue
      .forShop(shop)
      .getJob(auth)
      .then((j) => j?.remove());
    await h.deps.events.clearFailure(shop, auth);

    const overview = (await call('get', shop, '/api/overview')).body;
    expect(overview.verdict).toBe('not-working');
    expect(overview.problems[0]).toMatchObject({ code: 'FAILURES', action: { label: 'Review' } });

    const ok = await call('post', shop, `/api/failures/${encodeURIComponent(bad)}/dismiss`);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({ ok: true, dismissed: 1 });
    const kept = JSON.parse((await h.deps.redis.hget(dismissedKey(h.deps, shop), bad)) ?? '{}');
    expect(kept).toMatchObject({ jobId: bad, errorCode: 'INVALID_PAYLOAD', orderName: '#7201' });
    expect(kept.dismissedAt).toBeTypeOf('string');

    const after = (await call('get', shop, '/api/overview')).body;
    expect(after.verdict).toBe('working');
    expect(after.dismissedFailures).toBe(1);
    expect((await call('get', shop, '/api/failures')).body).toMatchObject({ total: 0, dismissed: 1 });
    // Once is enough.
    expect((await call('post', shop, `/api/failures/${encodeURIComponent(bad)}/dismiss`)).status).toBe(404);
    // Another shop cannot dismiss it.
    const other = 'dismiss-other.myshopify.com';
    expect((await call('post', other, `/api/failures/${encodeURIComponent(bad)}/dismiss`)).status).toBe(404);
  });
});

describe('resync', () => {
  it('of an email the app does not know asks for confirmation before it creates an IT Retail customer', async () => {
    const shop = 'resync-guard.myshopify.com';
    await connectedShop(shop);
    const typo = await call('post', shop, '/api/customers/resync', { email: 'ada@exmaple.com' });
    expect(typo.status).toBe(409);
    expect(typo.body).toMatchObject({ needsConfirmCreate: true, email: 'ada@exmaple.com' });
    expect(typo.body.error).toMatch(/would create a new IT Retail customer/);
    const waiting = await h.deps.queue.forShop(shop).getJobs(['waiting', 'delayed']);
    expect(waiting.filter((j) => j.data.shop === shop)).toEqual([]);
    expect((await call('get', shop, '/api/customers?email=ada@exmaple.com')).body.known).toBe(false);

    const confirmed = await call('post', shop, '/api/customers/resync', {
      email: 'ada@exmaple.com',
      confirmCreate: true,
    });
    expect(confirmed.status).toBe(200);
    expect((await h.deps.queue.getJob(confirmed.body.jobId))?.data).toMatchObject({
      kind: 'resync-customer',
      email: 'ada@exmaple.com',
    });
    await h.deps.queue.remove(confirmed.body.jobId);

    // A linked customer needs no confirmation.
    await new CustomerMatcher(h.deps.redis, h.deps.keys).link(shop, 'itr-ada', {
      email: 'ada@example.com',
      shopifyCustomerId: '9301',
    });
    expect((await call('get', shop, '/api/customers?email=ada@example.com')).body.known).toBe(true);
    const linked = await call('post', shop, '/api/customers/resync', { email: 'Ada@Example.com' });
    expect(linked.status).toBe(200);
    await h.deps.queue.remove(linked.body.jobId);
  });
});

describe('settings: keep what is saved', () => {
  it('saves an edited base URL with the saved sign-in, and tests the typed URL', async () => {
    const shop = 'keep-url.myshopify.com';
    await connectedShop(shop);
    const moved = await ITRetailSimulator.start({ users: [USER] });
    try {
      // Test connection goes to the typed URL: the old one answers, the typed one is down.
      const down = await call('post', shop, '/api/settings/test-connection', {
        itretail: { keep: true, baseUrl: 'http://127.0.0.1:9' },
      });
      expect(down.body.ok).toBe(false);
      const typed = await call('post', shop, '/api/settings/test-connection', {
        itretail: { keep: true, baseUrl: moved.url },
      });
      expect(typed.body.ok).toBe(true);
      expect(Object.values(moved.callCounts()).reduce((a, b) => a + (b ?? 0), 0)).toBeGreaterThan(0);

      const saved = await call('put', shop, '/api/settings', {
        itretail: { keep: true, baseUrl: moved.url },
      });
      expect(saved.status).toBe(200);
      expect(saved.body.itretail).toMatchObject({ baseUrl: moved.url, username: USER.username });
      const stored = await h.deps.settings.get(shop);
      expect(stored.itretail).toEqual({
        baseUrl: moved.url,
        credentials: { kind: 'password', ...USER },
      });
      // Nothing saved to keep: refused, with the reason on the field.
      const fresh = await call('put', 'keep-none.myshopify.com', '/api/settings', {
        itretail: { keep: true, baseUrl: moved.url },
      });
      expect(fresh.status).toBe(400);
      expect(fresh.body.fields.itretail).toMatch(/No IT Retail sign-in is saved/);
    } finally {
      await moved.stop();
    }
  });
});

describe('activity', () => {
  it('searches by customer or order, and filters resyncs by their real topic', async () => {
    const shop = 'activity-search.myshopify.com';
    const rec = (e: Record<string, unknown>) =>
      h.deps.events.record({ shop, status: 'applied', topic: 'orders/paid', ...e } as never);
    await rec({ orderName: '#5001', customerName: 'Ada Lovelace', pointsDelta: 5 });
    await rec({ orderName: '#5002', customerName: 'Grace Hopper', pointsDelta: 7 });
    await rec({ topic: 'admin/resync-customer', customerName: 'Grace Hopper', pointsDelta: 0 });
    const search = (await call('get', shop, '/api/events?q=grace')).body.events;
    expect(search.map((e: { topic: string }) => e.topic).sort()).toEqual([
      'admin/resync-customer',
      'orders/paid',
    ]);
    expect((await call('get', shop, '/api/events?q=%235001')).body.events).toHaveLength(1);
    const resyncs = (await call('get', shop, '/api/events?topic=admin/resync-customer')).body.events;
    expect(resyncs).toHaveLength(1);
    expect((await call('get', shop, '/api/events?topic=catch-up/orders/paid')).status).toBe(200);
  });
});
