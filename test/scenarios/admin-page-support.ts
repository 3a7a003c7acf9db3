import { mkdirSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';

/**
 * Opening the embedded page in Chromium for the admin page tests. Shopify's CDN is replaced by route
 * interception: App Bridge by a stand-in whose idToken() returns a session token minted by the test,
 * Polaris by an empty script — so the page runs on its own stand-ins for Polaris's elements (the same
 * path it takes whenever polaris.js cannot load).
 */

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 390, height: 844 };
export const ARTIFACTS = new URL('../artifacts/', import.meta.url);

/** Sums layout shifts not caused by input, as Core Web Vitals' CLS does (one window: the page's load). */
const MEASURE_SHIFTS = `
  window.__layoutShift = 0;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if (!e.hadRecentInput) window.__layoutShift += e.value;
  }).observe({ type: 'layout-shift', buffered: true });
`;

export interface OpenedPage {
  page: Page;
  errors: string[];
  close(): Promise<void>;
}

export async function openAdminPage(
  browser: Browser,
  o: {
    baseUrl: string;
    shop: string;
    token: () => string;
    viewport?: { width: number; height: number };
    path?: string;
  },
): Promise<OpenedPage> {
  const context = await browser.newContext({ viewport: o.viewport ?? DESKTOP });
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(MEASURE_SHIFTS);
  await page.exposeFunction('__mintSessionToken', o.token);
  await page.route('https://cdn.shopify.com/shopifycloud/app-bridge.js', (route) =>
    route.fulfill({
      contentType: 'text/javascript',
      body: 'window.shopify = { idToken: () => window.__mintSessionToken(), toast: { show() {} } };',
    }),
  );
  await page.route('https://cdn.shopify.com/shopifycloud/polaris.js', (route) =>
    route.fulfill({ contentType: 'text/javascript', body: '/* Polaris stand-in: not loaded */' }),
  );
  await page.goto(
    `${o.baseUrl}${o.path ?? '/app'}?shop=${o.shop}&host=YWRtaW4uc2hvcGlmeS5jb20vc3RvcmUvYnJvd3Nlci1zaG9w&embedded=1`,
  );
  return { page, errors, close: () => context.close() };
}

/** Shows a section through the app nav. */
export async function openSection(page: Page, section: string) {
  await page.click(
    section === 'overview' ? 's-app-nav s-link[rel=home]' : `s-app-nav s-link[href$="/${section}"]`,
  );
  await page.locator(`#${section}`).waitFor({ state: 'visible' });
}

/** The verdict shown at the top of the overview, once loaded. */
export async function verdictOf(page: Page): Promise<string | null> {
  const v = page.locator('#overview .verdict [data-verdict]');
  await v.waitFor();
  return v.getAttribute('data-verdict');
}

export async function layoutShift(page: Page): Promise<number> {
  return page.evaluate('window.__layoutShift') as Promise<number>;
}

/** How wide the document is: more than the viewport means the page scrolls sideways. */
export async function scrollWidth(page: Page): Promise<number> {
  return page.evaluate('document.scrollingElement.scrollWidth') as Promise<number>;
}

export async function screenshot(page: Page, name: string) {
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.evaluate('window.scrollTo(0, 0)');
  await page.screenshot({ path: new URL(`admin-${name}.png`, ARTIFACTS).pathname, fullPage: true });
}

type Styled = { getComputedStyle(el: unknown): { textAlign: string } };
/** How a cell's text is aligned, as the browser computed it. */
export function textAlign(cell: import('playwright-core').Locator): Promise<string> {
  return cell.evaluate((el) => (globalThis as unknown as Styled).getComputedStyle(el).textAlign);
}
