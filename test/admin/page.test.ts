import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devSignInEnabled, frameAncestors } from '../../src/admin/page.js';
import { type AdminHarness, adminHarness, testConfig } from '../helpers/admin.js';
import { TEST_APP } from '../helpers/shopify.js';

const SHOP = 'page-shop.myshopify.com';
let plain: AdminHarness;
let dev: AdminHarness;

beforeAll(async () => {
  plain = await adminHarness('admin-page');
  dev = await adminHarness('admin-page-dev', { devSignIn: true });
});
afterAll(async () => {
  await plain?.teardown();
  await dev?.teardown();
});

describe('the embedded page', () => {
  it('is served with App Bridge, Polaris, the API key and a frame-ancestors policy naming the shop', async () => {
    for (const path of [
      `/?shop=${SHOP}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvcGFnZS1zaG9w&embedded=1`,
      `/app?shop=${SHOP}`,
    ]) {
      const res = await request(plain.app).get(path);
      expect(res.status).toBe(200);
      expect(res.type).toBe('text/html');
      expect(res.headers['content-security-policy']).toBe(
        `frame-ancestors https://${SHOP} https://admin.shopify.com;`,
      );
      expect(res.text).toContain(`<meta name="shopify-api-key" content="${TEST_APP.apiKey}">`);
      expect(res.text).toContain(
        '<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"></script>',
      );
      expect(res.text).toContain('<script src="https://cdn.shopify.com/shopifycloud/polaris.js"></script>');
      expect(res.text).toContain('src="/admin/app.js"');
      expect(res.text).not.toContain('dev-bridge');
    }
  });

  it('refuses a shop that is not a myshopify.com domain, and never echoes it into the policy', async () => {
    for (const shop of [
      'evil.example.com',
      'x.myshopify.com.evil.com',
      'a.myshopify.com"><script>alert(1)</script>',
    ]) {
      const res = await request(plain.app).get(`/?shop=${encodeURIComponent(shop)}`);
      expect(res.status).toBe(400);
      expect(res.headers['content-security-policy']).toBe('frame-ancestors https://admin.shopify.com;');
      expect(res.text).not.toContain('<script>alert');
    }
    const none = await request(plain.app).get('/');
    expect(none.headers['content-security-policy']).toBe(frameAncestors(undefined));
    expect(none.text).toMatch(/Open this app from your Shopify admin/);
  });

  it('serves its script and stylesheet', async () => {
    const js = await request(plain.app).get('/admin/app.js');
    expect(js.status).toBe(200);
    expect(js.type).toBe('text/javascript');
    expect(js.text).toContain('shopify.idToken()');
    expect((await request(plain.app).get('/admin/app.css')).status).toBe(200);
  });
});

describe('development sign-in', () => {
  it('is off unless switched on', async () => {
    expect((await request(plain.app).get(`/dev/sign-in?shop=${SHOP}`)).status).toBe(404);
    expect((await request(plain.app).post(`/dev/session-token?shop=${SHOP}`)).status).toBe(404);
    expect((await request(plain.app).get('/admin/dev-bridge.js')).status).toBe(404);
  });

  it('when on, serves the page with the local token provider, and its tokens work on the API', async () => {
    const page = await request(dev.app).get(`/dev/sign-in?shop=${SHOP}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toBe(
      `frame-ancestors https://${SHOP} https://admin.shopify.com;`,
    );
    expect(page.text).toContain('/admin/dev-bridge.js');
    expect(page.text).not.toContain('app-bridge.js');
    const tok = await request(dev.app).post(`/dev/session-token?shop=${SHOP}`);
    expect(tok.status).toBe(200);
    const api = await request(dev.app).get('/api/settings').set('Authorization', `Bearer ${tok.body.token}`);
    expect(api.status).toBe(200);
    expect((await request(dev.app).get('/admin/dev-bridge.js')).status).toBe(200);
  });

  it('is refused in production even when asked for', async () => {
    const prod = testConfig({ NODE_ENV: 'production' });
    expect(devSignInEnabled({ config: prod, devSignIn: true })).toBe(false);
    expect(devSignInEnabled({ config: { ...testConfig(), devSignIn: true } })).toBe(true);
    const prodApp = await adminHarness('admin-page-prod', {
      devSignIn: true,
      env: { NODE_ENV: 'production' },
    });
    try {
      expect((await request(prodApp.app).get(`/dev/sign-in?shop=${SHOP}`)).status).toBe(404);
      expect((await request(prodApp.app).post(`/dev/session-token?shop=${SHOP}`)).status).toBe(404);
    } finally {
      await prodApp.teardown();
    }
  });
});
