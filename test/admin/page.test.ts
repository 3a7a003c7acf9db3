import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devSignInAllowed } from '../../fakes/shopify/dev-sign-in.js';
import { frameAncestors, SECTIONS } from '../../src/admin/page.js';
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
  it('is served with App Bridge, Polaris, the app nav, the API key and a frame-ancestors policy naming the shop', async () => {
    for (const path of [
      `/?shop=${SHOP}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvcGFnZS1zaG9w&embedded=1`,
      `/app?shop=${SHOP}`,
      `/app/failures?shop=${SHOP}`,
    ]) {
      const res = await request(plain.app).get(path);
      expect(res.status).toBe(200);
      expect(res.type).toBe('text/html');
      expect(res.headers['content-security-policy']).toBe(
        `frame-ancestors https://${SHOP} https://admin.shopify.com;`,
      );
      expect(res.text).toContain(`<meta name="shopify-api-key" content="${TEST_APP.apiKey}">`);
      expect(res.text).toContain('<script src="https://cdn.shopify.com/shopifycloud/app-bridge.js"');
      expect(res.text).toContain('<script src="https://cdn.shopify.com/shopifycloud/polaris.js"></script>');
      expect(res.text).toContain('src="/admin/app.js"');
      expect(res.text).toContain('<s-link href="/app" rel="home">Overview</s-link>');
      for (const [id] of SECTIONS.slice(1)) expect(res.text).toContain(`<s-link href="/app/${id}">`);
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

  it('serves its modules and stylesheet, and nothing else from its folder', async () => {
    const js = await request(plain.app).get('/admin/app.js');
    expect(js.status).toBe(200);
    expect(js.type).toBe('text/javascript');
    for (const m of ['lib/api.js', 'lib/dom.js', 'views/overview.js', 'views/settings.js']) {
      const res = await request(plain.app).get(`/admin/${m}`);
      expect(res.status, m).toBe(200);
      expect(res.type).toBe('text/javascript');
    }
    expect((await request(plain.app).get('/admin/lib/api.js')).text).toContain('shopify.idToken()');
    expect((await request(plain.app).get('/admin/app.css')).status).toBe(200);
    for (const other of ['tsconfig.json', 'types.d.ts', '../page.ts', 'dev-bridge.js']) {
      expect((await request(plain.app).get(`/admin/${other}`)).status, other).toBe(404);
    }
  });
});

describe('development sign-in', () => {
  it('is not served by the app: only the demo and the tests mount it', async () => {
    expect((await request(plain.app).get(`/dev/sign-in?shop=${SHOP}`)).status).toBe(404);
    expect((await request(plain.app).post(`/dev/session-token?shop=${SHOP}`)).status).toBe(404);
    expect((await request(plain.app).get('/dev/dev-bridge.js')).status).toBe(404);
    expect((await request(plain.app).get('/admin/dev-bridge.js')).status).toBe(404);
  });

  it('when mounted, serves the page with the local token provider, and its tokens work on the API', async () => {
    const page = await request(dev.app).get(`/dev/sign-in?shop=${SHOP}`);
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toBe(
      `frame-ancestors https://${SHOP} https://admin.shopify.com;`,
    );
    expect(page.text).toContain('/dev/dev-bridge.js');
    expect(page.text).not.toContain('app-bridge.js');
    expect(page.text).toContain('<s-link href="/dev/sign-in/settings">');
    expect((await request(dev.app).get(`/dev/sign-in/settings?shop=${SHOP}`)).status).toBe(200);
    const tok = await request(dev.app).post(`/dev/session-token?shop=${SHOP}`);
    expect(tok.status).toBe(200);
    const api = await request(dev.app).get('/api/settings').set('Authorization', `Bearer ${tok.body.token}`);
    expect(api.status).toBe(200);
    expect((await request(dev.app).get('/dev/dev-bridge.js')).status).toBe(200);
  });

  it('is refused in production even when mounted', async () => {
    expect(devSignInAllowed(testConfig({ NODE_ENV: 'production' }))).toBe(false);
    expect(devSignInAllowed(testConfig())).toBe(true);
    const prodApp = await adminHarness('admin-page-prod', {
      devSignIn: true,
      env: { NODE_ENV: 'production' },
    });
    try {
      expect((await request(prodApp.app).get(`/dev/sign-in?shop=${SHOP}`)).status).toBe(404);
      expect((await request(prodApp.app).post(`/dev/session-token?shop=${SHOP}`)).status).toBe(404);
      expect((await request(prodApp.app).get('/dev/dev-bridge.js')).status).toBe(404);
    } finally {
      await prodApp.teardown();
    }
  });
});
