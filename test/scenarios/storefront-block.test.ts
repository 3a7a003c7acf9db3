import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { createItretailAccess, type ItretailAccess } from '../../src/admin/itretail-access.js';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { buildDeps, type Deps } from '../../src/main.js';
import { waitForRedis } from '../../src/store/redis.js';
import { CustomerMatcher } from '../../src/sync/matching.js';
import { CHROMIUM, HAS_CHROMIUM, launchChromium } from '../helpers/browser.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { TEST_APP, testEnv } from '../helpers/shopify.js';
import { startStorefront, themePage } from '../helpers/storefront.js';
import { customerWithPoints, renderBlock } from '../helpers/theme.js';

/**
 * The theme block in headless Chromium on a storefront stand-in that forwards /apps/loyalty/* to the real
 * app as Shopify's app proxy does (signed), against real Redis and the IT Retail simulator. The redeem
 * route does not exist yet: its answers are the app's real 404, or (for the success path and a lost
 * answer) fulfilled by the browser's route interception.
 */

if (!HAS_CHROMIUM) {
  console.warn(
    `SKIPPED: browser test of the storefront block needs ${CHROMIUM} (apt-get install -y chromium)`,
  );
}

const SHOP = 'storefront-block.myshopify.com';
const USER = { username: 'sf-backoffice', password: 'Sf-Pa55word' };
const ADA = '7001';
const prefix = uniquePrefix('storefront-e2e');

let sim: ITRetailSimulator;
let deps: Deps;
let itretail: ItretailAccess;
let server: Server;
let storefront: Awaited<ReturnType<typeof startStorefront>>;
let browser: Browser;

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  sim = await ITRetailSimulator.start({ users: [USER] });
  const [ada] = sim.seedCustomers([{ FirstName: 'Ada', Email: 'ada@example.com', LoyaltyPoints: 1240 }]);
  const config = loadConfig(testEnv({ REDIS_KEY_PREFIX: prefix }));
  deps = buildDeps(config, { logger: pino({ level: 'silent' }) });
  await waitForRedis(deps.redis);
  itretail = createItretailAccess({ config, settings: deps.settings });
  await deps.settings.update(SHOP, {
    itretail: { baseUrl: sim.url, ...USER },
    redemption: { enabled: true, pointsPerUnit: 100, minimumPoints: 500, stepPoints: 100 },
  });
  await deps.settings.markInstalled(SHOP);
  await new CustomerMatcher(deps.redis, deps.keys).link(SHOP, ada?.Id ?? '', { shopifyCustomerId: ADA });
  const app = createApp({ ...deps, itretail });
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  storefront = await startStorefront({
    appOrigin: `http://127.0.0.1:${port}`,
    shop: SHOP,
    secret: TEST_APP.apiSecret,
    customerId: ADA,
    // The metafield lags behind the register: it still says 1,000 while IT Retail has 1,240.
    pages: {
      '/account': async (id) =>
        themePage(await renderBlock({ customer: id ? customerWithPoints(1000) : undefined })),
    },
  });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await storefront?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await itretail?.close();
  await deps?.close();
  await sim?.stop();
  const r = testRedis();
  await dropPrefix(r, prefix);
  await r.quit();
});

async function openAccount(): Promise<{ page: Page; errors: string[] }> {
  const page = await (await browser.newContext()).newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${storefront.origin}/account`);
  return { page, errors };
}

/** An element's text with its whitespace collapsed. */
const textIn = async (page: Page, selector: string) =>
  ((await page.textContent(selector)) ?? '').replace(/\s+/g, ' ').trim();

describe.skipIf(!HAS_CHROMIUM)('the loyalty block on a storefront', () => {
  it('paints the metafield, then shows the live balance and its value from the app proxy', async () => {
    storefront.signIn(ADA);
    const { page, errors } = await openAccount();
    await page.locator('[data-itrb-value-text]').waitFor({ state: 'visible' });
    expect(await textIn(page, '.itrb-loyalty__balance')).toBe('You have 1,240 points — worth $12.40');
    expect(await page.locator('[data-itrb-redeem]').isVisible()).toBe(true);
    expect(await page.inputValue('input[name=points]')).toBe('500');
    const get = storefront.proxied.find((r) => r.path === '/balance');
    expect(get?.query).toMatchObject({ shop: SHOP, logged_in_customer_id: ADA });
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows the server’s error when a redemption is refused, and a retry after a lost answer keeps its key', async () => {
    storefront.signIn(ADA);
    const { page, errors } = await openAccount();
    await page.locator('[data-itrb-redeem]').waitFor({ state: 'visible' });
    // First try: the answer is lost on the way (a gateway error without a body).
    let lose = true;
    await page.route('**/apps/loyalty/redeem', (route) => {
      if (!lose) return route.continue();
      lose = false;
      return route.fulfill({ status: 502, body: '' });
    });
    const sent: { points: number; key: string }[] = [];
    page.on('request', (r) => {
      if (r.url().endsWith('/apps/loyalty/redeem')) sent.push(JSON.parse(r.postData() ?? '{}'));
    });
    await page.click('[data-itrb-redeem] button');
    const alert = page.locator('[data-itrb-error]');
    await alert.filter({ hasText: 'Something went wrong' }).waitFor();
    // Second try reaches the app, which has no redeem route yet: its message is shown as it is.
    await page.click('[data-itrb-redeem] button');
    await alert.filter({ hasText: 'This loyalty feature is not available' }).waitFor();
    expect(await textIn(page, '[data-itrb-error]')).toBe(
      'Your points could not be redeemed: This loyalty feature is not available.',
    );
    expect(await alert.getAttribute('role')).toBe('alert');
    expect(sent).toHaveLength(2);
    expect(sent[0]?.points).toBe(500);
    expect(sent[0]?.key).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(sent[1]?.key).toBe(sent[0]?.key);
    // The app saw it signed, for the signed-in customer.
    const post = storefront.proxied.filter((r) => r.path === '/redeem').at(-1);
    expect(post?.query.logged_in_customer_id).toBe(ADA);
    expect(JSON.parse(post?.body ?? '{}')).toEqual(sent[1]);
    // Refused (4xx) means that redemption is over: the next one has a new key.
    await page.click('[data-itrb-redeem] button');
    await expect.poll(() => sent.length).toBe(3);
    expect(sent[2]?.key).not.toBe(sent[0]?.key);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows a code with a copy button and a /discount link when a redemption succeeds', async () => {
    storefront.signIn(ADA);
    const { page, errors } = await openAccount();
    await page
      .context()
      .grantPermissions(['clipboard-read', 'clipboard-write'], { origin: storefront.origin });
    await page.locator('[data-itrb-redeem]').waitFor({ state: 'visible' });
    await page.route('**/apps/loyalty/redeem', (route) =>
      route.fulfill({
        status: 200,
        contentType: 'application/json',
        body: JSON.stringify({
          code: 'ITR-7Q4K-93XZ',
          pointsRedeemed: 500,
          points: 740,
          value: '7.40',
          expiresAt: '2026-12-29T00:00:00.000Z',
        }),
      }),
    );
    await page.click('[data-itrb-redeem] button');
    await page.locator('[data-itrb-code]').waitFor({ state: 'visible' });
    expect(await textIn(page, '[data-itrb-code-text]')).toBe('ITR-7Q4K-93XZ');
    expect(await page.getAttribute('[data-itrb-apply]', 'href')).toBe(
      '/discount/ITR-7Q4K-93XZ?redirect=%2Fcart',
    );
    await page.click('[data-itrb-copy]');
    await page.locator('[data-itrb-copy]', { hasText: 'Copied' }).waitFor();
    expect(await page.evaluate('navigator.clipboard.readText()')).toBe('ITR-7Q4K-93XZ');
    expect(await page.locator('[data-itrb-error]').isHidden()).toBe(true);
    expect(errors).toEqual([]);
    await page.context().close();
  });

  it('shows a signed-out visitor a sign-in prompt and asks the app for nothing', async () => {
    storefront.signOut();
    const before = storefront.proxied.length;
    const { page, errors } = await openAccount();
    await page.waitForLoadState('networkidle');
    expect(await textIn(page, '.itrb-loyalty')).toBe(
      'Your points Sign in to see your points and spend them here. Sign in',
    );
    expect(await page.locator('[data-itrb-redeem]').count()).toBe(0);
    expect(storefront.proxied.length).toBe(before);
    expect(errors).toEqual([]);
    await page.context().close();
  });
});
