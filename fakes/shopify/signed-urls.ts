/**
 * The signatures Shopify puts on URLs it sends to an app: the `hmac` of an OAuth install/callback query, and
 * the `signature` of an app-proxy request from the storefront. Both HMAC-SHA256 with the app's API secret,
 * hex.
 */
import { createHmac } from 'node:crypto';

/**
 * An OAuth redirect's query, signed as Shopify signs it: every parameter but `hmac` written `key=value`,
 * sorted, joined with `&`, then HMAC-SHA256 (hex) appended as `hmac`.
 */
export function signedOAuthQuery(secret: string, params: Record<string, string>): string {
  const message = Object.keys(params)
    .sort((a, b) => a.localeCompare(b))
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  const hmac = createHmac('sha256', secret).update(message).digest('hex');
  return new URLSearchParams({ ...params, hmac }).toString();
}

/**
 * The `signature` Shopify adds to an app-proxy request: every other query parameter written `key=value`
 * (several values of one key joined by `,`), sorted, concatenated with no separator, then HMAC-SHA256 with
 * the app secret, hex.
 */
export function signAppProxy(secret: string, params: Record<string, string | string[]>): string {
  const message = Object.entries(params)
    .filter(([k]) => k !== 'signature')
    .map(([k, v]) => `${k}=${Array.isArray(v) ? v.join(',') : v}`)
    .sort()
    .join('');
  return createHmac('sha256', secret).update(message).digest('hex');
}

export interface AppProxyQueryOptions {
  secret: string;
  shop: string;
  /** Empty or absent: a signed-out visitor (Shopify sends the parameter empty). */
  customerId?: string;
  /** Seconds since the epoch; default now. */
  timestamp?: number;
  pathPrefix?: string;
  /** Further query parameters of the storefront URL (signed too). */
  extra?: Record<string, string | string[]>;
}

/** The query string Shopify sends with an app-proxy request, signed. */
export function appProxyQuery(o: AppProxyQueryOptions): string {
  const params: Record<string, string | string[]> = {
    ...o.extra,
    shop: o.shop,
    logged_in_customer_id: o.customerId ?? '',
    path_prefix: o.pathPrefix ?? '/apps/loyalty',
    timestamp: String(o.timestamp ?? Math.floor(Date.now() / 1000)),
  };
  const search = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    for (const one of Array.isArray(v) ? v : [v]) search.append(k, one);
  }
  search.append('signature', signAppProxy(o.secret, params));
  return search.toString();
}
