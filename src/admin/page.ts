import { readdirSync, readFileSync } from 'node:fs';
import express, { type Response } from 'express';
import type { Config } from '../config.js';
import { validShopDomain } from '../shop-domain.js';

/**
 * The embedded page: a server-rendered shell (App Bridge and Polaris web components from Shopify's CDN, the
 * app nav) and ES modules under ./public/ (one per section, no build step, type-checked from their JSDoc by
 * public/tsconfig.json). Data comes from the session-token-protected JSON API.
 *
 * Every HTML answer carries `Content-Security-Policy: frame-ancestors https://<shop> https://admin.shopify.com;`
 * so only the shop's own admin can frame it.
 */

const PUBLIC_DIR = new URL('./public/', import.meta.url);
const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/** Every script and stylesheet under public/, by its path there (e.g. `views/overview.js`). */
function readAssets(dir: URL, prefix = ''): Map<string, { type: string; body: Buffer }> {
  const out = new Map<string, { type: string; body: Buffer }>();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      for (const [k, v] of readAssets(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`))
        out.set(k, v);
      continue;
    }
    const type = TYPES[entry.name.slice(entry.name.lastIndexOf('.'))];
    if (type) out.set(`${prefix}${entry.name}`, { type, body: readFileSync(new URL(entry.name, dir)) });
  }
  return out;
}
const ASSETS = readAssets(PUBLIC_DIR);

const APP_BRIDGE_URL = 'https://cdn.shopify.com/shopifycloud/app-bridge.js';
const POLARIS_URL = 'https://cdn.shopify.com/shopifycloud/polaris.js';

/** The sections of the page, in the order of the app nav. The first is the home route. */
export const SECTIONS = [
  ['overview', 'Overview'],
  ['failures', 'Failures'],
  ['activity', 'Activity'],
  ['customers', 'Customer lookup'],
  ['link-existing', 'Link customers'],
  ['data-requests', 'Data requests'],
  ['settings', 'Settings'],
] as const;

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );
}

export function frameAncestors(shop: string | undefined): string {
  return shop
    ? `frame-ancestors https://${shop} https://admin.shopify.com;`
    : 'frame-ancestors https://admin.shopify.com;';
}

export function sendHtml(res: Response, shop: string | undefined, status: number, html: string) {
  res
    .status(status)
    .set('Content-Security-Policy', frameAncestors(shop))
    .set('Cache-Control', 'no-store')
    .set('X-Content-Type-Options', 'nosniff')
    .type('html')
    .send(html);
}

export interface ShellOptions {
  apiKey: string;
  shop: string;
  /** Where the sections' paths start (`/app`: `/app/failures`…). */
  base?: string;
  /** The script providing the `shopify` global (App Bridge from Shopify's CDN unless replaced). */
  bridgeScript?: string;
  /** A line shown above the page (the development sign-in says it is one). */
  note?: string;
}

/** The page's HTML: the app nav and an empty place the section modules fill (public/app.js). */
export function renderShell(o: ShellOptions): string {
  const base = o.base ?? '/app';
  const links = SECTIONS.map(
    ([id, label], i) =>
      `<s-link href="${escapeHtml(i === 0 ? base : `${base}/${id}`)}"${i === 0 ? ' rel="home"' : ''}>${label}</s-link>`,
  ).join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="shopify-api-key" content="${escapeHtml(o.apiKey)}">
<title>IT Retail Loyalty</title>
<script src="${escapeHtml(o.bridgeScript ?? APP_BRIDGE_URL)}" data-shop="${escapeHtml(o.shop)}"></script>
<script src="${POLARIS_URL}"></script>
<link rel="stylesheet" href="/admin/app.css">
<script type="module" src="/admin/app.js"></script>
</head>
<body data-shop="${escapeHtml(o.shop)}" data-base="${escapeHtml(base)}">
<s-app-nav>${links}</s-app-nav>
<s-page heading="IT Retail Loyalty">
${o.note ? `<div class="dev-note">${escapeHtml(o.note)}</div>` : ''}
<div id="global-error" role="alert"></div>
<main id="views"><div class="view-loading" aria-busy="true">Loading…</div></main>
</s-page>
</body>
</html>`;
}

function notInAdmin(): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>IT Retail Loyalty</title></head>
<body><p>Open this app from your Shopify admin (Apps → IT Retail Loyalty).</p></body></html>`;
}

export interface PageDeps {
  config: Config;
}

export function pageRouter(deps: PageDeps): express.Router {
  const router = express.Router();
  const { apiKey } = deps.config.shopify;

  router.get(/^\/admin\/(.+)$/, (req, res, next) => {
    const a = ASSETS.get(String((req.params as Record<string, string>)[0]));
    if (!a) return next();
    res.type(a.type).set('Cache-Control', 'no-cache').send(a.body);
  });

  const shell = (req: express.Request, res: Response) => {
    const shop = validShopDomain(req.query.shop);
    if (!shop) {
      sendHtml(res, undefined, req.query.shop === undefined ? 200 : 400, notInAdmin());
      return;
    }
    sendHtml(res, shop, 200, renderShell({ apiKey, shop }));
  };
  router.get('/', shell);
  router.get('/app', shell);
  router.get('/app/:section', shell);
  return router;
}
