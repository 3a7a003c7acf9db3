import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { SECTIONS } from '../../src/admin/page.js';
import { type AdminHarness, adminHarness } from '../helpers/admin.js';
import { HAS_CHROMIUM, launchChromium } from '../helpers/browser.js';
import {
  DESKTOP,
  layoutShift,
  openAdminPage,
  openSection,
  PHONE,
  screenshot,
  scrollWidth,
  verdictOf,
} from './admin-page-support.js';

/**
 * The page at a glance, on a desktop (1280×800) and a phone (390×844): the verdict in each state and the
 * action that clears it, the Resync guard, the storefront part of a customer, no sideways scrolling, layout
 * shift while loading, and the development sign-in's one session token. Screenshots go to test/artifacts/.
 */

const USER = { username: 'layout-clerk', password: 'Layout-Pa55' };
const WORKING = 'layout-working.myshopify.com';
let sim: ITRetailSimulator;
let h: AdminHarness;
let server: Server;
let baseUrl: string;
let browser: Browser;

async function connected(shop: string) {
  await h.deps.settings.update(shop, { itretail: { baseUrl: sim.url, ...USER } });
  await h.deps.settings.markInstalled(shop);
}

/** A shop with a week's worth of ordinary activity, nothing wrong. */
async function busyShop(shop: string) {
  await connected(shop);
  const names = ['Ada Lovelace', 'Grace Hopper', 'Katherine Johnson', 'Margaret Hamilton'];
  for (let i = 0; i < 12; i++) {
    await h.deps.events.record({
      shop,
      topic: i % 5 === 4 ? 'refunds/create' : 'orders/paid',
      status: i % 6 === 5 ? 'skipped' : 'applied',
      reason: i % 6 === 5 ? 'test order' : undefined,
      shopifyOrderId: String(9100 + i),
      orderName: `#${9100 + i}`,
      customerName: names[i % names.length],
      cardNo: String(400100 + (i % names.length)),
      pointsBefore: 100,
      pointsDelta: i % 5 === 4 ? -12 : 25 + i,
      pointsAfter: i % 5 === 4 ? 88 : 125 + i,
    });
  }
  await h.deps.events.record({
    shop,
    topic: 'admin/resync-customer',
    status: 'applied',
    customerName: 'Grace Hopper',
    cardNo: '400101',
    reason: 'resynced: 2 orders looked at, nothing to change',
  });
}

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  sim = await ITRetailSimulator.start({ users: [USER] });
  h = await adminHarness('e2e-admin-layout', { devSignIn: true });
  server = await new Promise<Server>((resolve) => {
    const s = h.app.listen(0, '127.0.0.1', () => resolve(s));
  });
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await busyShop(WORKING);
  // Link existing customers ran: 35 of the shop's 49 customers linked (5 of them created in IT Retail).
  const links: Record<string, string> = {};
  for (let i = 0; i < 35; i++) links[`shopper${i}@example.com`] = `itr-${i}`;
  await h.deps.redis.hset(h.deps.keys.linkEmail(WORKING), links);
  await h.deps.redis.hset(h.deps.keys.linkExisting(WORKING), {
    state: 'done',
    done: '49',
    total: '49',
    linked: '30',
    created: '5',
    skipped: '14',
    failed: '0',
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await h?.teardown();
  await sim?.stop();
});

const open = (shop: string, viewport = DESKTOP, path?: string) =>
  openAdminPage(browser, { baseUrl, shop, token: () => h.token(shop), viewport, path });

/** Waits (without asserting on time) until `check` holds; the test's own timeout bounds it. */
async function until(check: () => Promise<boolean>) {
  while (!(await check())) await new Promise((r) => setTimeout(r, 100));
}

/** Waits until the shown view is filled (no "Loading…" left in it). */
async function settled(page: Page, section: string) {
  await page.locator(`#${section}`).waitFor({ state: 'visible' });
  await page.waitForFunction(`!document.querySelector('#${section}')?.textContent?.includes('Loading…')`);
}

describe.skipIf(!HAS_CHROMIUM)('the admin page at a glance', () => {
  for (const [device, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    it(`on a ${device}: loads without layout shift over 0.1, never scrolls sideways, every section`, async () => {
      const { page, errors, close } = await open(WORKING, viewport);
      expect(await verdictOf(page)).toBe('working');
      await page.locator('#overview .chart svg').waitFor();
      // Shifts are recorded as they happen; give a late one (a font, an image) a chance to be counted.
      await page.evaluate('new Promise((r) => requestAnimationFrame(() => setTimeout(r, 500)))');
      const shift = await layoutShift(page);
      expect(shift).toBeLessThanOrEqual(0.1);
      // The measure is live: pushing the page down by a block is counted as a shift.
      await page.evaluate(
        `document.querySelector('#views').before(Object.assign(document.createElement('div'), { style: 'height:200px' }))`,
      );
      await page.evaluate('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
      expect(await layoutShift(page)).toBeGreaterThan(shift);
      await page.evaluate(`document.querySelector('#views').previousElementSibling.remove()`);
      expect(await scrollWidth(page)).toBeLessThanOrEqual(viewport.width);
      await screenshot(page, `overview-${device}`);
      await expect(page.locator('#overview .cards').textContent()).resolves.toContain('35 of 49');
      expect(await page.locator('#overview .checklist').count()).toBe(0);
      for (const [section] of SECTIONS.slice(1)) {
        await openSection(page, section);
        await settled(page, section);
        expect(await scrollWidth(page), section).toBeLessThanOrEqual(viewport.width);
        // Nothing left empty shows as "null" (the link progress once did).
        expect(await page.locator(`#${section}`).textContent(), section).not.toMatch(/\bnull\b|undefined/);
        await screenshot(page, `${section}-${device}`);
      }
      await expect(page.locator('#link-existing .link-summary').textContent()).resolves.toBe(
        'Finished: 35 of 49 linked',
      );
      expect(errors).toEqual([]);
      await close();
    }, 60_000);
  }

  it('filters Activity to resyncs, and searches it by customer', async () => {
    const { page, errors, close } = await open(WORKING, DESKTOP, '/app/activity');
    const rows = page.locator('#activity s-table-row:not(.empty)');
    await rows.first().waitFor();
    await page.selectOption('#activity s-select[name=topic] select', { label: 'Resync' });
    await page.locator('#activity s-table-row[data-topic="admin/resync-customer"]').waitFor();
    await until(async () => (await rows.count()) === 1);
    await expect(rows.first().textContent()).resolves.toContain('Grace Hopper');
    await page.selectOption('#activity s-select[name=topic] select', '');
    await page.fill('#activity s-search-field input', 'hamilton');
    await until(async () => (await rows.count()) === 3);
    for (const text of await rows.allTextContents()) expect(text).toContain('Margaret Hamilton');
    expect(errors).toEqual([]);
    await close();
  }, 60_000);

  it('says Not working when IT Retail refuses the sign-in, apart from not answering', async () => {
    const shop = 'layout-refused.myshopify.com';
    await h.deps.settings.update(shop, {
      itretail: { baseUrl: sim.url, username: USER.username, password: 'Wrong-Pa55' },
    });
    await h.deps.settings.markInstalled(shop);
    const { page, close } = await open(shop, PHONE);
    expect(await verdictOf(page)).toBe('not-working');
    await expect(page.locator('#overview .problem').first().textContent()).resolves.toContain(
      'IT Retail refused the sign-in',
    );
    await screenshot(page, 'refused-phone');
    const down = 'layout-down.myshopify.com';
    await h.deps.settings.update(down, {
      itretail: { baseUrl: 'http://127.0.0.1:9', ...USER },
    });
    await h.deps.settings.markInstalled(down);
    const other = await open(down);
    expect(await verdictOf(other.page)).toBe('not-working');
    await expect(other.page.locator('#overview .problem').first().textContent()).resolves.toContain(
      'IT Retail is not answering',
    );
    await other.close();
    await close();
  }, 60_000);

  it('says Needs attention while paused, and Resume makes it Working', async () => {
    const shop = 'layout-paused.myshopify.com';
    await connected(shop);
    await h.deps.settings.update(shop, { paused: true });
    const { page, errors, close } = await open(shop);
    expect(await verdictOf(page)).toBe('needs-attention');
    await screenshot(page, 'paused');
    await page.locator('#overview .problem[data-code=PAUSED] .problem-action', { hasText: 'Resume' }).click();
    await page.locator('#overview [data-verdict=working]').waitFor();
    expect((await h.deps.settings.get(shop)).paused).toBe(false);
    expect(errors).toEqual([]);
    await close();
  }, 60_000);

  it('a permanent failure keeps it Not working until dismissed, and a dismissed one stays dismissed', async () => {
    const shop = 'layout-dismiss.myshopify.com';
    await connected(shop);
    await h.deps.events.record({
      shop,
      topic: 'orders/paid',
      status: 'failed',
      jobId: 'wh|layout-dismiss|orders%2Fpaid|gone-1',
      error: 'invalid orders/paid payload (body: current_subtotal_price is not a decimal amount)',
      errorCode: 'INVALID_PAYLOAD',
      shopifyOrderId: '9901',
      orderName: '#9901',
      attempts: 1,
    });
    const { page, errors, close } = await open(shop);
    expect(await verdictOf(page)).toBe('not-working');
    await page
      .locator('#overview .problem[data-code=FAILURES] .problem-action', { hasText: 'Review' })
      .click();
    const row = page.locator('#failures s-table-row', { hasText: '#9901' });
    await row.waitFor();
    // Retrying cannot help: no Retry, and no "Retry all".
    expect(await row.locator('s-button.retry').count()).toBe(0);
    expect(await page.locator('#failures s-button.retry-all').isVisible()).toBe(false);
    await row.locator('s-button.dismiss').click();
    await row.getByText('Dismissed.').waitFor();
    await openSection(page, 'overview');
    await page.locator('#overview [data-verdict=working]').waitFor();
    // Kept per shop in Redis: a new page load still says Working, and lists the dismissed one.
    await page.reload();
    expect(await verdictOf(page)).toBe('working');
    await openSection(page, 'failures');
    await page.locator('#failures .failures-total', { hasText: '1 dismissed' }).waitFor();
    await screenshot(page, 'dismissed');
    expect(errors).toEqual([]);
    await close();
  }, 60_000);

  it('shows the setup checklist on a fresh install', async () => {
    const { page, close } = await open('layout-fresh.myshopify.com', PHONE);
    const list = page.locator('#overview .checklist');
    await list.waitFor();
    await expect(list.textContent()).resolves.toMatch(/Enter your IT Retail sign-in.*Open Settings/);
    expect(await scrollWidth(page)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, 'setup-phone');
    await list.locator('s-button', { hasText: 'Open Settings' }).click();
    await page.locator('#settings').waitFor({ state: 'visible' });
    await close();
  }, 60_000);

  it('asks before a Resync creates an IT Retail customer for an email the app does not know', async () => {
    const { page, errors, close } = await open(WORKING, DESKTOP, '/app/customers');
    const queued = async () =>
      (await h.deps.queue.forShop(WORKING).getJobs(['waiting', 'delayed'])).filter(
        (j) => j.data.kind === 'resync-customer',
      );
    await page.fill('#customers s-email-field input', 'ada@exmaple.com');
    await page.click('#customers s-button.lookup-submit');
    await page.locator('#customers s-button.resync').click();
    const confirm = page.locator('#customers .confirm-create');
    await expect(confirm.textContent()).resolves.toContain('will create a new IT Retail customer');
    await confirm.locator('s-button.confirm-create-no').click();
    expect(await queued()).toEqual([]);
    await page.locator('#customers s-button.resync').click();
    await page.locator('#customers .confirm-create s-button.confirm-create-yes').click();
    await page.locator('#customers .resync-queued').waitFor();
    const jobs = await queued();
    expect(jobs.map((j) => j.data)).toEqual([expect.objectContaining({ email: 'ada@exmaple.com' })]);
    for (const j of jobs) await j.remove();
    expect(errors).toEqual([]);
    await close();
  }, 60_000);

  it('shows what the storefront shows, in-store purchases and redemptions — and nothing of it where that API is missing', async () => {
    const { page, errors, close } = await open(WORKING, PHONE, '/app/customers');
    await page.route(`${baseUrl}/api/customers/storefront?*`, (route) =>
      route.fulfill({
        contentType: 'application/json',
        body: JSON.stringify({
          metafield: { points: 1250, writtenAt: '2026-05-01T10:00:00.000Z' },
          registerPurchases: {
            days: 7,
            items: [
              { date: '2026-04-29T15:00:00.000Z', description: 'Sourdough loaf', quantity: 2, amount: 12.5 },
            ],
          },
          redemptions: [
            {
              key: 'r-1',
              code: 'LOYAL-7QX2',
              points: 500,
              value: 5,
              currency: 'USD',
              createdAt: '2026-04-30T09:00:00.000Z',
              expiresAt: '2026-05-30T09:00:00.000Z',
              status: 'active',
            },
          ],
        }),
      }),
    );
    await page.fill('#customers s-email-field input', 'ada@example.com');
    await page.click('#customers s-button.lookup-submit');
    const result = page.locator('#customers .lookup-result');
    await result.locator('.storefront-shown').waitFor();
    await expect(result.locator('.storefront-shown').textContent()).resolves.toMatch(
      /Shown in Shopify: 1,250 pts \(written .+\)/,
    );
    await expect(result.locator('.in-store').textContent()).resolves.toContain('Sourdough loaf');
    await expect(result.locator('.redemptions').textContent()).resolves.toContain('LOYAL-7QX2');
    expect(await scrollWidth(page)).toBeLessThanOrEqual(PHONE.width);
    await screenshot(page, 'customer-phone');
    // An app without that API (404): the lookup shows nothing of it.
    await page.unroute(`${baseUrl}/api/customers/storefront?*`);
    await page.route(`${baseUrl}/api/customers/storefront?*`, (route) =>
      route.fulfill({ status: 404, contentType: 'application/json', body: '{"error":"not found"}' }),
    );
    await page.click('#customers s-button.lookup-submit');
    await result.getByText('Looking up…').waitFor({ state: 'detached' });
    await result.locator('s-button.resync').waitFor();
    expect(await result.locator('.storefront-shown, .in-store, .redemptions').count()).toBe(0);
    expect(errors).toEqual([]);
    await close();
  }, 60_000);

  it('the development sign-in fetches one session token for the whole page', async () => {
    const context = await browser.newContext({ viewport: DESKTOP });
    const page = await context.newPage();
    await page.route('https://cdn.shopify.com/**', (route) =>
      route.fulfill({ contentType: 'text/javascript', body: '' }),
    );
    const tokenRequests: string[] = [];
    page.on('request', (r) => {
      if (r.url().includes('/dev/session-token')) tokenRequests.push(r.url());
    });
    await page.goto(`${baseUrl}/dev/sign-in?shop=${WORKING}`);
    expect(await verdictOf(page)).toBe('working');
    for (const section of ['failures', 'activity', 'settings']) {
      await openSection(page, section);
      await settled(page, section);
    }
    expect(new URL(page.url()).pathname).toBe('/dev/sign-in/settings');
    expect(tokenRequests).toHaveLength(1);
    await context.close();
  }, 60_000);
});
