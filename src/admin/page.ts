import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import express, { type Response } from 'express';
import type { Config } from '../config.js';
import { validShopDomain } from '../shop-domain.js';

/**
 * The embedded page: a server-rendered shell (App Bridge + Polaris web components from Shopify's CDN)
 * and one small script, no build step. Data comes from the session-token-protected JSON API.
 *
 * Every HTML answer carries `Content-Security-Policy: frame-ancestors https://<shop> https://admin.shopify.com;`
 * so only the shop's own admin can frame it.
 */

const PUBLIC_DIR = new URL('./public/', import.meta.url);
const ASSETS: Record<string, { type: string; body: Buffer }> = {};
for (const [name, type] of [
  ['app.js', 'text/javascript; charset=utf-8'],
  ['app.css', 'text/css; charset=utf-8'],
  ['dev-bridge.js', 'text/javascript; charset=utf-8'],
] as const) {
  ASSETS[name] = { type, body: readFileSync(new URL(name, PUBLIC_DIR)) };
}

const APP_BRIDGE_URL = 'https://cdn.shopify.com/shopifycloud/app-bridge.js';
const POLARIS_URL = 'https://cdn.shopify.com/shopifycloud/polaris.js';

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

function sendHtml(res: Response, shop: string | undefined, status: number, html: string) {
  res
    .status(status)
    .set('Content-Security-Policy', frameAncestors(shop))
    .set('Cache-Control', 'no-store')
    .set('X-Content-Type-Options', 'nosniff')
    .type('html')
    .send(html);
}

interface ShellOptions {
  apiKey: string;
  shop: string;
  /** Development sign-in: session tokens come from the local dev bridge instead of App Bridge. */
  dev?: boolean;
}

/** The page's HTML. Sections are filled in by /admin/app.js. */
function renderShell(o: ShellOptions): string {
  const bridge = o.dev
    ? `<script src="/admin/dev-bridge.js" data-shop="${escapeHtml(o.shop)}"></script>`
    : `<script src="${APP_BRIDGE_URL}"></script>`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="shopify-api-key" content="${escapeHtml(o.apiKey)}">
<title>IT Retail Loyalty</title>
${bridge}
<script src="${POLARIS_URL}"></script>
<link rel="stylesheet" href="/admin/app.css">
<script type="module" src="/admin/app.js"></script>
</head>
<body data-shop="${escapeHtml(o.shop)}"${o.dev ? ' data-dev="1"' : ''}>
<s-page heading="IT Retail Loyalty">
${o.dev ? '<div class="dev-note">Development sign-in: this page is not inside the Shopify admin.</div>' : ''}
<nav class="tabs" aria-label="Sections">
  <a href="#overview">Overview</a><a href="#failures">Failures</a><a href="#activity">Activity</a>
  <a href="#customers">Customer lookup</a><a href="#link-existing">Link existing customers</a><a href="#data-requests">Data requests</a><a href="#settings">Settings</a>
</nav>
<div id="global-error" role="alert"></div>

<s-section id="overview" heading="Is the loyalty sync working?">
  <div class="verdict" id="verdict"><s-text>Loading…</s-text></div>
  <div class="cards" id="overview-cards"></div>
  <h3 class="subhead">Last 24 hours, per hour</h3>
  <div id="chart" class="chart"></div>
</s-section>

<s-section id="failures" heading="Failures">
  <div class="section-error" role="alert"></div>
  <div id="uncertain-writes" class="uncertain-writes"></div>
  <div class="toolbar"><s-button id="retry-all" variant="primary">Retry all</s-button><span id="failures-total" class="muted"></span></div>
  <table class="grid"><thead><tr><th>When</th><th>What</th><th>What went wrong</th><th>Tries</th><th></th></tr></thead><tbody id="failures-body"></tbody></table>
  <div class="pager"><s-button id="failures-more" hidden>Show more</s-button></div>
</s-section>

<s-section id="activity" heading="Activity">
  <div class="section-error" role="alert"></div>
  <form class="toolbar" id="activity-filters">
    <label>Status <select name="status"><option value="">All</option><option value="applied">Applied</option><option value="skipped">Skipped</option><option value="failed">Failed</option></select></label>
    <label>Topic <select name="topic"><option value="">All</option>
      <option value="orders/paid">Order paid</option><option value="orders/updated">Order updated</option>
      <option value="orders/edited">Order edited</option><option value="refunds/create">Refund</option>
      <option value="orders/cancelled">Order cancelled</option><option value="customers/create">Customer created</option>
      <option value="customers/update">Customer updated</option><option value="admin/resync">Resync</option>
      <option value="admin/link-existing">Link existing</option></select></label>
  </form>
  <table class="grid"><thead><tr><th>When</th><th>Status</th><th>What</th><th>Customer</th><th>Points</th><th>Details</th></tr></thead><tbody id="activity-body"></tbody></table>
  <div class="pager"><s-button id="activity-more" hidden>Show more</s-button></div>
</s-section>

<s-section id="customers" heading="Customer lookup">
  <div class="section-error" role="alert"></div>
  <form class="toolbar" id="lookup-form">
    <label>Email <input type="email" name="email" required placeholder="customer@example.com" autocomplete="off"></label>
    <s-button id="lookup-submit" variant="primary">Look up</s-button>
  </form>
  <div id="lookup-result"></div>
</s-section>

<s-section id="link-existing" heading="Link existing customers">
  <div class="section-error" role="alert"></div>
  <s-text>Finds every existing Shopify customer in IT Retail by email, and creates the ones that are missing. It runs in the background and picks up where it left off after a restart.</s-text>
  <div class="toolbar"><s-button id="link-start" variant="primary">Start</s-button></div>
  <div id="link-progress"></div>
</s-section>

<s-section id="catch-up" heading="Catch-up from Shopify">
  <div class="section-error" role="alert"></div>
  <s-text>Shopify does not guarantee that every webhook arrives. Every 15 minutes the app reads back the orders changed since it last looked and puts right any points a lost webhook left wrong; each one it fixes shows under Activity as recovered by catch-up.</s-text>
  <div class="toolbar"><s-button id="catch-up-start" variant="primary">Run catch-up now</s-button></div>
  <div id="catch-up-status"></div>
</s-section>

<s-section id="data-requests" heading="Data requests">
  <div class="section-error" role="alert"></div>
  <s-text>When a customer asks your store for their data, the app prepares a report of what it holds about them, kept for 30 days. Download it and send it to the customer.</s-text>
  <div class="toolbar"><s-button id="data-requests-refresh">Refresh</s-button><span id="data-requests-note" class="muted"></span></div>
  <table class="grid"><thead><tr><th>Prepared</th><th>Customer</th><th>Request</th><th></th></tr></thead><tbody id="data-requests-body"></tbody></table>
</s-section>

<s-section id="settings" heading="Settings">
  <div class="section-error" role="alert"></div>
  <form id="settings-form" class="form" novalidate>
    <fieldset><legend>IT Retail connection</legend>
      <div id="itretail-state" class="muted"></div>
      <label>Base URL <input name="baseUrl" type="url" placeholder="https://retailnext.itretail.com"></label>
      <label>Sign in with <select name="authKind"><option value="password">Username and password</option><option value="token">API token</option><option value="keep">Keep what is saved</option></select></label>
      <label class="auth-password">Username <input name="username" autocomplete="off"></label>
      <label class="auth-password">Password <input name="password" type="password" autocomplete="new-password"></label>
      <label class="auth-token" hidden>API token <input name="token" type="password" autocomplete="off"></label>
      <div class="field-error" data-field="itretail"></div>
      <div class="toolbar"><s-button id="test-connection">Test connection</s-button><span id="test-result" role="status"></span></div>
    </fieldset>
    <fieldset><legend>Points</legend>
      <label>Points per dollar <input name="pointsPerDollar" inputmode="decimal"></label>
      <div class="field-error" data-field="pointsPerDollar"></div>
      <label class="check"><input type="checkbox" name="includeTestOrders"> Give points for test orders</label>
      <label class="check"><input type="checkbox" name="excludeTax"> Leave tax out where prices include it</label>
      <label class="check"><input type="checkbox" name="excludeGiftCards"> No points for gift cards (they earn when spent)</label>
      <label class="check"><input type="checkbox" name="includeShipping"> Give points for shipping</label>
      <p class="muted">An order keeps the points settings in force when it was paid.</p>
      <label>Keep order details for <input name="orderRetentionDays" type="number" min="1" max="3650" step="1"> days after an order's last change</label>
      <div class="field-error" data-field="orderRetentionDays"></div>
      <label class="check"><input type="checkbox" name="paused"> Pause sync (events wait in the queue; nothing is lost)</label>
    </fieldset>
    <fieldset id="redemption-rules"><legend>Redeeming points on the storefront</legend>
      <label class="check"><input type="checkbox" name="redeemEnabled"> Shoppers can turn points into a discount code</label>
      <label>Points per currency unit <input name="pointsPerUnit" type="number" min="1" step="1" inputmode="numeric"></label>
      <div class="field-error" data-field="redemption.pointsPerUnit"></div>
      <label>Currency <input name="currency" maxlength="3" size="4" autocapitalize="characters"></label>
      <div class="field-error" data-field="redemption.currency"></div>
      <label>Minimum points <input name="minimumPoints" type="number" min="1" step="1" inputmode="numeric"></label>
      <div class="field-error" data-field="redemption.minimumPoints"></div>
      <label>In steps of (points) <input name="stepPoints" type="number" min="1" step="1" inputmode="numeric"></label>
      <div class="field-error" data-field="redemption.stepPoints"></div>
      <label>Maximum points per redemption <input name="maximumPoints" type="number" min="1" step="1" inputmode="numeric"></label>
      <div class="field-error" data-field="redemption.maximumPoints"></div>
      <label>Code lifetime (days) <input name="codeLifetimeDays" type="number" min="1" max="365" step="1" inputmode="numeric"></label>
      <div class="field-error" data-field="redemption.codeLifetimeDays"></div>
      <label class="check"><input type="checkbox" name="giveBackExpired"> A code that expires unused gives its points back</label>
      <div class="field-error" data-field="redemption"></div>
    </fieldset>
    <div class="toolbar"><s-button id="settings-save" variant="primary">Save</s-button><span id="settings-result" role="status"></span></div>
  </form>
</s-section>
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
  /** The demo turns the development sign-in on regardless of config. */
  devSignIn?: boolean;
}

/** Whether the development sign-in is served: never in production, only when switched on. */
export function devSignInEnabled(deps: PageDeps): boolean {
  if (deps.config.nodeEnv === 'production' || process.env.NODE_ENV === 'production') return false;
  return Boolean(deps.devSignIn ?? deps.config.devSignIn);
}

/**
 * A session token as App Bridge would hand it out (HS256 with the app secret, one minute), for the
 * development sign-in and the demo only.
 */
export function mintSessionToken(config: Config, shop: string, ttlSeconds = 60): string {
  const now = Math.floor(Date.now() / 1000);
  const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({
    iss: `https://${shop}/admin`,
    dest: `https://${shop}`,
    aud: config.shopify.apiKey,
    sub: 'dev-sign-in',
    exp: now + ttlSeconds,
    nbf: now - 5,
    iat: now,
    jti: randomUUID(),
    sid: randomUUID(),
  })}`;
  return `${input}.${createHmac('sha256', config.shopify.apiSecret).update(input).digest('base64url')}`;
}

export function pageRouter(deps: PageDeps): express.Router {
  const router = express.Router();
  const { apiKey } = deps.config.shopify;

  for (const name of Object.keys(ASSETS)) {
    if (name === 'dev-bridge.js') continue;
    router.get(`/admin/${name}`, (_req, res) => {
      const a = ASSETS[name]!;
      res.type(a.type).set('Cache-Control', 'no-cache').send(a.body);
    });
  }

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

  // Development sign-in: the same page outside Shopify's admin, with session tokens minted locally.
  const devGuard: express.RequestHandler = (_req, res, next) => {
    if (!devSignInEnabled(deps)) {
      res.status(404).json({ error: 'not found' });
      return;
    }
    next();
  };
  router.get('/dev/sign-in', devGuard, (req, res) => {
    const shop = validShopDomain(req.query.shop);
    if (!shop) {
      res.status(400).type('text/plain').send('Add ?shop=<name>.myshopify.com');
      return;
    }
    sendHtml(res, shop, 200, renderShell({ apiKey, shop, dev: true }));
  });
  router.post('/dev/session-token', devGuard, (req, res) => {
    const shop = validShopDomain(req.query.shop);
    if (!shop) {
      res.status(400).json({ error: 'shop must be <name>.myshopify.com' });
      return;
    }
    res.set('Cache-Control', 'no-store').json({ token: mintSessionToken(deps.config, shop) });
  });
  router.get('/admin/dev-bridge.js', devGuard, (_req, res) => {
    const a = ASSETS['dev-bridge.js']!;
    res.type(a.type).set('Cache-Control', 'no-store').send(a.body);
  });
  return router;
}
