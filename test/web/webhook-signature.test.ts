import type { IncomingMessage, ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { fixtureText, signWebhook, webhookHeaders } from '../../fakes/shopify/webhooks.js';
import { loadConfig } from '../../src/config.js';
import { jobIdFor } from '../../src/queue/jobs.js';
import { createShopify } from '../../src/shopify/api.js';
import { verifyWebhookHmac } from '../../src/shopify/webhooks.js';
import { TEST_APP, testEnv } from '../helpers/shopify.js';

const shopify = createShopify(loadConfig(testEnv()));
const secret = TEST_APP.apiSecret;
const FIXTURES = ['orders-paid', 'customers-create', 'refunds-create', 'orders-cancelled', 'shop-redact'];

/** What the Shopify library itself concludes about a delivery (headers as Node presents them). */
async function libraryVerdict(body: string, headers: Record<string, string>) {
  const rawRequest = {
    method: 'POST',
    url: '/webhooks',
    headers: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
  } as unknown as IncomingMessage;
  return shopify.webhooks.validate({ rawBody: body, rawRequest, rawResponse: {} as ServerResponse });
}

describe('webhook signatures', () => {
  it.each(FIXTURES)('the test signer and our check agree with the Shopify library on %s', async (name) => {
    const body = fixtureText(name);
    const headers = webhookHeaders({
      topic: 'orders/paid',
      shop: 'loyalty-demo.myshopify.com',
      secret,
      body,
    });
    const verdict = await libraryVerdict(body, headers);
    expect(verdict).toMatchObject({
      valid: true,
      topic: 'ORDERS_PAID',
      domain: 'loyalty-demo.myshopify.com',
    });
    expect(verifyWebhookHmac(secret, Buffer.from(body), headers['X-Shopify-Hmac-Sha256'])).toBe(true);

    const tampered = body.replace(/\d/, (d) => String((Number(d) + 1) % 10));
    expect(await libraryVerdict(tampered, headers)).toMatchObject({ valid: false, reason: 'invalid_hmac' });
    expect(verifyWebhookHmac(secret, Buffer.from(tampered), headers['X-Shopify-Hmac-Sha256'])).toBe(false);
  });

  it('checks the raw bytes, not their decoding (a body that is not valid UTF-8)', () => {
    const raw = Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]);
    const hmac = signWebhook(secret, raw);
    expect(verifyWebhookHmac(secret, raw, hmac)).toBe(true);
    expect(verifyWebhookHmac(secret, Buffer.from(raw.toString('utf8')), hmac)).toBe(false);
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['not base64', 'not base64 at all!'],
    ['a truncated digest', signWebhook(secret, '{}').slice(0, 20)],
    ['hex instead of base64', 'a'.repeat(64)],
  ])('refuses an HMAC header that is %s', (_what, header) => {
    expect(verifyWebhookHmac(secret, Buffer.from('{}'), header)).toBe(false);
  });
});

describe('jobIdFor', () => {
  it('is deterministic and never contains a colon', () => {
    const id = jobIdFor('a.myshopify.com', 'orders/paid', 'urn:event:1');
    expect(jobIdFor('a.myshopify.com', 'orders/paid', 'urn:event:1')).toBe(id);
    expect(id).not.toContain(':');
  });

  it('keeps distinct triples distinct, even when separators appear inside the parts', () => {
    const ids = [
      jobIdFor('a.myshopify.com', 'orders/paid', 'x|y'),
      jobIdFor('a.myshopify.com', 'orders/paid|x', 'y'),
      jobIdFor('a.myshopify.com', 'orders/paid', 'x%7Cy'),
      jobIdFor('b.myshopify.com', 'orders/paid', 'x|y'),
    ];
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('hashes very long event keys into a bounded id', () => {
    const id = jobIdFor('a.myshopify.com', 'orders/paid', 'e'.repeat(500));
    expect(id.length).toBeLessThanOrEqual(200);
    expect(id).not.toBe(jobIdFor('a.myshopify.com', 'orders/paid', `${'e'.repeat(499)}f`));
  });
});
