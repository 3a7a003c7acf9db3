import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureText, webhookHeaders } from '../../fakes/shopify/webhooks.js';
import { TEST_APP } from '../helpers/shopify.js';
import { type WebHarness, webHarness } from '../helpers/web.js';

const SHOP = 'loyalty-demo.myshopify.com';
const secret = TEST_APP.apiSecret;

let h: WebHarness;

beforeAll(async () => {
  h = await webHarness('web-health');
});
afterAll(async () => {
  await h.teardown();
});

/** The value of one sample line of the Prometheus text, or undefined when absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .sort();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = m[2]!.split(/,(?=[a-zA-Z_]+=)/).sort();
    if (want.every((w) => got.includes(w))) return Number(m[3]);
  }
  return undefined;
}

describe('health and readiness', () => {
  it('GET /healthz answers 200', async () => {
    const res = await request(h.app).get('/healthz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
  });

  it('GET /readyz answers 200 when Redis answers PING', async () => {
    const res = await request(h.app).get('/readyz');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ready', redis: 'ok' });
  });

  it('answers 404 JSON for an unknown path', async () => {
    const res = await request(h.app).get('/nope');
    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: 'not found' });
  });
});

describe('GET /metrics', () => {
  it('reports webhooks by topic and outcome, queue depth and the IT Retail call metrics', async () => {
    const body = fixtureText('orders-paid');
    const headers = webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret, body });
    await request(h.app).post('/webhooks').set(headers).send(body);
    await request(h.app).post('/webhooks').set(headers).send(body); // the same event again
    await request(h.app)
      .post('/webhooks')
      .set({ ...headers, 'X-Shopify-Hmac-Sha256': 'AAAA' })
      .send(body);
    const fake = webhookHeaders({ topic: 'made/up-topic-123', shop: SHOP, secret: 'wrong-secret', body });
    await request(h.app).post('/webhooks').set(fake).send(body);
    h.deps.metrics.observeITRetailCall({ call: 'GetCustomer', status: 200, durationMs: 42 });
    h.deps.metrics.observeITRetailCall({
      call: 'UpdateCustomer',
      status: 503,
      durationMs: 120,
      errorCode: 'ITR_UNAVAILABLE',
    });
    h.deps.metrics.observeITRetailCall({ call: 'UpdateCustomer', status: 'timeout', durationMs: 15000 });

    const res = await request(h.app).get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.text;
    expect(sample(text, 'itrb_webhooks_received_total', { topic: 'orders/paid', outcome: 'queued' })).toBe(1);
    expect(sample(text, 'itrb_webhooks_received_total', { topic: 'orders/paid', outcome: 'duplicate' })).toBe(
      1,
    );
    // Unverified requests never create a label from their own headers.
    expect(sample(text, 'itrb_webhooks_received_total', { topic: 'other', outcome: 'unauthorized' })).toBe(2);
    expect(text).not.toContain('made/up-topic-123');
    expect(sample(text, 'itrb_queue_jobs', { state: 'waiting' })).toBe(1);
    expect(sample(text, 'itrb_queue_jobs', { state: 'failed' })).toBe(0);
    expect(
      sample(text, 'itrb_itretail_call_duration_seconds_count', { call: 'GetCustomer', status: '200' }),
    ).toBe(1);
    expect(
      sample(text, 'itrb_itretail_call_errors_total', { call: 'UpdateCustomer', code: 'ITR_UNAVAILABLE' }),
    ).toBe(1);
    expect(sample(text, 'itrb_itretail_call_errors_total', { call: 'UpdateCustomer', code: 'timeout' })).toBe(
      1,
    );
    expect(
      sample(text, 'itrb_itretail_call_errors_total', { call: 'GetCustomer', code: '200' }),
    ).toBeUndefined();
    expect(text).toContain('# TYPE itrb_jobs_total counter');
    expect(
      sample(text, 'itrb_http_request_duration_seconds_count', { route: '/webhooks', status: '200' }),
    ).toBe(2);
  });
});
