import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionToken } from '../../fakes/shopify/session-token.js';
import { fixtureText, webhookHeaders } from '../../fakes/shopify/webhooks.js';
import { RETRY_INVALID_SESSION_HEADER } from '../../src/shopify/session-token.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { TEST_APP } from '../helpers/shopify.js';
import { type WebHarness, webHarness } from '../helpers/web.js';

const SHOP = 'loyalty-demo.myshopify.com';
const OTHER_SHOP = 'other-store.myshopify.com';
const { apiKey, apiSecret: secret } = TEST_APP;
const now = () => Math.floor(Date.now() / 1000);

let h: WebHarness;

beforeAll(async () => {
  h = await webHarness('web-status');
  await h.deps.events.record({
    shop: SHOP,
    topic: 'orders/paid',
    status: 'applied',
    shopifyOrderId: '5981253779773',
    orderName: '#1001',
    pointsBefore: 10,
    pointsDelta: 54,
    pointsAfter: 64,
  });
  await h.deps.events.record({
    shop: SHOP,
    topic: 'customers/create',
    status: 'skipped',
    reason: 'customer has no email',
  });
  await h.deps.events.record({
    shop: OTHER_SHOP,
    topic: 'orders/paid',
    status: 'failed',
    error: 'IT Retail refused the credentials',
    orderName: '#9001',
  });
  const body = fixtureText('orders-paid');
  await request(h.app)
    .post('/webhooks')
    .set(webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body }))
    .send(body);
  // Two jobs of another shop in the same queue: they must not show in SHOP's counts.
  for (const [topic, name] of [
    ['orders/paid', 'orders-paid'],
    ['customers/create', 'customers-create'],
  ] as const) {
    const other = fixtureText(name);
    await request(h.app)
      .post('/webhooks')
      .set(webhookHeaders({ topic, shop: OTHER_SHOP, secret, body: other }))
      .send(other);
  }
  expect(await h.deps.queue.count()).toBe(3);
});
afterAll(async () => {
  await h.teardown();
});

const status = (token?: string) => {
  const req = request(h.app).get('/api/status');
  return token === undefined ? req : req.set('Authorization', `Bearer ${token}`);
};

describe('GET /api/status', () => {
  it('answers the shop, that shop’s queue counts and its latest events for a valid session token', async () => {
    const res = await status(sessionToken({ secret, apiKey, shop: SHOP }));
    expect(res.status).toBe(200);
    expect(res.body.shop).toBe(SHOP);
    expect(res.body.queue).toEqual({ waiting: 1, active: 0, delayed: 0, failed: 0, completed: 0 });
    const events = res.body.events as SyncEvent[];
    expect(events.map((e) => e.topic)).toEqual(['customers/create', 'orders/paid']);
    expect(events.every((e) => e.shop === SHOP)).toBe(true);
    expect(events[1]).toMatchObject({ status: 'applied', orderName: '#1001', pointsDelta: 54 });
  });

  it('never shows another shop’s events', async () => {
    const mine = await status(sessionToken({ secret, apiKey, shop: SHOP }));
    const theirs = await status(sessionToken({ secret, apiKey, shop: OTHER_SHOP }));
    expect(theirs.status).toBe(200);
    expect(theirs.body.shop).toBe(OTHER_SHOP);
    expect((theirs.body.events as SyncEvent[]).map((e) => e.orderName)).toEqual(['#9001']);
    expect(theirs.body.queue).toEqual({ waiting: 2, active: 0, delayed: 0, failed: 0, completed: 0 });
    expect(mine.body.queue.waiting).toBe(1);
    expect(JSON.stringify(mine.body.events)).not.toContain('#9001');
  });

  it('counts the shop’s points changes waiting for a decision (uncertainWrites)', async () => {
    const token = sessionToken({ secret, apiKey, shop: SHOP });
    expect((await status(token)).body.uncertainWrites).toBe(0);
    // Two customers of SHOP each with a write nobody could decide; one of another shop.
    const index = (shop: string) => h.deps.keys.uncertainWrites(shop);
    await h.deps.redis.zadd(index(SHOP), 1, 'itr-1', 2, 'itr-2');
    await h.deps.redis.zadd(index(OTHER_SHOP), 1, 'itr-9');
    expect((await status(token)).body.uncertainWrites).toBe(2);
    // One key per DEL: the two shops' keys are in different hash slots on a cluster.
    await h.deps.redis.del(index(SHOP));
    await h.deps.redis.del(index(OTHER_SHOP));
  });

  it('answers 401 JSON without a token', async () => {
    const res = await status();
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'missing session token' });
    expect(res.headers[RETRY_INVALID_SESSION_HEADER.toLowerCase()]).toBe('1');
  });

  it('answers 401 to a scheme other than Bearer', async () => {
    const token = sessionToken({ secret, apiKey, shop: SHOP });
    const res = await request(h.app).get('/api/status').set('Authorization', `Basic ${token}`);
    expect(res.status).toBe(401);
  });

  it.each([
    [
      'signed with another secret',
      () => sessionToken({ secret: 'another-app-secret-123', apiKey, shop: SHOP }),
    ],
    ['for another app (aud)', () => sessionToken({ secret, apiKey, shop: SHOP, aud: 'some-other-api-key' })],
    ['expired', () => sessionToken({ secret, apiKey, shop: SHOP, exp: now() - 120, nbf: now() - 180 })],
    ['not valid yet', () => sessionToken({ secret, apiKey, shop: SHOP, nbf: now() + 300, exp: now() + 360 })],
    [
      'with a dest that is not a shop',
      () => sessionToken({ secret, apiKey, shop: SHOP, dest: 'https://evil.example.com' }),
    ],
    [
      'with an issuer of another shop',
      () => sessionToken({ secret, apiKey, shop: SHOP, iss: `https://${OTHER_SHOP}/admin` }),
    ],
    ['that is not a JWT', () => 'not-a-jwt'],
  ])('answers 401 JSON to a token %s', async (_what, make) => {
    const res = await status(make());
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: 'invalid session token' });
    expect(res.body.events).toBeUndefined();
  });

  it('refuses a token whose payload was altered to name another shop', async () => {
    const token = sessionToken({ secret, apiKey, shop: SHOP });
    const [header, payload, signature] = token.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    claims.dest = `https://${OTHER_SHOP}`;
    claims.iss = `https://${OTHER_SHOP}/admin`;
    const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`;
    const res = await status(forged);
    expect(res.status).toBe(401);
  });
});
