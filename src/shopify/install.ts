import {
  BotActivityDetected,
  CookieNotFound,
  HttpResponseError,
  InvalidHmacError,
  InvalidOAuthError,
  InvalidShopError,
  RequestedTokenType,
  Session,
  type Shopify,
} from '@shopify/shopify-api';
import express from 'express';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import { validShopDomain } from '../shop-domain.js';
import type { SessionStorage } from './session-storage.js';

/**
 * Installation and the shop's offline access token.
 *
 * Shopify-managed installation: the embedded page's session token is exchanged for an offline access
 * token the first time the shop's page calls the API (`ensureOfflineSession`). The authorization-code
 * flow (`/auth` → `/auth/callback`) is kept for installs that start outside the admin. In single-store
 * (custom-app) mode the token comes from the environment and nothing is installed.
 */

export interface InstallDeps {
  config: Config;
  logger: Logger;
  shopify: Shopify;
  sessions: SessionStorage;
  settings: { markInstalled(shop: string): Promise<void> };
}

export type InstallErrorCode = 'TOKEN_EXCHANGE_FAILED' | 'SHOP_NOT_ALLOWED';

export class InstallError extends AppError {
  declare readonly code: InstallErrorCode;
  readonly status: number;
  /** Shopify itself refused (as opposed to a token that failed our own checks). */
  readonly refusedByShopify: boolean;
  constructor(code: InstallErrorCode, status: number, message: string, refusedByShopify = false) {
    super(message, { code });
    this.status = status;
    this.refusedByShopify = refusedByShopify;
  }
}

export interface InstallService {
  /** The shop's offline session (single-store: synthesised from the environment), if it has one. */
  offlineSession(shop: string): Promise<Session | undefined>;
  /**
   * The shop's offline session, exchanging the page's session token for one when the shop has none (or
   * its token expired). Stores the session and marks the shop installed.
   */
  ensureOfflineSession(shop: string, sessionToken: string): Promise<Session>;
}

export function createInstallService(deps: InstallDeps): InstallService {
  const { config, shopify, sessions } = deps;
  const single = config.shopify.singleStore;
  const pending = new Map<string, Promise<Session>>();
  /** A refused exchange is not repeated for a short while: the page makes several calls per refresh. */
  const refused = new Map<string, { until: number; error: InstallError }>();
  const REFUSED_FOR_MS = 30_000;

  async function offlineSession(shop: string): Promise<Session | undefined> {
    if (single) {
      if (shop !== single.shop) return undefined;
      return new Session({
        id: shopify.session.getOfflineId(shop),
        shop,
        state: '',
        isOnline: false,
        accessToken: single.accessToken,
        scope: config.shopify.scopes.join(','),
      });
    }
    return sessions.loadSession(shopify.session.getOfflineId(shop));
  }

  async function ensureOfflineSession(shop: string, sessionToken: string): Promise<Session> {
    const existing = await offlineSession(shop);
    if (existing?.accessToken && !existing.isExpired()) return existing;
    if (single) {
      throw new InstallError(
        'SHOP_NOT_ALLOWED',
        403,
        `This app is set up for ${single.shop} only, not ${shop}.`,
      );
    }
    const last = refused.get(shop);
    if (last && last.until > Date.now()) throw last.error;
    // One exchange per shop at a time: the page fires several API calls at once on first load.
    let p = pending.get(shop);
    if (!p) {
      p = exchangeToken(deps, shop, sessionToken)
        .then(
          (s) => {
            refused.delete(shop);
            return s;
          },
          (err: unknown) => {
            if (err instanceof InstallError && err.refusedByShopify)
              refused.set(shop, { until: Date.now() + REFUSED_FOR_MS, error: err });
            throw err;
          },
        )
        .finally(() => pending.delete(shop));
      pending.set(shop, p);
    }
    return p;
  }

  return { offlineSession, ensureOfflineSession };
}

/** Token exchange: the shop's offline session from a session token, stored; the shop marked installed. */
async function exchangeToken(deps: InstallDeps, shop: string, sessionToken: string): Promise<Session> {
  const { shopify, sessions, settings, logger } = deps;
  try {
    const { session } = await shopify.auth.tokenExchange({
      shop,
      sessionToken,
      requestedTokenType: RequestedTokenType.OfflineAccessToken,
    });
    await sessions.storeSession(session);
    await settings.markInstalled(shop);
    logger.info({ shop }, 'offline access token obtained by token exchange');
    return session;
  } catch (err) {
    const detail = err instanceof HttpResponseError ? `Shopify answered ${err.response.code}` : describe(err);
    logger.warn({ shop, err: detail }, 'token exchange failed');
    throw new InstallError(
      'TOKEN_EXCHANGE_FAILED',
      502,
      `Could not get an access token from Shopify for ${shop} (${detail}). Reload the app from the Shopify admin; if it persists, reinstall the app.`,
      err instanceof HttpResponseError,
    );
  }
}

/** Single-store mode has no install step. */
function nothingToInstall(res: express.Response): void {
  res.status(400).type('text/plain').send('This app runs in single-store mode; there is nothing to install.');
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message.split('\n')[0]?.slice(0, 200) ?? err.name;
  return 'unknown error';
}

const AUTH_CALLBACK_PATH = '/auth/callback';

/**
 * `/auth?shop=` starts the authorization-code flow; `/auth/callback` finishes it, stores the offline
 * session, marks the shop installed and sends the merchant to the app inside the Shopify admin.
 */
export function installRouter(deps: InstallDeps): express.Router {
  const { config, shopify, sessions, settings, logger } = deps;
  const router = express.Router();

  router.get('/auth', async (req, res) => {
    if (config.shopify.singleStore) return nothingToInstall(res);
    const shop = validShopDomain(req.query.shop);
    if (!shop) {
      res
        .status(400)
        .type('text/plain')
        .send('Missing or invalid "shop" parameter: expected <name>.myshopify.com.');
      return;
    }
    try {
      await shopify.auth.begin({
        shop,
        callbackPath: AUTH_CALLBACK_PATH,
        isOnline: false,
        rawRequest: req,
        rawResponse: res,
      });
    } catch (err) {
      logger.warn({ shop, err: describe(err) }, 'auth begin failed');
      if (!res.headersSent) res.status(400).type('text/plain').send('Could not start the installation.');
    }
  });

  router.get(AUTH_CALLBACK_PATH, async (req, res) => {
    if (config.shopify.singleStore) return nothingToInstall(res);
    try {
      const { session, headers } = await shopify.auth.callback<Record<string, string | string[]>>({
        rawRequest: req,
        rawResponse: res,
      });
      await sessions.storeSession(session);
      await settings.markInstalled(session.shop);
      logger.info({ shop: session.shop }, 'app installed through the authorization-code flow');
      if (headers) for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
      const host = typeof req.query.host === 'string' ? req.query.host : undefined;
      const target = host
        ? shopify.auth.buildEmbeddedAppUrl(host)
        : `https://${session.shop}/admin/apps/${encodeURIComponent(config.shopify.apiKey)}`;
      res.redirect(target);
    } catch (err) {
      const known =
        err instanceof InvalidOAuthError ||
        err instanceof CookieNotFound ||
        err instanceof InvalidHmacError ||
        err instanceof InvalidShopError ||
        err instanceof BotActivityDetected;
      logger.warn({ err: describe(err) }, 'auth callback failed');
      if (res.headersSent) return;
      if (known) {
        res
          .status(400)
          .type('text/plain')
          .send(
            'The installation link is invalid or has expired. Start the installation again from the Shopify admin.',
          );
      } else {
        res
          .status(502)
          .type('text/plain')
          .send('Shopify did not grant an access token. Try installing again.');
      }
    }
  });

  return router;
}
