import { z } from 'zod';
import { AppError } from './errors.js';
import { SHOP_DOMAIN } from './shop-domain.js';

/**
 * The one reader of `process.env`. Every variable the product understands is declared here, with its
 * default; `loadConfig` reports every missing or invalid variable at once, by name.
 */

const emptyToUndefined = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const optionalString = z.preprocess(emptyToUndefined, z.string().optional());
const intInRange = (min: number, max: number, def: number) =>
  z.preprocess(emptyToUndefined, z.coerce.number().int().min(min).max(max).default(def));

/** Queue shards: 12 spread evenly over 1, 2, 3, 4 or 6 cluster masters. */
export const DEFAULT_QUEUE_SHARDS = 12;

export const SHOPIFY_SCOPES_DEFAULT = 'read_customers,write_customers,read_orders,write_discounts';

export const envSchema = z
  .object({
    NODE_ENV: z.preprocess(
      emptyToUndefined,
      z.enum(['development', 'production', 'test']).default('development'),
    ),
    PORT: intInRange(0, 65535, 3000),
    HOST: z.preprocess(emptyToUndefined, z.string().default('0.0.0.0')),
    LOG_LEVEL: z.preprocess(
      emptyToUndefined,
      z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    ),

    REDIS_URL: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^rediss?:\/\//, 'must be a redis:// or rediss:// URL')
        .default('redis://127.0.0.1:6379'),
    ),
    REDIS_KEY_PREFIX: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, _ . - only')
        .default('itrb'),
    ),
    REDIS_CLUSTER_NODES: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(
          /^\s*[A-Za-z0-9.\-[\]:]+:\d{1,5}\s*(,\s*[A-Za-z0-9.\-[\]:]+:\d{1,5}\s*)*$/,
          'must be comma-separated host:port seeds',
        )
        .optional(),
    ),
    SYNC_QUEUE_SHARDS: intInRange(1, 256, DEFAULT_QUEUE_SHARDS),

    SHOPIFY_API_KEY: z.preprocess(emptyToUndefined, z.string({ error: 'is required' })),
    SHOPIFY_API_SECRET: z.preprocess(
      emptyToUndefined,
      z.string({ error: 'is required' }).min(8, 'too short'),
    ),
    SHOPIFY_APP_URL: z.preprocess(emptyToUndefined, z.url({ error: 'must be an absolute URL' })),
    SHOPIFY_API_VERSION: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^\d{4}-\d{2}$|^unstable$/, 'must look like 2026-07')
        .default('2026-07'),
    ),
    SHOPIFY_SCOPES: z.preprocess(emptyToUndefined, z.string().default(SHOPIFY_SCOPES_DEFAULT)),
    SHOPIFY_SHOP: z.preprocess(
      emptyToUndefined,
      z.string().regex(SHOP_DOMAIN, 'must be a <name>.myshopify.com domain').optional(),
    ),
    SHOPIFY_ADMIN_ACCESS_TOKEN: optionalString,

    ITRETAIL_BASE_URL: z.preprocess(
      emptyToUndefined,
      z.url({ error: 'must be an absolute URL' }).default('https://retailnext.itretail.com'),
    ),
    ITRETAIL_USERNAME: optionalString,
    ITRETAIL_PASSWORD: optionalString,
    ITRETAIL_API_TOKEN: optionalString,
    ITRETAIL_TIMEOUT_MS: intInRange(100, 300_000, 15_000),

    POINTS_PER_DOLLAR: z.preprocess(
      emptyToUndefined,
      z
        .string()
        .regex(/^\d{1,6}(\.\d{1,3})?$/, 'must be a non-negative number with at most 3 decimals')
        .default('1'),
    ),
    ENCRYPTION_KEY: z.preprocess(
      emptyToUndefined,
      z
        .string({ error: 'is required (32 bytes as 64 hex characters or base64)' })
        .refine((v) => decodeKey(v) !== null, 'must be 32 bytes as 64 hex characters or base64'),
    ),
    WORKER_CONCURRENCY: intInRange(1, 1000, 25),
    WORKER_METRICS_PORT: intInRange(0, 65535, 0),
    WEBHOOK_BODY_LIMIT_BYTES: intInRange(1024, 50 * 1024 * 1024, 2 * 1024 * 1024),
  })
  .superRefine(
    (env, ctx) => {
      if (Boolean(env.ITRETAIL_USERNAME) !== Boolean(env.ITRETAIL_PASSWORD)) {
        ctx.addIssue({
          code: 'custom',
          path: [env.ITRETAIL_USERNAME ? 'ITRETAIL_PASSWORD' : 'ITRETAIL_USERNAME'],
          message: 'ITRETAIL_USERNAME and ITRETAIL_PASSWORD must be given together',
        });
      }
      if (Boolean(env.SHOPIFY_SHOP) !== Boolean(env.SHOPIFY_ADMIN_ACCESS_TOKEN)) {
        ctx.addIssue({
          code: 'custom',
          path: [env.SHOPIFY_SHOP ? 'SHOPIFY_ADMIN_ACCESS_TOKEN' : 'SHOPIFY_SHOP'],
          message: 'SHOPIFY_SHOP and SHOPIFY_ADMIN_ACCESS_TOKEN must be given together (single-store mode)',
        });
      }
    },
    // Run even when other variables are invalid, so every problem is reported in one go.
    { when: () => true },
  );

type Env = z.infer<typeof envSchema>;

export interface ITRetailCredentials {
  kind: 'password' | 'token';
  username?: string;
  password?: string;
  token?: string;
}

export interface Config {
  nodeEnv: Env['NODE_ENV'];
  port: number;
  host: string;
  logLevel: Env['LOG_LEVEL'];
  redis: RedisConfig;
  shopify: {
    apiKey: string;
    apiSecret: string;
    appUrl: string;
    apiVersion: string;
    scopes: string[];
    /** Single-store custom-app mode: the shop and its Admin API token come from the environment. */
    singleStore?: { shop: string; accessToken: string };
  };
  itretail: {
    baseUrl: string;
    /** Credentials for shops that have none of their own. */
    defaultCredentials?: ITRetailCredentials;
    timeoutMs: number;
  };
  /** Decimal string with at most 3 decimals, e.g. "1" or "1.5". */
  pointsPerDollar: string;
  encryptionKey: Buffer;
  workerConcurrency: number;
  /** Port of a standalone worker's /metrics; 0 = none. */
  workerMetricsPort: number;
  webhookBodyLimitBytes: number;
}

export interface RedisConfig {
  /** Single Redis; with `clusterNodes`, only its scheme (rediss: = TLS), user name and password are used. */
  url: string;
  keyPrefix: string;
  /** Redis Cluster seed nodes; absent = one Redis at `url`. */
  clusterNodes?: { host: string; port: number }[];
  /** Number of sync queue shards (shops are spread over them by a stable hash of the domain). */
  queueShards: number;
}

/** `host:port,host:port` → seed list (IPv6 hosts in brackets: `[::1]:7000`). */
export function parseClusterNodes(value: string): { host: string; port: number }[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((s) => {
      const i = s.lastIndexOf(':');
      return { host: s.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(s.slice(i + 1)) };
    });
}

export class ConfigError extends AppError {
  readonly issues: { variable: string; message: string }[];
  constructor(issues: { variable: string; message: string }[]) {
    super(`Invalid configuration:\n${issues.map((i) => `  ${i.variable}: ${i.message}`).join('\n')}`, {
      code: 'CONFIG_INVALID',
    });
    this.issues = issues;
  }
}

/** Accepts a 32-byte key as 64 hex characters or as base64 (standard or URL-safe). */
function decodeKey(value: string): Buffer | null {
  const v = value.trim();
  if (/^[0-9a-fA-F]{64}$/.test(v)) return Buffer.from(v, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(v)) {
    const buf = Buffer.from(v.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
    return buf.length === 32 ? buf : null;
  }
  return null;
}

export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => ({
      variable: String(i.path[0] ?? '(environment)'),
      message: i.message,
    }));
    throw new ConfigError(issues);
  }
  const env = parsed.data;
  let defaultCredentials: ITRetailCredentials | undefined;
  if (env.ITRETAIL_API_TOKEN) defaultCredentials = { kind: 'token', token: env.ITRETAIL_API_TOKEN };
  else if (env.ITRETAIL_USERNAME && env.ITRETAIL_PASSWORD)
    defaultCredentials = {
      kind: 'password',
      username: env.ITRETAIL_USERNAME,
      password: env.ITRETAIL_PASSWORD,
    };

  return {
    nodeEnv: env.NODE_ENV,
    port: env.PORT,
    host: env.HOST,
    logLevel: env.LOG_LEVEL,
    redis: {
      url: env.REDIS_URL,
      keyPrefix: env.REDIS_KEY_PREFIX,
      clusterNodes: env.REDIS_CLUSTER_NODES ? parseClusterNodes(env.REDIS_CLUSTER_NODES) : undefined,
      queueShards: env.SYNC_QUEUE_SHARDS,
    },
    shopify: {
      apiKey: env.SHOPIFY_API_KEY,
      apiSecret: env.SHOPIFY_API_SECRET,
      appUrl: env.SHOPIFY_APP_URL.replace(/\/+$/, ''),
      apiVersion: env.SHOPIFY_API_VERSION,
      scopes: env.SHOPIFY_SCOPES.split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      singleStore:
        env.SHOPIFY_SHOP && env.SHOPIFY_ADMIN_ACCESS_TOKEN
          ? { shop: env.SHOPIFY_SHOP, accessToken: env.SHOPIFY_ADMIN_ACCESS_TOKEN }
          : undefined,
    },
    itretail: {
      baseUrl: env.ITRETAIL_BASE_URL.replace(/\/+$/, ''),
      defaultCredentials,
      timeoutMs: env.ITRETAIL_TIMEOUT_MS,
    },
    pointsPerDollar: env.POINTS_PER_DOLLAR,
    encryptionKey: decodeKey(env.ENCRYPTION_KEY)!,
    workerConcurrency: env.WORKER_CONCURRENCY,
    workerMetricsPort: env.WORKER_METRICS_PORT,
    webhookBodyLimitBytes: env.WEBHOOK_BODY_LIMIT_BYTES,
  };
}
