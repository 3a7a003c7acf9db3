import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import pino from 'pino';
import type { Browser } from 'playwright-core';
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
import { openAdminPage, openSection, screenshot, textAlign, verdictOf } from './admin-page-support.js';

/**
 * The embedded page in headless Chromium, against the real app, worker, Redis and the IT Retail simulator
 * (see admin-page-support.ts for how Shopify's CDN is replaced). The main path of a merchant: the verdict
 * names the refused sign-in, the settings are fixed, the failure retried, a customer looked up.
 */

if (!HAS_CHROMIUM) {
  console.warn(`SKIPPED: browser test of the admin page needs ${CHROMIUM} (apt-get install -y chromium)`);
}

const SHOP = 'browser-shop.myshopify.com';
const USER = { username: 'clerk@browser-shop', password: 'Right-Pa55' };

let sim: ITRetailSimulator;
let h: AdminHarness;
let server: Server;
let baseUrl: string;
let workerRedis: Redis;
let worker: RunningWorker;
let browser: Browser;
let adaCard: string;

const openPage = (path?: string) =>
  openAdminPage(browser, { baseUrl, shop: SHOP, token: () => h.token(SHOP), path });

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
  // Short IT Retail timeouts: a Put held by the simulator is given up on quickly, yet not while the page
  // under test is merely slow on a busy machine.
  const config = { ...deps.config, itretail: { ...deps.config.itretail, timeoutMs: 3_000 } };
  worker = await startWorker(workerDepsFromConfig(config, pino({ level: 'silent' }), workerRedis, deps.keys));
  server = await new Promise<Server>((resolve) => {
    const s = h.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  // The merchant opened the app once: the shop has its Shopify token (the points metafield needs it).
  const opened = await fetch(`${baseUrl}/api/settings`, {
    headers: { Authorization: `Bearer ${h.token(SHOP)}` },
  });
  expect(opened.status).toBe(200);
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

describe.skipIf(!HAS_CHROMIUM)('admin page in a browser', () => {
  it('says IT Retail refused the sign-in, then works once the password is fixed and the failure retried', async () => {
    const { page, errors, close } = await openPage();

    // Overview: one verdict, the refused sign-in first with its action, the failure with "Retry 1".
    expect(await verdictOf(page)).toBe('not-working');
    const problems = page.locator('#overview .problem');
    await expect(problems.first().textContent()).resolves.toContain('IT Retail refused the sign-in');
    await expect(problems.first().locator('.problem-action').textContent()).resolves.toBe('Open Settings');
    const failuresProblem = page.locator('#overview .problem[data-code=FAILURES]');
    // While the sign-in is refused a retry would fail again: the failure's button opens Failures instead.
    await expect(failuresProblem.textContent()).resolves.toMatch(
      /1 event could not be synced.*Open Failures/,
    );
    const cards = page.locator('#overview .cards');
    await expect(cards.textContent()).resolves.toMatch(/Customers linked\s*2/);
    await expect(cards.textContent()).resolves.toMatch(/\+70 \/ −0/);
    await expect(cards.textContent()).resolves.toContain('Sign-in refused');
    expect(await page.locator('#overview .chart svg rect').count()).toBeGreaterThan(0);
    await screenshot(page, 'refused');

    // Failures, grouped by cause: the failed order by name, the error in plain words, Retry offered.
    await openSection(page, 'failures');
    const failureRow = page.locator('#failures s-table-row', { hasText: '#1003' });
    await failureRow.waitFor();
    const group = page.locator('#failures .failure-group', {
      has: page.locator('s-table-row', { hasText: '#1003' }),
    });
    await expect(group.getAttribute('data-cause')).resolves.toBe('ITR_AUTH');
    await expect(group.textContent()).resolves.toMatch(/IT Retail refused the credentials/);
    expect(await failureRow.locator('s-button.dismiss').count()).toBe(0);

    // Activity: rows name the order and the customer with card number; the points column is right-aligned.
    await openSection(page, 'activity');
    const activityRow = page.locator('#activity s-table-row', { hasText: '#1001' });
    await activityRow.waitFor();
    await expect(activityRow.textContent()).resolves.toContain('Ada Lovelace');
    if (adaCard) await expect(activityRow.textContent()).resolves.toContain(adaCard);
    await expect(activityRow.textContent()).resolves.toContain('+50 pts');
    const points = activityRow.locator('s-table-cell.num');
    await expect(textAlign(points)).resolves.toBe('right');

    // The Open Settings action of the verdict: enter the right password, test it, save it.
    await openSection(page, 'overview');
    await problems.first().locator('.problem-action').click();
    await page.locator('#settings').waitFor({ state: 'visible' });
    expect(new URL(page.url()).pathname).toBe('/app/settings');
    await page.selectOption('#settings s-select[name=authKind] select', 'password');
    await page.fill('#settings s-url-field[name=baseUrl] input', sim.url);
    await page.fill('#settings s-text-field[name=username] input', USER.username);
    await page.fill('#settings s-password-field[name=password] input', USER.password);
    await page.click('#settings s-button.test-connection');
    await page.locator('#settings .test-result', { hasText: 'Connected' }).waitFor();
    await page.click('#settings .save-bar s-button.save');
    await page.locator('#settings .settings-result', { hasText: 'Saved.' }).waitFor();

    // Retry: the job runs again and succeeds. Its write to IT Retail is held until the page has already
    // refreshed once, so the page must keep following the job rather than refresh once and stop.
    await openSection(page, 'failures');
    sim.holdCalls(['UpdateCustomer']);
    await failureRow.locator('s-button.retry').click();
    await page.locator('#failures .failure-groups', { hasText: 'No failures' }).waitFor({ timeout: 20_000 });
    await until(async () => sim.heldCalls.length === 1);
    sim.releaseCalls();
    await until(async () =>
      (await h.deps.events.list(SHOP, { status: 'applied' })).events.some((e) => e.orderName === '#1003'),
    );
    const applied = (await h.deps.events.list(SHOP, { status: 'applied' })).events.find(
      (e) => e.orderName === '#1003',
    );
    expect(applied?.pointsDelta).toBe(30);
    await openSection(page, 'overview');
    await page.locator('#overview [data-verdict=working]').waitFor({ timeout: 20_000 });
    await screenshot(page, 'working');

    // Customer lookup: live balance and card number, and the points of each order.
    await openSection(page, 'customers');
    await page.fill('#customers s-email-field input', 'ada@example.com');
    await page.click('#customers s-button.lookup-submit');
    const result = page.locator('#customers .lookup-result');
    await result.getByText('Balance in IT Retail').waitFor();
    await expect(result.textContent()).resolves.toContain('Balance in IT Retail: 90 pts');
    if (adaCard) await expect(result.textContent()).resolves.toContain(adaCard);
    await expect(result.locator('s-table-row', { hasText: '#1001' }).textContent()).resolves.toContain(
      '+50 pts',
    );
    await expect(result.locator('s-table-row', { hasText: '#1003' }).textContent()).resolves.toContain(
      '+30 pts',
    );
    expect(errors).toEqual([]);
    await close();
  }, 90_000);

  it('saves settings: Keep what is saved keeps an edited base URL, tests the typed URL, and names bad fields', async () => {
    await h.deps.settings.update(SHOP, { itretail: { baseUrl: sim.url, ...USER } });
    const { page, errors, close } = await openPage('/app/settings');
    const f = (sel: string) => `#settings ${sel}`;
    await page.locator(f('s-select[name=authKind] select')).waitFor();
    await until(async () => (await page.inputValue(f('s-select[name=authKind] select'))) === 'keep');

    // Test connection goes to the typed URL, even with the saved sign-in kept: a dead URL fails…
    await page.fill(f('s-url-field[name=baseUrl] input'), 'http://127.0.0.1:9');
    await page.click(f('s-button.test-connection'));
    await page.locator(f('.test-result.warn')).waitFor();
    // …and a second IT Retail at another URL, with the same sign-in, answers.
    const moved = await ITRetailSimulator.start({ users: [USER] });
    try {
      await page.fill(f('s-url-field[name=baseUrl] input'), moved.url);
      await page.click(f('s-button.test-connection'));
      await page.locator(f('.test-result'), { hasText: /Connected|IT Retail|Could not/ }).waitFor();
      expect(await page.locator(f('.test-result')).textContent()).toMatch(/^Connected/);
      // Saving with "Keep what is saved" keeps the sign-in and takes the edited URL.
      await page.click(f('.save-bar s-button.save'));
      await page.locator(f('.settings-result'), { hasText: 'Saved.' }).waitFor();
      expect((await h.deps.settings.get(SHOP)).itretail).toEqual({
        baseUrl: moved.url,
        credentials: { kind: 'password', ...USER },
      });
      expect(await page.inputValue(f('s-url-field[name=baseUrl] input'))).toBe(moved.url);
    } finally {
      await h.deps.settings.update(SHOP, { itretail: { baseUrl: sim.url, ...USER } });
      await moved.stop();
    }
    await page.reload();
    await until(async () => (await page.inputValue(f('s-url-field[name=baseUrl] input'))) === sim.url);

    // Points per dollar and the points rules, saved to the shop's settings.
    await page.fill(f('s-text-field[name=pointsPerDollar] input'), '2');
    await page.uncheck(f('s-checkbox[name=excludeGiftCards] input'));
    await page.check(f('s-checkbox[name=includeShipping] input'));
    await page.fill(f('s-number-field[name=orderRetentionDays] input'), '365');
    await page.click(f('.save-bar s-button.save'));
    await page.locator(f('.settings-result'), { hasText: 'Saved.' }).waitFor();
    expect(await h.deps.settings.get(SHOP)).toMatchObject({
      pointsPerDollar: '2',
      pointsRules: { excludeTax: true, excludeGiftCards: false, includeShipping: true },
      orderRetentionDays: 365,
    });
    // Bad input shows the field's message, and nothing is saved.
    await page.fill(f('s-text-field[name=pointsPerDollar] input'), 'lots');
    await page.click(f('.save-bar s-button.save'));
    await page
      .locator(f('s-text-field[name=pointsPerDollar] .fb-error'), {
        hasText: 'Points per dollar must be a number',
      })
      .waitFor();
    expect(await page.locator(f('.settings-result')).textContent()).not.toContain('Saved.');
    expect((await h.deps.settings.get(SHOP)).pointsPerDollar).toBe('2');
    // Redemption rules that do not fit together name the field and save nothing.
    await page.fill(f('s-text-field[name=pointsPerDollar] input'), '1');
    await page.check(f('s-checkbox[name=redeemEnabled] input'));
    await page.fill(f('s-number-field[name=maximumPoints] input'), '100');
    await page.click(f('.save-bar s-button.save'));
    await page
      .locator(f('s-number-field[name=maximumPoints] .fb-error'), { hasText: 'at least the minimum' })
      .waitFor();
    expect((await h.deps.settings.get(SHOP)).redemption.maximumPoints).toBe(10_000);
    // Discard puts back what is saved.
    await page.click(f('.save-bar s-button.discard'));
    expect(await page.inputValue(f('s-number-field[name=maximumPoints] input'))).toBe('10000');
    await h.deps.settings.update(SHOP, {
      pointsPerDollar: '1',
      excludeGiftCards: true,
      includeShipping: false,
    });
    expect(errors).toEqual([]);
    await close();
  }, 60_000);

  it('shows an API failure as a message, not a blank page', async () => {
    const { page, close } = await openPage();
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
    await page.locator('#overview .verdict', { hasText: 'cannot reach its database' }).waitFor();
    await openSection(page, 'failures');
    await page
      .locator('#failures .section-error', { hasText: 'unexpected problem (reference req-4711)' })
      .waitFor();
    await openSection(page, 'link-existing');
    await page.locator('#link-existing .section-error', { hasText: 'Reload the page' }).waitFor();
    const text = (await page.locator('body').textContent()) ?? '';
    expect(text).not.toContain('internal error');
    expect(text).not.toContain('invalid session token');
    expect(text).not.toContain('null');
    // The rest of the page still works.
    await openSection(page, 'activity');
    await page.locator('#activity s-table-row', { hasText: '#1001' }).waitFor();
    await close();
  }, 60_000);

  it('shows a points change IT Retail may or may not have applied, with both readings, and decides it once', async () => {
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

    const { page, errors, close } = await openPage();
    const decideProblem = page.locator('#overview .problem[data-code=UNCERTAIN_WRITES]');
    await expect(decideProblem.textContent()).resolves.toContain('1 change to points needs your decision');
    // Uncertain writes stay first, and "Decide" leads to them.
    await decideProblem.locator('.problem-action', { hasText: 'Decide' }).click();
    const card = page.locator('#failures .uncertain-writes .uncertain-write');
    await card.waitFor();
    const text = (await card.textContent()) ?? '';
    expect(text).toContain('+15 pts for order #1010');
    expect(text).toContain(`It landed: IT Retail already holds the +15 pts (it showed ${before + 20} pts)`);
    expect(text).toContain('It did not land: the +15 pts are applied now');
    // The order's own job waits for the decision instead of offering a Retry that cannot help.
    const held = page.locator('#failures s-table-row', { hasText: '#1010' });
    await held.getByText('Runs again once the change above is decided.').waitFor();
    await screenshot(page, 'uncertain');

    await card.locator('s-button.decide-landed').click();
    await page.locator('#failures .uncertain-writes .decided', { hasText: 'marked as applied' }).waitFor();
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
      .locator('#failures s-table-row', { hasText: '#1010' })
      .waitFor({ state: 'detached', timeout: 20_000 });
    expect(sim.getCustomer(grace.Id)!.LoyaltyPoints).toBe(before + 15 + 5);
    expect(errors).toEqual([]);
    await close();
  }, 90_000);

  it("hands a customer's data request report to the merchant as a download, named by the customer's email", async () => {
    const payload = {
      ...fixture<{ data_request: { id: number }; customer: { id: number; email: string } }>(
        'customers-data_request',
      ),
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
    await until(async () => (await h.deps.redis.exists(h.deps.keys.dataRequest(SHOP, requestId))) === 1);

    const { page, errors, close } = await openPage('/app/data-requests');
    const row = page.locator(`#data-requests s-table-row[data-request-id="${requestId}"]`);
    await row.waitFor();
    await expect(row.textContent()).resolves.toContain(
      payload.customer.email ?? `Shopify customer ${customerId}`,
    );
    const [file] = await Promise.all([
      page.waitForEvent('download'),
      row.locator('s-button.download').click(),
    ]);
    expect(file.suggestedFilename()).toBe(`data-request-${requestId}.json`);
    const report = JSON.parse(readFileSync(await file.path(), 'utf8'));
    expect(report).toMatchObject({ shop: SHOP, customer: { shopifyCustomerId: customerId } });
    expect(errors).toEqual([]);
    await close();
  }, 60_000);
});
