import { connect, createServer, type Server, type Socket } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionToken } from '../../fakes/shopify/session-token.js';
import { fixtureText, webhookHeaders } from '../../fakes/shopify/webhooks.js';
import { waitForRedis } from '../../src/store/redis.js';
import { TEST_APP } from '../helpers/shopify.js';
import { webHarness } from '../helpers/web.js';

/** A local port on which nothing listens. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

const SHOP = 'loyalty-demo.myshopify.com';
const { apiKey, apiSecret: secret } = TEST_APP;
// Shopify counts a delivery as failed after 5 s; a 503 must come well before, never a hang.
const SHOPIFY_DEADLINE_MS = 5_000;

let h: Awaited<ReturnType<typeof webHarness>>;

beforeAll(async () => {
  const port = await closedPort();
  h = await webHarness('web-redis-down', {
    env: { REDIS_URL: `redis://127.0.0.1:${port}` },
    waitForRedis: false,
  });
});
afterAll(async () => {
  await h.teardown();
});

describe('when Redis is unreachable', () => {
  it('answers a valid webhook with 503 instead of hanging', async () => {
    const body = fixtureText('orders-paid');
    const res = await request(h.app)
      .post('/webhooks')
      .set(webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body }))
      .send(body)
      .timeout(SHOPIFY_DEADLINE_MS);
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('5');
  });

  it('still refuses a wrong HMAC with 401', async () => {
    const body = fixtureText('orders-paid');
    const res = await request(h.app)
      .post('/webhooks')
      .set(webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret: 'wrong-secret-123', body }))
      .send(body)
      .timeout(SHOPIFY_DEADLINE_MS);
    expect(res.status).toBe(401);
  });

  it('is alive but not ready', async () => {
    expect((await request(h.app).get('/healthz')).status).toBe(200);
    const ready = await request(h.app).get('/readyz').timeout(SHOPIFY_DEADLINE_MS);
    expect(ready.status).toBe(503);
  });

  it('answers /api/status with 503 and /metrics without queue depth', async () => {
    const status = await request(h.app)
      .get('/api/status')
      .set('Authorization', `Bearer ${sessionToken({ secret, apiKey, shop: SHOP })}`)
      .timeout(SHOPIFY_DEADLINE_MS);
    expect(status.status).toBe(503);
    const metrics = await request(h.app).get('/metrics').timeout(SHOPIFY_DEADLINE_MS);
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain(
      'itrb_webhooks_received_total{topic="orders/paid",outcome="unavailable"} 1',
    );
    expect(metrics.text).not.toMatch(/^itrb_queue_jobs\{/m);
  });
});

/** A TCP relay to the real Redis that the test can cut and restore on the same port. */
class RedisRelay {
  private server?: Server;
  private readonly sockets = new Set<Socket>();
  port = 0;
  async open(): Promise<void> {
    this.server = createServer((client) => {
      const upstream = connect(6379, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
    this.port = (this.server.address() as { port: number }).port;
  }
  async cut(): Promise<void> {
    const closed = new Promise((resolve) => this.server?.close(resolve));
    for (const s of this.sockets) s.destroy();
    await closed;
  }
}

describe('when Redis goes away after the app was up', () => {
  it('answers 503 while it is gone and queues again once it is back', async () => {
    const relay = new RedisRelay();
    await relay.open();
    const app = await webHarness('web-redis-cut', { env: { REDIS_URL: `redis://127.0.0.1:${relay.port}` } });
    try {
      const deliver = () => {
        const body = fixtureText('customers-create');
        return request(app.app)
          .post('/webhooks')
          .set(webhookHeaders({ topic: 'customers/create', shop: SHOP, secret, body }))
          .send(body)
          .timeout(SHOPIFY_DEADLINE_MS);
      };
      expect((await deliver()).status).toBe(200);
      await relay.cut();
      expect((await deliver()).status).toBe(503);
      expect((await request(app.app).get('/readyz').timeout(SHOPIFY_DEADLINE_MS)).status).toBe(503);
      await relay.open();
      await waitForRedis(app.deps.redis, 10_000);
      expect((await deliver()).status).toBe(200);
      expect(await app.deps.queue.count()).toBe(2);
    } finally {
      await app.teardown();
      await relay.cut();
    }
  });
});
