import { readFileSync } from 'node:fs';
import express from 'express';
import { renderShell, sendHtml } from '../../src/admin/page.js';
import type { Config } from '../../src/config.js';
import { validShopDomain } from '../../src/shop-domain.js';
import { sessionToken } from './session-token.js';

/**
 * Development sign-in, for the demo and the tests only (never mounted by the app): the embedded page outside
 * Shopify's admin, with a stand-in for App Bridge whose session tokens are minted here. Refused when
 * NODE_ENV=production even if mounted.
 *
 *   GET  /dev/sign-in?shop=…            the page (and /dev/sign-in/<section>)
 *   POST /dev/session-token?shop=…      one session token, signed with the app secret, valid one minute
 *   GET  /dev/dev-bridge.js             the App Bridge stand-in
 */

const BRIDGE = readFileSync(new URL('./dev-bridge.js', import.meta.url));
export const DEV_SIGN_IN_BASE = '/dev/sign-in';

/** A session token for the shop, as App Bridge would hand it out (one minute). */
export function mintSessionToken(config: Config, shop: string): string {
  return sessionToken({
    secret: config.shopify.apiSecret,
    apiKey: config.shopify.apiKey,
    shop,
    sub: 'dev-sign-in',
  });
}

export function devSignInAllowed(config: Config): boolean {
  return config.nodeEnv !== 'production' && process.env.NODE_ENV !== 'production';
}

export function devSignInRouter(config: Config): express.Router {
  const router = express.Router();
  router.use('/dev', (_req, res, next) => {
    if (devSignInAllowed(config)) return next();
    res.status(404).json({ error: 'not found' });
  });
  const page = (req: express.Request, res: express.Response) => {
    const shop = validShopDomain(req.query.shop);
    if (!shop) {
      res.status(400).type('text/plain').send('Add ?shop=<name>.myshopify.com');
      return;
    }
    const html = renderShell({
      apiKey: config.shopify.apiKey,
      shop,
      base: DEV_SIGN_IN_BASE,
      bridgeScript: '/dev/dev-bridge.js',
      note: 'Development sign-in: this page is not inside the Shopify admin.',
    });
    sendHtml(res, shop, 200, html);
  };
  router.get(DEV_SIGN_IN_BASE, page);
  router.get(`${DEV_SIGN_IN_BASE}/:section`, page);
  router.post('/dev/session-token', (req, res) => {
    const shop = validShopDomain(req.query.shop);
    if (!shop) {
      res.status(400).json({ error: 'shop must be <name>.myshopify.com' });
      return;
    }
    res.set('Cache-Control', 'no-store').json({ token: mintSessionToken(config, shop) });
  });
  router.get('/dev/dev-bridge.js', (_req, res) => {
    res.type('text/javascript; charset=utf-8').set('Cache-Control', 'no-store').send(BRIDGE);
  });
  return router;
}
