import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionToken } from '../../fakes/shopify/session-token.js';
import { fixtureText, webhookHeaders } from '../../fakes/shopify/webhooks.js';
import { safeUrl } from '../../src/request-logger.js';
import { TEST_APP } from '../helpers/shopify.js';
import { memoryLogger, type WebHarness, webHarness } from '../helpers/web.js';

const SHOP = 'loyalty-demo.myshopify.com';
const { apiKey, apiSecret: secret } = TEST_APP;

let h: WebHarness;
const log = memoryLogger();

beforeAll(async () => {
  h = await webHarness('web-logging', { logger: log.logger });
});
afterAll(async () => {
  await h.teardown();
});

const lines = () =>
  log
    .lines()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('request ids and request logs', () => {
  it('echoes a given X-Request-Id and logs the request under it', async () => {
    const res = await request(h.app).get('/healthz').set('X-Request-Id', 'req-abc-123');
    expect(res.headers['x-request-id']).toBe('req-abc-123');
    expect(lines().some((l) => l.reqId === 'req-abc-123' && l.msg === 'request completed')).toBe(true);
  });

  it('generates a request id when none (or a malformed one) is given', async () => {
    const a = await request(h.app).get('/healthz');
    const b = await request(h.app).get('/healthz').set('X-Request-Id', 'bad id with spaces\t');
    expect(a.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(b.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it('logs an accepted webhook in one line with the request id, shop, topic and outcome', async () => {
    const body = fixtureText('orders-paid');
    const res = await request(h.app)
      .post('/webhooks')
      .set(webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body }))
      .set('X-Request-Id', 'req-webhook-1')
      .send(body);
    expect(res.status).toBe(200);
    // One line per accepted webhook: the request's finishing line carries the outcome.
    const mine = lines().filter((l) => l.reqId === 'req-webhook-1');
    expect(mine).toHaveLength(1);
    expect(mine[0]).toMatchObject({
      msg: 'request completed',
      shop: SHOP,
      topic: 'orders/paid',
      webhook: 'queued',
      res: { statusCode: 200 },
    });
  });

  it('never writes session tokens, HMACs or query credentials to the log', async () => {
    const token = sessionToken({ secret, apiKey, shop: SHOP });
    const badToken = sessionToken({ secret: 'some-other-secret-1', apiKey, shop: SHOP });
    await request(h.app).get('/api/status').set('Authorization', `Bearer ${token}`);
    await request(h.app).get('/api/status').set('Authorization', `Bearer ${badToken}`);
    await request(h.app).get(`/api/status?shop=${SHOP}&id_token=${token}&hmac=deadbeef`);
    const body = fixtureText('customers-create');
    const headers = webhookHeaders({ topic: 'customers/create', shop: SHOP, secret, body });
    await request(h.app).post('/webhooks').set(headers).send(body);
    const text = log.lines();
    expect(text).toContain('session token refused');
    for (const secretText of [token, badToken, secret, headers['X-Shopify-Hmac-Sha256']!, 'deadbeef']) {
      expect(text).not.toContain(secretText);
    }
    // The JWT parts never appear either (the library's own error message embeds the token).
    expect(text).not.toContain(badToken.split('.')[2]!);
  });

  it('blanks credential-bearing query parameters in logged URLs', () => {
    expect(safeUrl('/app?embedded=1&id_token=abc.def.ghi&shop=x.myshopify.com&hmac=ff')).toBe(
      '/app?embedded=1&id_token=%5Bredacted%5D&shop=x.myshopify.com&hmac=%5Bredacted%5D',
    );
    expect(safeUrl('/healthz')).toBe('/healthz');
  });
});
