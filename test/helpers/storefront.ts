import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { signAppProxy } from '../../fakes/shopify/signed-urls.js';
import { EXTENSION_DIR } from './theme.js';

/**
 * A stand-in for a Shopify storefront in front of the app: it serves pages (the theme's HTML), the theme
 * app extension's assets, and forwards `/apps/loyalty/<path>` to `<app>/proxy/<path>` as Shopify's app
 * proxy does — the visitor's query plus `shop`, `logged_in_customer_id` (empty when signed out),
 * `path_prefix`, `timestamp` and `signature`; cookies are not passed on either way. Who is signed in is
 * the stand-in's state (signIn / signOut), as Shopify knows it from its own session.
 */

export interface ProxiedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  body: string;
}

export interface StorefrontOptions {
  appOrigin: string;
  shop: string;
  secret: string;
  /** The signed-in customer's Shopify id; undefined for a signed-out visitor (see signIn / signOut). */
  customerId?: string;
  /** Page HTML by path (the theme's rendered page), given the signed-in customer's id, if any. */
  pages: Record<string, (customerId: string | undefined) => Promise<string> | string>;
}

const PROXY_PREFIX = '/apps/loyalty';

export async function startStorefront(o: StorefrontOptions) {
  const proxied: ProxiedRequest[] = [];
  let customerId = o.customerId;

  async function forward(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Buffer) {
    const params: Record<string, string> = {
      ...Object.fromEntries(url.searchParams),
      shop: o.shop,
      logged_in_customer_id: customerId ?? '',
      path_prefix: PROXY_PREFIX,
      timestamp: String(Math.floor(Date.now() / 1000)),
    };
    const path = url.pathname.slice(PROXY_PREFIX.length) || '/';
    proxied.push({ method: req.method ?? 'GET', path, query: params, body: body.toString('utf8') });
    const query = new URLSearchParams({ ...params, signature: signAppProxy(o.secret, params) });
    const answer = await fetch(`${o.appOrigin}/proxy${path}?${query}`, {
      method: req.method,
      headers: { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' },
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
    });
    res.writeHead(answer.status, {
      'content-type': answer.headers.get('content-type') ?? 'text/plain',
      'cache-control': answer.headers.get('cache-control') ?? 'no-store',
    });
    res.end(Buffer.from(await answer.arrayBuffer()));
  }

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const url = new URL(req.url ?? '/', 'http://storefront.test');
        if (url.pathname.startsWith(`${PROXY_PREFIX}/`)) {
          await forward(req, res, url, Buffer.concat(chunks));
          return;
        }
        if (url.pathname.startsWith('/assets/')) {
          const name = url.pathname.slice('/assets/'.length);
          if (!/^[\w.-]+$/.test(name)) throw new Error('bad asset name');
          const type = name.endsWith('.js') ? 'text/javascript' : 'text/css';
          res.writeHead(200, { 'content-type': type });
          res.end(readFileSync(`${EXTENSION_DIR}assets/${name}`));
          return;
        }
        const page = o.pages[url.pathname];
        if (!page) {
          res.writeHead(404, { 'content-type': 'text/plain' });
          res.end('not found');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(await page(customerId));
      } catch (err) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(String(err));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    proxied,
    /** The visitor signs in as this Shopify customer (Shopify's own session; no cookie reaches the app). */
    signIn(id: string) {
      customerId = id;
    },
    signOut() {
      customerId = undefined;
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

/** A theme page around one rendered block, loading the extension's assets as Shopify injects them. */
export function themePage(blockHtml: string, title = 'Account'): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<link rel="stylesheet" href="/assets/loyalty-balance.css">
<script src="/assets/loyalty-balance.js" defer></script>
</head><body><main><h1>${title}</h1>${blockHtml}</main></body></html>`;
}
