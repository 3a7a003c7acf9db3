import { createHmac, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { redisEnv } from './redis.js';

/** Base64 HMAC-SHA256 of the exact body bytes, keyed with the app's API secret — as Shopify signs webhooks. */
export function signWebhook(secret: string, body: string | Buffer): string {
  return createHmac('sha256', secret).update(body).digest('base64');
}

export interface WebhookHeaderOptions {
  topic: string;
  shop: string;
  secret: string;
  body: string | Buffer;
  eventId?: string;
  webhookId?: string;
  apiVersion?: string;
  triggeredAt?: string;
}

/** The headers Shopify sends with a webhook delivery (fresh ids unless given). */
export function webhookHeaders(o: WebhookHeaderOptions): Record<string, string> {
  return {
    'Content-Type': 'application/json',
    'X-Shopify-Hmac-Sha256': signWebhook(o.secret, o.body),
    'X-Shopify-Topic': o.topic,
    'X-Shopify-Shop-Domain': o.shop,
    'X-Shopify-API-Version': o.apiVersion ?? '2026-07',
    'X-Shopify-Webhook-Id': o.webhookId ?? randomUUID(),
    'X-Shopify-Event-Id': o.eventId ?? randomUUID(),
    'X-Shopify-Triggered-At': o.triggeredAt ?? new Date().toISOString(),
  };
}

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

const FIXTURES = new URL('../fixtures/shopify/', import.meta.url);

/** A sample payload from test/fixtures/shopify/<name>.json, as the raw text Shopify would send. */
export function fixtureText(name: string): string {
  return readFileSync(new URL(`${name}.json`, FIXTURES), 'utf8');
}

/** A sample payload, parsed. */
export function fixture<T = Record<string, unknown>>(name: string): T {
  return JSON.parse(fixtureText(name)) as T;
}

/** Environment for loadConfig in tests: fixed Shopify app credentials, a throwaway encryption key. */
export const TEST_APP = {
  apiKey: 'test-api-key-0123456789abcdef',
  apiSecret: 'test-api-secret-0123456789abcdef',
  appUrl: 'https://bridge.example.test',
  encryptionKey: '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff',
} as const;

export function testEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    SHOPIFY_API_KEY: TEST_APP.apiKey,
    SHOPIFY_API_SECRET: TEST_APP.apiSecret,
    SHOPIFY_APP_URL: TEST_APP.appUrl,
    ENCRYPTION_KEY: TEST_APP.encryptionKey,
    ...redisEnv(),
    ...extra,
  };
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
