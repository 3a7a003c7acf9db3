/**
 * Session tokens as Shopify's App Bridge hands them to an embedded app: an HS256 JWT signed with the app's
 * API secret, with the claims Shopify sets (iss = the shop's admin, dest = the shop, aud = the app's API
 * key, one minute of life).
 */
import { createHmac, randomUUID } from 'node:crypto';

export interface SessionTokenOptions {
  secret: string;
  apiKey: string;
  shop: string;
  /** Seconds since the epoch; default now + 60 (tokens live one minute). */
  exp?: number;
  nbf?: number;
  iat?: number;
  /** Default: apiKey. */
  aud?: string;
  /** Default: https://<shop>/admin */
  iss?: string;
  /** Default: https://<shop> */
  dest?: string;
  sub?: string;
}

const b64url = (v: string | Buffer) => Buffer.from(v).toString('base64url');

/** An App Bridge session token: HS256 JWT signed with the app secret, claims as Shopify sets them. */
export function sessionToken(o: SessionTokenOptions): string {
  const now = Math.floor(Date.now() / 1000);
  const header = { alg: 'HS256', typ: 'JWT' };
  const payload = {
    iss: o.iss ?? `https://${o.shop}/admin`,
    dest: o.dest ?? `https://${o.shop}`,
    aud: o.aud ?? o.apiKey,
    sub: o.sub ?? '42',
    exp: o.exp ?? now + 60,
    nbf: o.nbf ?? now - 5,
    iat: o.iat ?? now - 5,
    jti: randomUUID(),
    sid: randomUUID(),
  };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const signature = createHmac('sha256', o.secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

/** The claims of a session token (unverified), e.g. to see which shop a token exchange is for. */
export function sessionTokenClaims(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? '';
  try {
    return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}
