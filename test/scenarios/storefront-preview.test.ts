import { mkdirSync } from 'node:fs';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SHOP, type RunningDemo, startDemo } from '../../fakes/demo.js';
import { mintSessionToken } from '../../fakes/shopify/dev-sign-in.js';
import { CHROMIUM, HAS_CHROMIUM, launchChromium } from '../helpers/browser.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

/**
 * `npm run demo`'s storefront preview in headless Chromium: a newcomer signs in as a sample customer, sees
 * the register's balance in the Loyalty balance block, redeems points and gets a code — the whole way
 * through the app proxy (signed), the worker, the IT Retail simulator and the Admin API stand-in — and the
 * redemption shows on the admin page's activity. Screenshot: test/artifacts/storefront-preview.png.
 */

if (!HAS_CHROMIUM) {
  console.warn(
    `SKIPPED: browser test of the storefront preview needs ${CHROMIUM} (apt-get install -y chromium)`,
  );
}

const ARTIFACTS = new URL('../artifacts/', import.meta.url);
const prefix = uniquePrefix('sf-preview');
let demo: RunningDemo;
let browser: Browser;

beforeAll(async () => {
  if (!HAS_CHROMIUM) return;
  demo = await startDemo({ port: 0, keyPrefix: prefix, streamEveryMs: 600_000, seedCustomers: 20 });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await demo?.stop();
  const r = testRedis();
  await dropPrefix(r, prefix);
  await r.quit();
});

describe.skipIf(!HAS_CHROMIUM)('the demo’s storefront preview', () => {
  it('a newcomer signs in as a sample customer, sees the balance, redeems points and gets a code', async () => {
    // A sample customer with enough points to redeem (the opening webhooks link customers to IT Retail).
    let pick: { id: string; itrId: string } | undefined;
    for (let i = 0; i < 200 && !pick; i++) {
      const links = await demo.deps.redis.hgetall(demo.deps.keys.shop(DEMO_SHOP, 'link', 'customer'));
      const [id, itrId] = Object.entries(links)[0] ?? [];
      if (id && itrId) pick = { id, itrId };
      else await new Promise((r) => setTimeout(r, 100));
    }
    expect(pick).toBeDefined();
    const { id, itrId } = pick as { id: string; itrId: string };
    // Enough points for one redemption at the default rules (500 at least).
    const start = demo.sim.getCustomer(itrId)?.LoyaltyPoints ?? 0;
    if (start < 1000) demo.sim.adjustPoints(itrId, 1000 - start);
    const before = demo.sim.getCustomer(itrId)?.LoyaltyPoints ?? 0;

    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${demo.url}/preview`);
    await page.click(`[data-sign-in="${id}"]`);
    await page.waitForURL(/\/preview\/account$/);
    const points = page.locator('[data-itrb-points]');
    await points.filter({ hasText: before.toLocaleString('en-US') }).waitFor();
    await page.locator('[data-itrb-redeem]').waitFor({ state: 'visible' });
    await page.fill('[data-itrb-redeem] input[name=points]', '500');
    await page.click('[data-itrb-redeem] button');
    const code = page.locator('[data-itrb-code-text]');
    await code.filter({ hasText: /^PTS-/ }).waitFor({ timeout: 20_000 });
    const shown = (await code.textContent()) ?? '';
    expect(await page.locator('[data-itrb-apply]').getAttribute('href')).toBe(
      `/discount/${encodeURIComponent(shown)}?redirect=%2Fcart`,
    );
    await points.filter({ hasText: (before - 500).toLocaleString('en-US') }).waitFor();
    expect(demo.sim.getCustomer(itrId)?.LoyaltyPoints).toBe(before - 500);
    // The code exists in Shopify for this customer only.
    expect(demo.loyalty.discounts.get(shown)?.customers).toEqual([`gid://shopify/Customer/${id}`]);
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: new URL('storefront-preview.png', ARTIFACTS).pathname, fullPage: true });
    expect(errors).toEqual([]);

    // The admin page's activity has the redemption, with the new balance.
    const token = mintSessionToken(demo.config, DEMO_SHOP);
    const res = await fetch(`${demo.url}/api/events?customer=${id}`, {
      headers: { Authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as {
      events: { topic: string; pointsAfter?: number; shopifyCustomerId?: string }[];
    };
    const redeemed = body.events.filter((e) => e.topic === 'admin/redeem' && e.shopifyCustomerId === id);
    expect(redeemed[0]?.pointsAfter).toBe(before - 500);
    await page.close();
  }, 60_000);
});
