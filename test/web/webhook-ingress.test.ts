import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'bullmq';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fixtureText, signWebhook, webhookHeaders } from '../../fakes/shopify/webhooks.js';
import { DEDUPE_TTL_SECONDS, dedupeKey } from '../../src/queue/enqueue.js';
import { jobIdFor, type WebhookJobData, webhookPayload } from '../../src/queue/jobs.js';
import { removeFinishedJobs } from '../../src/queue/redact.js';
import { unlinkKeys } from '../../src/store/redis.js';
import { keysMatching, testRedis } from '../helpers/redis.js';
import { TEST_APP } from '../helpers/shopify.js';
import { type WebHarness, webHarness } from '../helpers/web.js';

const SHOP = 'loyalty-demo.myshopify.com';
const OTHER_SHOP = 'other-store.myshopify.com';
const LIMIT = 64 * 1024;
const secret = TEST_APP.apiSecret;

let h: WebHarness;

beforeAll(async () => {
  h = await webHarness('web-ingress', { env: { WEBHOOK_BODY_LIMIT_BYTES: String(LIMIT) } });
});
afterAll(async () => {
  await h.teardown();
});

async function allJobs() {
  return h.deps.queue.getJobs(['waiting', 'prioritized', 'delayed', 'active', 'completed', 'failed']);
}

async function seenKeys(): Promise<string[]> {
  // Every shard's dedupe keys, on every node.
  const found = await Promise.all(
    h.deps.queue.shards.map((q) => keysMatching(h.deps.redis, q.toKey('de:*'))),
  );
  return found.flat();
}

/** The id of a job the event (shop, topic, event id) became: its deterministic id and a delivery suffix. */
function expectEventJobId(id: string | undefined, shop: string, topic: string, eventKey: string) {
  expect(id?.startsWith(`${jobIdFor(shop, topic, eventKey)}|`)).toBe(true);
}

/** Drops every job and dedupe key so each test starts from an empty queue. */
async function emptyQueue() {
  await h.deps.queue.obliterate({ force: true });
  const keys = await seenKeys();
  await unlinkKeys(h.deps.redis, keys);
}

function deliver(
  topic: string,
  body: string,
  extra: { shop?: string; eventId?: string; webhookId?: string } = {},
) {
  const headers = webhookHeaders({ topic, shop: extra.shop ?? SHOP, secret, body, ...extra });
  return request(h.app).post('/webhooks').set(headers).send(body);
}

describe('POST /webhooks with a valid signature', () => {
  it('keeps an order id beyond 2^53 exact in the queued job', async () => {
    await emptyQueue();
    const body = fixtureText('refunds-create').replace(/"order_id":\s*\d+/, '"order_id": 9007199254740993');
    expect(body).toContain('9007199254740993');
    const res = await deliver('refunds/create', body);
    expect(res.status).toBe(200);
    const [job] = await allJobs();
    const data = job!.data as WebhookJobData;
    // Passed on as it came; the worker's parse keeps the id exact.
    expect(data.body).toBe(body);
    expect(data.payload).toBeUndefined();
    expect(webhookPayload(data)).toMatchObject({ order_id: '9007199254740993' });
  });

  it('answers 200 and queues exactly one job carrying the event', async () => {
    await emptyQueue();
    const body = fixtureText('orders-paid');
    const headers = webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body });
    const res = await request(h.app).post('/webhooks').set(headers).send(body);
    expect(res.status).toBe(200);
    const eventId = headers['X-Shopify-Event-Id']!;
    expect(res.body).toEqual({ status: 'queued', jobId: expect.any(String) });
    expectEventJobId(res.body.jobId, SHOP, 'orders/paid', eventId);

    const jobs = await allJobs();
    expect(jobs).toHaveLength(1);
    const job = jobs[0]!;
    expect(job.id).toBe(res.body.jobId);
    expect(job.name).toBe('orders/paid');
    const data = job.data as WebhookJobData;
    expect(data).toMatchObject({
      kind: 'webhook',
      shop: SHOP,
      topic: 'orders/paid',
      webhookId: headers['X-Shopify-Webhook-Id'],
      eventId,
      apiVersion: '2026-07',
      triggeredAt: headers['X-Shopify-Triggered-At'],
    });
    expect(Number.isNaN(Date.parse(data.receivedAt))).toBe(false);
    expect(data.body).toBe(body);
    expect(webhookPayload(data)).toEqual(JSON.parse(body));
    expect(job.opts.attempts).toBe(12);
    expect(job.opts.backoff).toMatchObject({ type: 'exponential' });

    const seen = dedupeKey(h.deps.queue.forShop(SHOP), SHOP, 'orders/paid', eventId);
    expect(await h.deps.redis.get(seen)).toBe(job.id);
    const ttl = await h.deps.redis.ttl(seen);
    expect(ttl).toBeGreaterThan(DEDUPE_TTL_SECONDS - 60);
    expect(ttl).toBeLessThanOrEqual(DEDUPE_TTL_SECONDS);
  });

  it('reads the Shopify headers in any letter case', async () => {
    await emptyQueue();
    const body = fixtureText('customers-create');
    const res = await request(h.app)
      .post('/webhooks')
      .set('content-type', 'application/json')
      .set('x-shopify-hmac-sha256', signWebhook(secret, body))
      .set('X-SHOPIFY-TOPIC', 'customers/create')
      .set('x-Shopify-shop-DOMAIN', SHOP)
      .set('X-Shopify-Webhook-ID', 'wh-case-1')
      .set('x-shopify-event-id', 'ev-case-1')
      .send(body);
    expect(res.status).toBe(200);
    const jobs = await allJobs();
    expect(jobs).toHaveLength(1);
    expectEventJobId(jobs[0]!.id, SHOP, 'customers/create', 'ev-case-1');
    expect((jobs[0]!.data as WebhookJobData).webhookId).toBe('wh-case-1');
  });

  it.each([
    ['refunds/create', 'refunds-create'],
    ['orders/cancelled', 'orders-cancelled'],
    ['customers/update', 'customers-update'],
    ['app/uninstalled', 'app-uninstalled'],
    ['customers/redact', 'customers-redact'],
    ['shop/redact', 'shop-redact'],
    ['customers/data_request', 'customers-data_request'],
  ])('queues %s', async (topic, name) => {
    await emptyQueue();
    const res = await deliver(topic, fixtureText(name));
    expect(res.status).toBe(200);
    const jobs = await allJobs();
    expect(jobs).toHaveLength(1);
    expect((jobs[0]!.data as WebhookJobData).topic).toBe(topic);
  });

  it('acknowledges a topic the bridge does not handle without queueing it', async () => {
    await emptyQueue();
    const res = await deliver('products/update', JSON.stringify({ id: 1, title: 'Mug' }));
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ignored' });
    expect(await allJobs()).toHaveLength(0);
    expect(await seenKeys()).toHaveLength(0);
  });
});

describe('POST /webhooks refuses what Shopify did not sign', () => {
  it('answers 401 to a wrong HMAC and stores nothing', async () => {
    await emptyQueue();
    const body = fixtureText('orders-paid');
    const headers = webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret: 'not-the-app-secret', body });
    const res = await request(h.app).post('/webhooks').set(headers).send(body);
    expect(res.status).toBe(401);
    expect(await allJobs()).toHaveLength(0);
    expect(await seenKeys()).toHaveLength(0);
  });

  it('answers 401 when the body was changed after signing', async () => {
    await emptyQueue();
    const body = fixtureText('orders-paid');
    const headers = webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body });
    const res = await request(h.app).post('/webhooks').set(headers).send(body.replace('"54.00"', '"540.00"'));
    expect(res.status).toBe(401);
    expect(await allJobs()).toHaveLength(0);
  });

  it('answers 401 when the HMAC header is missing', async () => {
    await emptyQueue();
    const body = fixtureText('orders-paid');
    const { 'X-Shopify-Hmac-Sha256': _omit, ...headers } = webhookHeaders({
      topic: 'orders/paid',
      shop: SHOP,
      secret,
      body,
    });
    const res = await request(h.app).post('/webhooks').set(headers).send(body);
    expect(res.status).toBe(401);
    expect(await allJobs()).toHaveLength(0);
    expect(await seenKeys()).toHaveLength(0);
  });

  it.each(['customers/redact', 'shop/redact', 'customers/data_request'])(
    'answers 401 to a wrong HMAC on the compliance topic %s',
    async (topic) => {
      const body = fixtureText(topic.replace('/', '-'));
      const headers = webhookHeaders({ topic, shop: SHOP, secret, body });
      headers['X-Shopify-Hmac-Sha256'] = signWebhook(secret, `${body} `);
      const res = await request(h.app).post('/webhooks').set(headers).send(body);
      expect(res.status).toBe(401);
    },
  );
});

describe('POST /webhooks rejects bad input with a valid signature', () => {
  it('answers 400 to a body that is not JSON and queues nothing', async () => {
    await emptyQueue();
    const res = await deliver('orders/paid', '{"id": 5981253779773, "email": ');
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(/not valid JSON/);
    expect(await allJobs()).toHaveLength(0);
    expect(await seenKeys()).toHaveLength(0);
  });

  it('answers 400 to JSON that is not an object', async () => {
    await emptyQueue();
    const res = await deliver('orders/paid', '[1,2,3]');
    expect(res.status).toBe(400);
    expect(await allJobs()).toHaveLength(0);
  });

  it.each([['X-Shopify-Shop-Domain'], ['X-Shopify-Topic'], ['X-Shopify-Webhook-Id']])(
    'answers 400 naming the missing header %s',
    async (name) => {
      await emptyQueue();
      const body = fixtureText('customers-create');
      const headers: Record<string, string> = webhookHeaders({
        topic: 'customers/create',
        shop: SHOP,
        secret,
        body,
      });
      delete headers[name];
      const res = await request(h.app).post('/webhooks').set(headers).send(body);
      expect(res.status).toBe(400);
      expect(res.body.error).toContain(name);
      expect(await allJobs()).toHaveLength(0);
    },
  );

  it('answers 400 to a shop header that is not a myshopify.com domain', async () => {
    await emptyQueue();
    const res = await deliver('customers/create', fixtureText('customers-create'), {
      shop: 'evil.example.com',
    });
    expect(res.status).toBe(400);
    expect(await allJobs()).toHaveLength(0);
  });

  it('answers 413 to a body over the limit (Content-Length known) and queues nothing', async () => {
    await emptyQueue();
    const body = JSON.stringify({ id: 1, note: 'x'.repeat(LIMIT) });
    const res = await deliver('orders/paid', body);
    expect(res.status).toBe(413);
    expect(await allJobs()).toHaveLength(0);
  });

  it('answers 413 to a chunked body that grows over the limit', async () => {
    await emptyQueue();
    const chunk = 'x'.repeat(4096);
    const chunks = Math.ceil((3 * LIMIT) / chunk.length);
    const body = `{"note":"${chunk.repeat(chunks)}"}`;
    const server = h.app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const { port } = server.address() as AddressInfo;
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port,
            method: 'POST',
            path: '/webhooks',
            headers: {
              ...webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body }),
              'Transfer-Encoding': 'chunked',
            },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', reject);
        req.write('{"note":"');
        for (let i = 0; i < chunks; i++) req.write(chunk);
        req.end('"}');
      });
      expect(status).toBe(413);
    } finally {
      await new Promise((r) => server.close(r));
    }
    expect(await allJobs()).toHaveLength(0);
  });
});

/** Sends `pieces` as one chunked request to the app on a real socket; the answer's status and body. */
async function deliverChunked(
  headers: Record<string, string>,
  pieces: string[],
  path = '/webhooks',
): Promise<{ status: number; body: string }> {
  const server = h.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path,
          headers: { ...headers, 'Transfer-Encoding': 'chunked' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            text += c;
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        },
      );
      req.on('error', reject);
      for (const p of pieces) req.write(p);
      req.end();
    });
  } finally {
    await new Promise((r) => server.close(r));
  }
}

describe('POST /webhooks is taken before Express', () => {
  it('matches the path as Express did: any letter case, a trailing slash, a query string', async () => {
    for (const path of ['/Webhooks', '/webhooks/', '/webhooks?from=shopify']) {
      await emptyQueue();
      const body = fixtureText('orders-paid');
      const res = await request(h.app)
        .post(path)
        .set(webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body }))
        .send(body);
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('queued');
      expect(await allJobs()).toHaveLength(1);
    }
    // Other methods and paths still go to Express.
    expect((await request(h.app).get('/webhooks')).status).toBe(404);
    expect((await request(h.app).post('/webhooksx').send('{}')).status).toBe(404);
  });

  it('echoes a sane X-Request-Id on the answer and makes one otherwise', async () => {
    const body = fixtureText('orders-paid');
    const given = await request(h.app)
      .post('/webhooks')
      .set(webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body }))
      .set('X-Request-Id', 'req-ingress-7')
      .send(body);
    expect(given.headers['x-request-id']).toBe('req-ingress-7');
    const made = await request(h.app).post('/webhooks').set('X-Request-Id', 'bad id').send(body);
    expect(made.status).toBe(401);
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('joins a body that arrives in many chunks byte for byte', async () => {
    await emptyQueue();
    const body = fixtureText('orders-paid');
    const pieces: string[] = [];
    for (let i = 0; i < body.length; i += 500) pieces.push(body.slice(i, i + 500));
    const res = await deliverChunked(
      webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body }),
      pieces,
    );
    expect(res.status).toBe(200);
    const jobs = await allJobs();
    expect(jobs).toHaveLength(1);
    expect((jobs[0]!.data as WebhookJobData).body).toBe(body);
  });

  it('answers 415 to an encoded body (the bytes are never inflated) and queues nothing', async () => {
    await emptyQueue();
    const body = fixtureText('orders-paid');
    const res = await request(h.app)
      .post('/webhooks')
      .set(webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body }))
      .set('Content-Encoding', 'gzip')
      .send(body);
    expect(res.status).toBe(415);
    expect(await allJobs()).toHaveLength(0);
  });
});

describe('POST /webhooks deduplicates deliveries', () => {
  it('answers 200 to a repeated event id and keeps one job', async () => {
    await emptyQueue();
    const body = fixtureText('orders-paid');
    const first = await deliver('orders/paid', body, { eventId: 'ev-dup-1', webhookId: 'wh-1' });
    // Shopify's retry of the same event (a new delivery may carry another webhook id).
    const again = await deliver('orders/paid', body, { eventId: 'ev-dup-1', webhookId: 'wh-1' });
    const other = await deliver('orders/paid', body, { eventId: 'ev-dup-1', webhookId: 'wh-2' });
    expect([first.status, again.status, other.status]).toEqual([200, 200, 200]);
    expect(first.body.status).toBe('queued');
    expect(again.body.status).toBe('duplicate');
    expect(other.body.status).toBe('duplicate');
    expect(await allJobs()).toHaveLength(1);
  });

  it('falls back to the webhook id when there is no event id', async () => {
    await emptyQueue();
    const body = fixtureText('customers-create');
    const send = () => {
      const headers: Record<string, string> = webhookHeaders({
        topic: 'customers/create',
        shop: SHOP,
        secret,
        body,
        webhookId: 'wh-only-1',
      });
      delete headers['X-Shopify-Event-Id'];
      return request(h.app).post('/webhooks').set(headers).send(body);
    };
    expect((await send()).body.status).toBe('queued');
    expect((await send()).body.status).toBe('duplicate');
    const jobs = await allJobs();
    expect(jobs).toHaveLength(1);
    expectEventJobId(jobs[0]!.id, SHOP, 'customers/create', 'wh-only-1');
  });

  it('queues the same event id again for another shop or another topic', async () => {
    await emptyQueue();
    await deliver('orders/paid', fixtureText('orders-paid'), { eventId: 'ev-shared' });
    await deliver('orders/paid', fixtureText('orders-paid'), { eventId: 'ev-shared', shop: OTHER_SHOP });
    await deliver('orders/cancelled', fixtureText('orders-cancelled'), { eventId: 'ev-shared' });
    const jobs = await allJobs();
    expect(jobs).toHaveLength(3);
    expect(new Set(jobs.map((j) => `${(j.data as WebhookJobData).shop} ${j.name}`))).toEqual(
      new Set([`${SHOP} orders/paid`, `${OTHER_SHOP} orders/paid`, `${SHOP} orders/cancelled`]),
    );
  });

  it('answers a duplicate with the id of the job the event became', async () => {
    await emptyQueue();
    const body = fixtureText('orders-paid');
    const first = await deliver('orders/paid', body, { eventId: 'ev-same-job' });
    const again = await deliver('orders/paid', body, { eventId: 'ev-same-job', webhookId: 'wh-other' });
    expect(again.body).toEqual({ status: 'duplicate', jobId: first.body.jobId });
  });

  it('keeps the event known when customers/redact removes its finished job', async () => {
    await emptyQueue();
    const body = fixtureText('orders-paid');
    const first = await deliver('orders/paid', body, { eventId: 'ev-redacted' });
    const connection = testRedis();
    const worker = new Worker(h.deps.queue.forShop(SHOP).name, async () => 'done', {
      connection,
      prefix: h.deps.queue.forShop(SHOP).opts.prefix,
    });
    try {
      await vi.waitFor(async () => expect(await h.deps.queue.getCompletedCount()).toBe(1), {
        timeout: 5_000,
      });
    } finally {
      await worker.close();
      await connection.quit();
    }
    expect(await removeFinishedJobs(h.deps.queue, SHOP)).toBe(1);
    expect(await h.deps.queue.getJob(first.body.jobId)).toBeUndefined();
    const seen = dedupeKey(h.deps.queue.forShop(SHOP), SHOP, 'orders/paid', 'ev-redacted');
    expect(await h.deps.redis.ttl(seen)).toBeGreaterThan(DEDUPE_TTL_SECONDS - 60);
    const retry = await deliver('orders/paid', body, { eventId: 'ev-redacted' });
    expect(retry.body.status).toBe('duplicate');
    expect(await allJobs()).toHaveLength(0);
  });

  it('still knows the event for its 48 hours after the job itself is gone', async () => {
    await emptyQueue();
    const body = fixtureText('orders-paid');
    const first = await deliver('orders/paid', body, { eventId: 'ev-retained' });
    // As when retention removes a finished job (removeOnComplete's removal leaves deduplication keys alone).
    await h.deps.redis.del(h.deps.queue.forShop(SHOP).toKey(first.body.jobId));
    await h.deps.redis.lrem(h.deps.queue.forShop(SHOP).toKey('wait'), 0, first.body.jobId);
    expect(await h.deps.queue.getJob(first.body.jobId)).toBeUndefined();
    const retry = await deliver('orders/paid', body, { eventId: 'ev-retained' });
    expect(retry.status).toBe(200);
    expect(retry.body.status).toBe('duplicate');
    expect(await allJobs()).toHaveLength(0);
    expect(
      await h.deps.redis.exists(dedupeKey(h.deps.queue.forShop(SHOP), SHOP, 'orders/paid', 'ev-retained')),
    ).toBe(1);
  });
});
