import type { JwtPayload, Shopify } from '@shopify/shopify-api';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from '../logger.js';
import { SHOP_DOMAIN } from '../shop-domain.js';

/** Tells App Bridge to fetch a fresh session token and repeat the request once. */
export const RETRY_INVALID_SESSION_HEADER = 'X-Shopify-Retry-Invalid-Session-Request';

const JWT_LIKE = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*/g;

interface SessionTokenLocals {
  /** The shop the token was issued for (from `dest`). */
  shop: string;
  sessionToken: JwtPayload;
}

/** The shop set by requireSessionToken; throws if the middleware did not run (a wiring mistake). */
export function shopOf(res: Response): string {
  const shop = (res.locals as Partial<SessionTokenLocals>).shop;
  if (!shop) throw new Error('requireSessionToken did not run before this handler');
  return shop;
}

/** The shop domain a session token's `dest` (`https://<shop>`) names, or null when it names none. */
function shopFromDest(dest: unknown): string | null {
  if (typeof dest !== 'string') return null;
  try {
    const host = new URL(dest).hostname.toLowerCase();
    return SHOP_DOMAIN.test(host) ? host : null;
  } catch {
    return null;
  }
}

/**
 * Verifies `Authorization: Bearer <session token>` (HS256 with the app secret, exp/nbf with the library's
 * 10 s tolerance, `aud` = API key) and sets `res.locals.shop` from `dest`. Otherwise answers
 * 401 `{error}` with the App Bridge retry header. The token never reaches a log line.
 */
export function requireSessionToken(shopify: Shopify, opts: { logger?: Logger } = {}): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const header = req.get('authorization') ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const log = (res.locals.log as Logger | undefined) ?? opts.logger;
    const deny = (error: string, reason?: string) => {
      log?.info({ reason: reason ?? error }, 'session token refused');
      res.status(401).set(RETRY_INVALID_SESSION_HEADER, '1').json({ error });
    };
    if (!match) return deny('missing session token');
    const token = match[1]!;
    let payload: JwtPayload;
    try {
      payload = await shopify.session.decodeSessionToken(token);
    } catch (err) {
      // The library's message embeds the token itself; keep only the reason.
      const reason = String((err as Error).message ?? err)
        .split(token)
        .join('[token]')
        .replace(JWT_LIKE, '[token]');
      return deny('invalid session token', reason);
    }
    const shop = shopFromDest(payload.dest);
    if (!shop) return deny('invalid session token', 'dest is not a shop domain');
    // Shopify's advice: the issuer (https://<shop>/admin) must name the same shop as the destination.
    if (shopFromDest(payload.iss) !== shop)
      return deny('invalid session token', 'iss and dest name different shops');
    res.locals.shop = shop;
    res.locals.sessionToken = payload;
    next();
  };
}
