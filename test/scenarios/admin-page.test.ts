import { mkdirSync, readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { fixture, webhookHeaders } from '../../fakes/shopify/webhooks.js';
import { createRedis, waitForRedis } from '../../src/store/redis.js';
import { Ledger } from '../../src/sync/ledger.js';
import { workerDepsFromConfig } from '../../src/worker/from-config.js';
import { type RunningWorker, startWorker } from '../../src/worker/worker.js';
import { type AdminHarness, adminHarness } from '../helpers/admin.js';
import { CHROMIUM, HAS_CHROMIUM, launchChromium } from '../helpers/browser.js';
import { TEST_APP } from '../helpers/shopify.js';

/**
 * The embedded page in headless Chromium, against the real app, worker, Redis and the IT Retail simulator.
 * Shopify's CDN is replaced by route interception: App Bridge by a stand-in whose idToken() returns a
 * session token minted by this test, Polaris by an empty script (the page's own CSS lays out the
 * undefined elements).
 */

if (!HAS_CHROMIUM) {
  console.warn(`SKIPPED: browser test of the admin page needs ${CHROMIUM} (apt-get install -y chromium)`);
}

const SHOP = 'browser-shop.myshopify.com';
const USER = { username: 'clerk@browser-shop', password: 'Right-Pa55' };
const ARTIFACTS = new URL('../artifacts/', import.meta.url);

let sim: ITRetailSimulator;
let h: AdminHarness;
let server: Server;
let baseUrl: string;
let workerRedis: Redis;
let worker: RunningWorker;
let browser: Browser;
let adaCard: string;

async function sendOrder(
  n: number,
  email: string,
  first: string,
  last: string,
  subtotal: string,
  customerId: number,
) {
  const order = fixture('orders-paid');
  Object.assign(order, {
    id: 6_200_000_000 + n,
    admin_graphql_api_id: `gid://shopify/Order/${6_200_000_000 + n}`,
    name: `#${n}`,
    order_number: n,
    email,
    contact_email: email,
    subtotal_price: subtotal,
    current_subtotal_price: subtotal,
    // Points are read from the shop-money amounts, so those must say the same.
    subtotal_price_set: { shop_money: { amount: subtotal, currency_code: 'USD' } },
    current_subtotal_price_set: { shop_money: { amount: subtotal, currency_code: 'USD' } },
    customer: {
      ...(order.customer as object),
      id: customerId,
      admin_graphql_api_id: `gid://shopify/Customer/${customerId}`,
      email,
      first_name: first,
      last_name: last,
    },
  });
  const body = JSON.stringify(order);
  const res = await fetch(`${baseUrl}/webhooks`, {
    method: 'POST',
    headers: webhookHeaders({ topic: 'orders/paid', shop: SHOP, secret: TEST_APP.apiSecret, body }),
    body,
  });
  expect(res.status).toBe(200);
}

/** Waits (without asserting on time) until `check` holds; the test's own timeout bounds it. */
async function until(check: () => Promise<boolean>) {
  while (!(await check())) await new Promise((r) => setTimeout(r, 100));
}

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  sim = await ITRetailSimulator.start({ users: [USER] });
  const [ada] = sim.seedCustomers([
    { FirstName: 'Ada', LastName: 'Lovelace', Email: 'ada@example.com', LoyaltyPoints: 10 },
  ]);
  adaCard = String(ada?.CardNo ?? '');
  sim.seedCustomers([
    { FirstName: 'Grace', LastName: 'Hopper', Email: 'grace@example.com', LoyaltyPoints: 0 },
  ]);
  h = await adminHarness('e2e-admin');
  const { deps } = h;
  workerRedis = createRedis(deps.config.redis.url, 'worker');
  await waitForRedis(workerRedis);
  // Short IT Retail timeouts: a Put held by the simulator is given up on quickly.
  const config = { ...deps.config, itretail: { ...deps.config.itretail, timeoutMs: 1_000 } };
  worker = await startWorker(workerDepsFromConfig(config, pino({ level: 'silent' }), workerRedis, deps.keys));
  server = await new Promise<Server>((resolve) => {
    const s = h.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // Two orders synced with the right password…
  await deps.settings.update(SHOP, { itretail: { baseUrl: sim.url, ...USER } });
  await sendOrder(1001, 'ada@example.com', 'Ada', 'Lovelace', '50.00', 501);
  await sendOrder(1002, 'grace@example.com', 'Grace', 'Hopper', '20.00', 502);
  await until(async () => (await deps.events.list(SHOP, { status: 'applied' })).events.length >= 2);
  // …then the password at IT Retail "changed": the next order fails for good, waiting for the merchant.
  await deps.settings.update(SHOP, {
    itretail: { baseUrl: sim.url, username: USER.username, password: 'Old-Pa55' },
  });
  await sendOrder(1003, 'ada@example.com', 'Ada', 'Lovelace', '30.00', 501);
  await until(async () => (await deps.events.failures(SHOP, {})).total === 1);

  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await worker?.close();
  workerRedis?.disconnect();
  await h?.teardown();
  await sim?.stop();
});

async function openPage(): Promise<{ page: Page; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.exposeFunction('__mintSessionToken', () => h.token(SHOP));
  await page.route('https://cdn.shopify.com/shopifycloud/app-bridge.js', (route) =>
    route.fulfill({
      contentType: 'text/javascript',
      body: 'window.shopify = { idToken: () => window.__mintSessionToken(), toast: { show() {} } };',
    }),
  );
  await page.route('https://cdn.shopify.com/shopifycloud/polaris.js', (route) =>
    route.fulfill({
      contentType: 'text/javascript',
      body: '/* Polaris stand-in: elements stay undefined */',
    }),
  );
  await page.goto(
    `${baseUrl}/?shop=${SHOP}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYnJvd3Nlci1zaG9w&embedded=1`,
  );
  return { page, errors };
}

describe.skipIf(!HAS_CHROMIUM)('admin page in a browser', () => {
  it('shows the state, retries a failure after the password is fixed, looks up a customer and saves a setting', async () => {
    const { page, errors } = await openPage();

    // Overview: the verdict names the problem and the fix; the counts come from Redis.
    const verdict = page.locator('#verdict');
    await verdict.getByText('1 event could not be synced').waitFor();
    await expect(verdict.textContent()).resolves.toMatch(/username and password/);
    const cards = page.locator('#overview-cards');
    await cards.getByText('Customers linked').waitFor();
    await expect(cards.textContent()).resolves.toMatch(/Customers linked\s*2/);
    await expect(cards.textContent()).resolves.toMatch(/\+70 \/ −0/);
    expect(await page.locator('#chart svg rect').count()).toBeGreaterThan(0);

    // Failures: the failed order by name, the error in plain words.
    const failureRow = page.locator('#failures-body tr', { hasText: '#1003' });
    await failureRow.waitFor();
    await expect(failureRow.textContent()).resolves.toMatch(/IT Retail refused the credentials/);

    // Activity: rows name the order and the customer with card number.
    const activityRow = page.locator('#activity-body tr', { hasText: '#1001' });
    await activityRow.waitFor();
    await expect(activityRow.textContent()).resolves.toContain('Ada Lovelace');
    if (adaCard) await expect(activityRow.textContent()).resolves.toContain(adaCard);

    // Settings: enter the right password and save.
    await page.selectOption('#settings-form select[name=authKind]', 'password');
    await page.fill('#settings-form input[name=baseUrl]', sim.url);
    await page.fill('#settings-form input[name=username]', USER.username);
    await page.fill('#settings-form input[name=password]', USER.password);
    await page.click('#test-connection');
    await page.locator('#test-result', { hasText: 'Connected' }).waitFor();
    await page.click('#settings-save');
    await page.locator('#settings-result', { hasText: 'Saved.' }).waitFor();

    // Retry: the job runs again and succeeds. Its write to IT Retail is held until the page has already
    // refreshed once, so the page must keep following the job rather than refresh once and stop.
    sim.holdCalls(['UpdateCustomer']);
    await failureRow.locator('s-button.retry').click();
    await page.locator('#failures-body', { hasText: 'No failures' }).waitFor({ timeout: 20_000 });
    await until(async () => sim.heldCalls.length === 1);
    expect(await page.locator('#activity-body tr.status-applied', { hasText: '#1003' }).count()).toBe(0);
    sim.releaseCalls();
    await page.locator('#activity-body tr.status-applied', { hasText: '#1003' }).waitFor({ timeout: 20_000 });
    const applied = (await h.deps.events.list(SHOP, { status: 'applied' })).events.find(
      (e) => e.orderName === '#1003',
    );
    expect(applied?.pointsDelta).toBe(30);
    await page.locator('#verdict', { hasText: 'Loyalty sync is working' }).waitFor({ timeout: 20_000 });

    // Customer lookup: live balance and card number, and the points of each order.
    await page.fill('#lookup-form input[name=email]', 'ada@example.com');
    await page.click('#lookup-submit');
    const result = page.locator('#lookup-result');
    await result.getByText('Balance:').waitFor();
    await expect(result.textContent()).resolves.toMatch(/Balance: 90 points/);
    if (adaCard) await expect(result.textContent()).resolves.toContain(adaCard);
    await expect(result.locator('tr', { hasText: '#1001' }).textContent()).resolves.toContain('+50');
    await expect(result.locator('tr', { hasText: '#1003' }).textContent()).resolves.toContain('+30');

    // A setting: points per dollar, saved to the shop's settings.
    await page.fill('#settings-form input[name=pointsPerDollar]', '2');
    await page.selectOption('#settings-form select[name=authKind]', 'keep');
    await page.click('#settings-save');
    await page.locator('#settings-result', { hasText: 'Saved.' }).waitFor();
    expect((await h.deps.settings.get(SHOP)).pointsPerDollar).toBe('2');
    // The points settings: shown with their defaults, changed and saved with the shop's settings.
    expect(await page.isChecked('#settings-form input[name=excludeTax]')).toBe(true);
    expect(await page.isChecked('#settings-form input[name=includeShipping]')).toBe(false);
    await page.uncheck('#settings-form input[name=excludeGiftCards]');
    await page.check('#settings-form input[name=includeShipping]');
    await page.fill('#settings-form input[name=orderRetentionDays]', '365');
    await page.click('#settings-save');
    await page.locator('#settings-result', { hasText: 'Saved.' }).waitFor();
    expect(await h.deps.settings.get(SHOP)).toMatchObject({
      pointsRules: { excludeTax: true, excludeGiftCards: false, includeShipping: true },
      orderRetentionDays: 365,
    });
    // Bad input shows the field's message, and nothing is saved.
    await page.fill('#settings-form input[name=pointsPerDollar]', 'lots');
    await page.click('#settings-save');
    await page
      .locator('.field-error[data-field=pointsPerDollar]', { hasText: 'Points per dollar must be a number' })
      .waitFor();
    expect((await h.deps.settings.get(SHOP)).pointsPerDollar).toBe('2');
    // Redemption rules: saved together; rules that do not fit name the field and save nothing.
    await page.fill('#settings-form input[name=pointsPerDollar]', '2');
    await page.check('#settings-form input[name=redeemEnabled]');
    await page.fill('#settings-form input[name=pointsPerUnit]', '200');
    await page.click('#settings-save');
    await page.locator('#settings-result', { hasText: 'Saved.' }).waitFor();
    expect((await h.deps.settings.get(SHOP)).redemption).toMatchObject({ enabled: true, pointsPerUnit: 200 });
    await page.fill('#settings-form input[name=maximumPoints]', '100');
    await page.click('#settings-save');
    await page
      .locator('.field-error[data-field="redemption.maximumPoints"]', { hasText: 'at least the minimum' })
      .waitFor();
    expect((await h.deps.settings.get(SHOP)).redemption.maximumPoints).toBe(10_000);

    await page.evaluate('window.scrollTo(0, 0)');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL('admin-page.png', ARTIFACTS).pathname, fullPage: true });
    expect(errors).toEqual([]);
  }, 90_000);

  it('shows an API failure as a message, not a blank page', async () => {
    const { page } = await openPage();
    await page.route(`${baseUrl}/api/overview`, (route) =>
      route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({
          error: 'The app cannot reach its database right now. Try again in a minute.',
        }),
      }),
    );
    // An unexpected server error and a refused session read as what to do, not as codes.
    await page.route(`${baseUrl}/api/failures?*`, (route) =>
      route.fulfill({
        status: 500,
        contentType: 'application/json',
        body: JSON.stringify({ error: 'internal error', requestId: 'req-4711' }),
      }),
    );
    await page.route(`${baseUrl}/api/link-existing`, (route) =>
      route.fulfill({
        status: 401,
        contentType: 'application/json',
        body: JSON.stringify({ error: 'invalid session token' }),
      }),
    );
    await page.reload();
    await page.locator('#verdict', { hasText: 'cannot reach its database' }).waitFor();
    await page
      .locator('#failures .section-error', { hasText: 'unexpected problem (reference req-4711)' })
      .waitFor();
    await page.locator('#link-existing .section-error', { hasText: 'Reload the page' }).waitFor();
    const text = (await page.locator('body').textContent()) ?? '';
    expect(text).not.toContain('internal error');
    expect(text).not.toContain('invalid session token');
    // The rest of the page still works.
    await page.locator('#activity-body tr', { hasText: '#1001' }).waitFor();
  }, 60_000);

  it('shows a points change IT Retail may or may not have applied, with both readings, and decides it once', async () => {
    // The points settings as a new shop has them (the test above changed the rate and the rules).
    await h.deps.settings.update(SHOP, {
      pointsPerDollar: '1',
      excludeGiftCards: true,
      includeShipping: false,
    });
    const grace = sim.findByEmail('grace@example.com')[0]!;
    const before = grace.LoyaltyPoints ?? 0;
    // The Put is applied but its answer never arrives; the register adds 5 meanwhile: the record cannot tell.
    sim.holdCalls(['UpdateCustomer'], { applyWritesFirst: true });
    await sendOrder(1010, 'grace@example.com', 'Grace', 'Hopper', '15.00', 502);
    await until(async () => sim.heldCalls.some((c) => c.applied));
    sim.adjustPoints(grace.Id, 5);
    const ledger = new Ledger(h.deps.redis, h.deps.keys);
    await until(async () => (await ledger.uncertainCount(SHOP)) === 1);
    sim.releaseCalls();

    const { page, errors } = await openPage();
    await page.locator('#verdict', { hasText: '1 change to points needs your decision' }).waitFor();
    const card = page.locator('#uncertain-writes .uncertain-write');
    await card.waitFor();
    const text = (await card.textContent()) ?? '';
    expect(text).toContain('+15 pts for order #1010');
    expect(text).toContain(`It landed: IT Retail already holds the +15 pts (it showed ${before + 20} pts)`);
    expect(text).toContain(`It did not land: the +15 pts are applied now`);
    // The order's own job waits for the decision instead of offering a Retry that cannot help.
    const held = page.locator('#failures-body tr', { hasText: '#1010' });
    await held.getByText('Runs again once the change above is decided.').waitFor();
    await page.evaluate('window.scrollTo(0, 0)');
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL('admin-uncertain.png', ARTIFACTS).pathname, fullPage: true });

    await card.locator('s-button.decide-landed').click();
    await page.locator('#uncertain-writes .decided', { hasText: 'marked as applied' }).waitFor();
    expect(await ledger.uncertainCount(SHOP)).toBe(0);
    // Acts once: a second decision is refused.
    const again = await fetch(`${baseUrl}/api/uncertain-writes/${grace.Id}/decide`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await h.token(SHOP)}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ writeId: 'any', decision: 'apply' }),
    });
    expect(again.status).toBe(409);
    // The held job ran again and found the order already applied: nothing written twice.
    await page
      .locator('#failures-body tr', { hasText: '#1010' })
      .waitFor({ state: 'detached', timeout: 20_000 });
    expect(sim.getCustomer(grace.Id)!.LoyaltyPoints).toBe(before + 15 + 5);
    expect(errors).toEqual([]);
  }, 90_000);

  it("hands a customer's data request report to the merchant as a download", async () => {
    const payload = {
      ...fixture<{ data_request: { id: number }; customer: { id: number } }>('customers-data_request'),
      shop_domain: SHOP,
    };
    const body = JSON.stringify(payload);
    const res = await fetch(`${baseUrl}/webhooks`, {
      method: 'POST',
      headers: webhookHeaders({
        topic: 'customers/data_request',
        shop: SHOP,
        secret: TEST_APP.apiSecret,
        body,
      }),
      body,
    });
    expect(res.status).toBe(200);
    const requestId = String(payload.data_request.id);
    const customerId = String(payload.customer.id);
    await until(
      async () => (await h.deps.redis.exists(h.deps.keys.shop(SHOP, 'data-request', requestId))) === 1,
    );

    const { page, errors } = await openPage();
    const row = page.locator(`#data-requests-body tr[data-request-id="${requestId}"]`);
    await row.waitFor();
    await expect(row.textContent()).resolves.toContain(`Customer ${customerId}`);
    const [file] = await Promise.all([
      page.waitForEvent('download'),
      row.locator('s-button.download').click(),
    ]);
    expect(file.suggestedFilename()).toBe(`data-request-${requestId}.json`);
    const report = JSON.parse(readFileSync(await file.path(), 'utf8'));
    expect(report).toMatchObject({ shop: SHOP, customer: { shopifyCustomerId: customerId } });
    expect(errors).toEqual([]);
  }, 60_000);
});
