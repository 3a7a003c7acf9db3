import { readFileSync } from 'node:fs';
import express from 'express';
import { appProxyQuery } from './signed-urls.js';
import { customerWithPoints, EXTENSION_DIR, renderBlock } from './theme.js';

/**
 * The demo's storefront preview: a stand-in for the shop's storefront in front of the app, on the demo's own
 * origin. `/preview` lists sample customers; signing in as one (a cookie of the stand-in's, as Shopify keeps
 * its own session) shows the account page with the Loyalty balance block rendered by liquidjs from the
 * demo's data (the `$app.loyalty_points` metafield as the Admin API stand-in holds it) and the extension's
 * assets. `/apps/loyalty/*` is forwarded to `/proxy/*` signed as Shopify's app proxy signs it, with the
 * signed-in customer as `logged_in_customer_id`.
 */

export interface PreviewCustomer {
  id: string;
  name: string;
  email?: string;
  points?: number;
}

export interface StorefrontPreviewOptions {
  shop: string;
  secret: string;
  /** Where the app answers (`/proxy/*`), e.g. http://127.0.0.1:3000. */
  appOrigin: () => string;
  /** Sample customers to sign in as (linked ones, with their IT Retail balance). */
  customers(): Promise<PreviewCustomer[]>;
  /** The metafield as Shopify holds it (first paint). */
  metafield(customerId: string): number | undefined;
}

const COOKIE = 'preview_customer';
const esc = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] as string,
  );

function signedIn(req: express.Request): string | undefined {
  const m = new RegExp(`(?:^|; )${COOKIE}=(\\d{1,20})`).exec(req.headers.cookie ?? '');
  return m?.[1];
}

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)} — storefront preview</title>
<link rel="stylesheet" href="/preview/assets/loyalty-balance.css">
<script src="/preview/assets/loyalty-balance.js" defer></script>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem}
nav a{margin-right:1rem} .note{color:#555;font-size:.9rem} li{margin:.3rem 0}</style>
</head><body><nav><a href="/preview">Storefront preview</a><a href="/preview/account">Account</a>
<a href="/preview/sign-out">Sign out</a></nav><main><h1>${esc(title)}</h1>${body}</main></body></html>`;
}

export function storefrontPreview(o: StorefrontPreviewOptions): express.Router {
  const router = express.Router();

  router.get('/preview', async (req, res) => {
    const who = signedIn(req);
    const list = await o.customers();
    const items = list
      .map(
        (c) =>
          `<li><a data-sign-in="${esc(c.id)}" href="/preview/sign-in?customer=${encodeURIComponent(c.id)}">Sign in as ${esc(c.name)}</a>` +
          `${c.points !== undefined ? ` <span class="note">(${c.points.toLocaleString('en-US')} points at the register)</span>` : ''}</li>`,
      )
      .join('');
    res.type('html').send(
      page(
        'Storefront preview',
        `<p>The shop's storefront as a shopper sees it: sign in as a sample customer, see the loyalty balance the
register holds, redeem points for a discount code. ${who ? `Signed in as customer ${esc(who)}.` : ''}</p>
<ul>${items || '<li>No customer is linked yet; wait a few seconds for the sample webhooks.</li>'}</ul>`,
      ),
    );
  });

  router.get('/preview/sign-in', (req, res) => {
    const id =
      typeof req.query.customer === 'string' && /^\d{1,20}$/.test(req.query.customer)
        ? req.query.customer
        : '';
    if (!id) {
      res.status(400).type('text').send('customer must be a Shopify customer id');
      return;
    }
    res.setHeader('Set-Cookie', `${COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax`);
    res.redirect('/preview/account');
  });

  router.get('/preview/sign-out', (_req, res) => {
    res.setHeader('Set-Cookie', `${COOKIE}=; Path=/; Max-Age=0`);
    res.redirect('/preview');
  });

  router.get('/preview/account', async (req, res) => {
    const who = signedIn(req);
    const customer = who ? customerWithPoints(o.metafield(who), Number(who)) : undefined;
    const block = await renderBlock({ customer });
    res.type('html').send(page('Account', block));
  });

  router.get('/preview/assets/:name', (req, res) => {
    const name = req.params.name;
    if (!/^loyalty-balance\.(js|css)$/.test(name)) {
      res.status(404).end();
      return;
    }
    res.type(name.endsWith('.js') ? 'text/javascript' : 'text/css');
    res.send(readFileSync(`${EXTENSION_DIR}assets/${name}`));
  });

  // Shopify's app proxy: /apps/loyalty/<path> → <app>/proxy/<path>, signed, with the signed-in customer.
  router.use('/apps/loyalty', express.raw({ type: () => true, limit: '16kb' }), async (req, res) => {
    const url = new URL(req.originalUrl, 'http://preview.local');
    const extra: Record<string, string> = {};
    for (const [k, v] of url.searchParams) extra[k] = v;
    const query = appProxyQuery({ secret: o.secret, shop: o.shop, customerId: signedIn(req) ?? '', extra });
    const path = url.pathname.slice('/apps/loyalty'.length) || '/';
    const body = Buffer.isBuffer(req.body) && req.body.length ? req.body : undefined;
    const answer = await fetch(`${o.appOrigin()}/proxy${path}?${query}`, {
      method: req.method,
      headers: { 'content-type': req.get('content-type') ?? 'application/json' },
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
    });
    res.status(answer.status);
    res.type(answer.headers.get('content-type') ?? 'application/json');
    res.set('Cache-Control', 'no-store');
    res.send(Buffer.from(await answer.arrayBuffer()));
  });

  return router;
}
