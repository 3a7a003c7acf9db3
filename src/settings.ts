import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Config, ITRetailCredentials } from './config.js';
import { decrypt, encrypt } from './crypto.js';
import type { Keys } from './store/keys.js';
import { evalScript, hashFromPairs } from './store/redis.js';
import {
  applyRedemptionPatch,
  type RedemptionRules,
  readRedemptionRules,
  redemptionPatchSchema,
} from './storefront/redemption-rules.js';
import { DEFAULT_POINTS_RULES, type PointsRules } from './sync/points.js';

/** Default retention horizon: an order's facts are kept this many days after its last change. */
const DEFAULT_ORDER_RETENTION_DAYS = 400;

/** Per-shop settings and install state. Credentials are stored encrypted and never leave the server. */
export interface ShopSettings {
  pointsPerDollar: string;
  includeTestOrders: boolean;
  /** What earns points (tax in tax-inclusive shops, gift cards, shipping); fixed for an order when paid. */
  pointsRules: PointsRules;
  /** Days after an order's last change before its facts are compacted to a small ledger (retention.ts). */
  orderRetentionDays: number;
  paused: boolean;
  /** How shoppers turn points into discount codes (src/storefront/redemption-rules.ts). */
  redemption: RedemptionRules;
  itretail?: { baseUrl?: string; credentials: ITRetailCredentials };
  installed: boolean;
  uninstalledAt?: string;
  /** Set once shop/redact erased the shop's data (until it is installed again). */
  erasedAt?: string;
  updatedAt?: string;
}

export type PublicSettings = Omit<ShopSettings, 'itretail'> & {
  itretail: {
    configured: boolean;
    source: 'shop' | 'environment' | 'none';
    username?: string;
    baseUrl?: string;
  };
};

const rate = z
  .union([z.string(), z.number()])
  .transform((v) => String(v).trim())
  .refine((v) => /^\d{1,4}(\.\d{1,3})?$/.test(v), 'must be a number from 0 to 9999 with at most 3 decimals')
  .transform((v) => normalizeDecimal(v));

/**
 * The IT Retail base URL a merchant types is fetched by our servers, so it must not point them at internal
 * addresses: https only, and no loopback, private or link-local host — except, outside production, an
 * http(s) loopback address (the simulator in development and tests).
 */
export function baseUrlProblem(value: string, allowLoopback: boolean): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return 'must be a URL such as https://retailnext.itretail.com';
  }
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const loopback = host === 'localhost' || /^127\./.test(host) || host === '::1';
  if (loopback) return allowLoopback ? undefined : 'must not point at this server';
  if (u.protocol !== 'https:') return 'must be an https:// URL';
  const internal =
    /^(10\.|192\.168\.|169\.254\.|0\.|172\.(1[6-9]|2\d|3[01])\.)/.test(host) ||
    /^(f[cd][0-9a-f]{2}:|fe80:)/.test(host) ||
    host.endsWith('.local') ||
    host.endsWith('.internal') ||
    !host.includes('.');
  if (internal) return 'must be a public address of IT Retail';
  if (u.username || u.password) return 'must not contain a user name or password';
  return undefined;
}

export interface SettingsPolicy {
  /** Accept loopback base URLs (development and tests; never in production). */
  allowLoopbackBaseUrl: boolean;
}

function baseUrlSchema(policy: SettingsPolicy) {
  return z
    .string()
    .trim()
    .superRefine((v, ctx) => {
      const problem = baseUrlProblem(v, policy.allowLoopbackBaseUrl);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .transform((v) => v.replace(/\/+$/, ''));
}

export function itretailSettingsSchemaFor(policy: SettingsPolicy) {
  const baseUrl = baseUrlSchema(policy);
  return z.union([
    z.strictObject({
      baseUrl: baseUrl.optional(),
      username: z.string().trim().min(1, 'is required').max(200),
      password: z.string().min(1, 'is required').max(500),
    }),
    z.strictObject({
      baseUrl: baseUrl.optional(),
      token: z.string().trim().min(10, 'looks too short for an IT Retail token').max(5000),
    }),
  ]);
}

export function settingsPatchSchemaFor(policy: SettingsPolicy) {
  return z.strictObject({
    pointsPerDollar: rate.optional(),
    includeTestOrders: z.boolean({ error: 'must be true or false' }).optional(),
    paused: z.boolean({ error: 'must be true or false' }).optional(),
    /** Only the fields sent change; how they fit together is checked against the saved rules on update. */
    redemption: redemptionPatchSchema.optional(),
    excludeTax: z.boolean({ error: 'must be true or false' }).optional(),
    excludeGiftCards: z.boolean({ error: 'must be true or false' }).optional(),
    includeShipping: z.boolean({ error: 'must be true or false' }).optional(),
    orderRetentionDays: z
      .number({ error: 'must be a whole number of days' })
      .int('must be a whole number of days')
      .min(1, 'must be at least 1 day')
      .max(3650, 'must be at most 3650 days')
      .optional(),
    /** null removes the shop's own credentials (the environment's are used, if any). */
    itretail: itretailSettingsSchemaFor(policy).nullable().optional(),
  });
}

/** The production policy: no loopback base URLs. */
export const itretailSettingsSchema = itretailSettingsSchemaFor({ allowLoopbackBaseUrl: false });
export const settingsPatchSchema = settingsPatchSchemaFor({ allowLoopbackBaseUrl: false });
export type SettingsPatch = z.infer<typeof settingsPatchSchema>;

const flag = (v: string | undefined, dflt: boolean) => (v === undefined ? dflt : v === '1');

function normalizeDecimal(v: string): string {
  const [i = '0', f = ''] = v.split('.');
  const int = i.replace(/^0+(?=\d)/, '');
  const frac = f.replace(/0+$/, '');
  return frac ? `${int}.${frac}` : int;
}

/**
 * KEYS: settings hash. ARGV: install moment (ms), '1' to require it to be later than the recorded
 * uninstall. installedAtMs only ever moves forward. (The caller lists the shop in the registry first.)
 */
const MARK_INSTALLED = `
local at = tonumber(ARGV[1])
if ARGV[2] == '1' then
  local u = tonumber(redis.call('hget', KEYS[1], 'uninstalledAtMs') or '')
  if u and at <= u then return 0 end
end
local cur = tonumber(redis.call('hget', KEYS[1], 'installedAtMs') or '')
if not cur or at > cur then redis.call('hset', KEYS[1], 'installedAtMs', ARGV[1]) end
redis.call('hset', KEYS[1], 'installed', '1')
redis.call('hdel', KEYS[1], 'uninstalledAt', 'uninstalledAtMs', 'erasedAt')
return 1`;

/**
 * KEYS: settings hash. ARGV: uninstall moment (ms), the same as ISO 8601. Ignored (0)
 * when the last install is later; an earlier uninstall never replaces a later one.
 */
const MARK_UNINSTALLED = `
local at = tonumber(ARGV[1])
local inst = tonumber(redis.call('hget', KEYS[1], 'installedAtMs') or '')
if inst and inst > at then return 0 end
local u = tonumber(redis.call('hget', KEYS[1], 'uninstalledAtMs') or '')
if redis.call('hget', KEYS[1], 'installed') == '0' and u and u >= at then
  return 1
end
redis.call('hset', KEYS[1], 'installed', '0', 'uninstalledAt', ARGV[2], 'uninstalledAtMs', ARGV[1])
return 1`;

/**
 * A digest of a shop's settings hash as stored (fields and values by name: any write by anyone changes it),
 * computed in Redis by `readForJob` and by the order lock's script, which compares it with the digest of
 * the settings the worker holds before it merges or locks anything.
 */
export const SETTINGS_DIGEST_LUA = `local function settingsDigest(pairs)
  local names, value, sorted = {}, {}, {}
  for i = 1, #pairs, 2 do names[#names + 1] = pairs[i]; value[pairs[i]] = pairs[i + 1] end
  table.sort(names)
  for _, n in ipairs(names) do sorted[#sorted + 1] = n; sorted[#sorted + 1] = value[n] end
  return redis.sha1hex(cjson.encode(sorted))
end`;

/** KEYS: settings hash, another key of the shop. Returns the hash's pairs, its digest, the other key's PTTL. */
const READ_FOR_JOB = `${SETTINGS_DIGEST_LUA}
local h = redis.call('hgetall', KEYS[1])
return { h, settingsDigest(h), redis.call('pttl', KEYS[2]) }`;

/** `digest`: see SETTINGS_DIGEST_LUA. */
export type SettingsForJob = { settings: ShopSettings; digest: string; pttl: number };

/** The settings store as the configuration asks for it (web and worker build it the same way). */
export function settingsStoreFromConfig(redis: Redis, keys: Keys, config: Config): SettingsStore {
  return new SettingsStore(redis, keys, config.encryptionKey, {
    allowLoopbackBaseUrl: config.nodeEnv !== 'production',
    pointsPerDollar: config.pointsPerDollar,
    environmentCredentials: Boolean(config.itretail.defaultCredentials),
    environmentCredentialsOnlyFor: config.shopify.singleStore?.shop,
  });
}

export class SettingsStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly encryptionKey: Buffer,
    private readonly defaults: {
      pointsPerDollar: string;
      environmentCredentials?: boolean;
      /** Single-store mode: the environment's credentials serve this shop only. */
      environmentCredentialsOnlyFor?: string;
      /** Accept loopback IT Retail base URLs (development and tests only). Default false. */
      allowLoopbackBaseUrl?: boolean;
    },
  ) {
    this.patchSchema = settingsPatchSchemaFor({
      allowLoopbackBaseUrl: defaults.allowLoopbackBaseUrl ?? false,
    });
  }

  private readonly patchSchema: ReturnType<typeof settingsPatchSchemaFor>;

  private key(shop: string) {
    return this.keys.settings(shop);
  }

  async get(shop: string): Promise<ShopSettings> {
    return this.fromHash(await this.redis.hgetall(this.key(shop)));
  }

  /**
   * What a job reads before its work, in one round trip: the settings, their digest (SETTINGS_DIGEST_LUA:
   * the order lock's script compares it, so a worker may keep these settings while the digest holds) and
   * the PTTL of another key of the shop (same hash slot; the IT Retail throttle).
   */
  async readForJob(shop: string, key: string): Promise<SettingsForJob> {
    const [pairs, digest, pttl] = (await evalScript(this.redis, READ_FOR_JOB, 2, this.key(shop), key)) as [
      string[],
      string,
      number,
    ];
    return { settings: this.fromHash(hashFromPairs(pairs)), digest, pttl };
  }

  private fromHash(h: Record<string, string>): ShopSettings {
    const settings: ShopSettings = {
      pointsPerDollar: h.pointsPerDollar ?? this.defaults.pointsPerDollar,
      includeTestOrders: h.includeTestOrders === '1',
      pointsRules: {
        excludeTax: flag(h.excludeTax, DEFAULT_POINTS_RULES.excludeTax),
        excludeGiftCards: flag(h.excludeGiftCards, DEFAULT_POINTS_RULES.excludeGiftCards),
        includeShipping: flag(h.includeShipping, DEFAULT_POINTS_RULES.includeShipping),
      },
      orderRetentionDays: Number(h.orderRetentionDays) || DEFAULT_ORDER_RETENTION_DAYS,
      paused: h.paused === '1',
      redemption: readRedemptionRules(h.redemption),
      installed: h.installed !== '0',
      uninstalledAt: h.uninstalledAt || undefined,
      updatedAt: h.updatedAt || undefined,
      erasedAt: h.erasedAt || undefined,
    };
    if (h.itretailCredentials) {
      const creds = JSON.parse(decrypt(this.encryptionKey, h.itretailCredentials)) as ITRetailCredentials;
      settings.itretail = { baseUrl: h.itretailBaseUrl || undefined, credentials: creds };
    }
    return settings;
  }

  /**
   * Throws a ZodError for invalid input (including redemption rules that do not fit together once the
   * patch is applied to the saved ones); nothing is saved then.
   */
  async update(shop: string, patch: SettingsPatch): Promise<ShopSettings> {
    const p = this.patchSchema.parse(patch);
    const fields: Record<string, string> = { updatedAt: new Date().toISOString() };
    if (p.redemption !== undefined) {
      const current = readRedemptionRules((await this.redis.hget(this.key(shop), 'redemption')) ?? undefined);
      fields.redemption = JSON.stringify(applyRedemptionPatch(current, p.redemption));
    }
    const remove: string[] = [];
    if (p.pointsPerDollar !== undefined) fields.pointsPerDollar = p.pointsPerDollar;
    if (p.includeTestOrders !== undefined) fields.includeTestOrders = p.includeTestOrders ? '1' : '0';
    if (p.paused !== undefined) fields.paused = p.paused ? '1' : '0';
    for (const f of ['excludeTax', 'excludeGiftCards', 'includeShipping'] as const) {
      const v = p[f];
      if (v !== undefined) fields[f] = v ? '1' : '0';
    }
    if (p.orderRetentionDays !== undefined) fields.orderRetentionDays = String(p.orderRetentionDays);
    if (p.itretail === null) remove.push('itretailCredentials', 'itretailBaseUrl');
    else if (p.itretail) {
      const creds: ITRetailCredentials =
        'token' in p.itretail
          ? { kind: 'token', token: p.itretail.token }
          : { kind: 'password', username: p.itretail.username, password: p.itretail.password };
      fields.itretailCredentials = encrypt(this.encryptionKey, JSON.stringify(creds));
      if (p.itretail.baseUrl) fields.itretailBaseUrl = p.itretail.baseUrl;
      else remove.push('itretailBaseUrl');
    }
    // The shop registry is a key of its own (another hash slot on a cluster): listed first, then changed.
    await this.remember(shop);
    const tx = this.redis.multi().hset(this.key(shop), fields);
    if (remove.length) tx.hdel(this.key(shop), ...remove);
    await tx.exec();
    return this.get(shop);
  }

  async publicView(shop: string): Promise<PublicSettings> {
    const { itretail, ...rest } = await this.get(shop);
    const only = this.defaults.environmentCredentialsOnlyFor;
    const fromEnvironment = this.defaults.environmentCredentials && (!only || only === shop);
    const source = itretail ? 'shop' : fromEnvironment ? 'environment' : 'none';
    return {
      ...rest,
      itretail: {
        configured: source !== 'none',
        source,
        username: itretail?.credentials.kind === 'password' ? itretail.credentials.username : undefined,
        baseUrl: itretail?.baseUrl,
      },
    };
  }

  /**
   * Marks the shop installed as of `atMs` (default now) and remembers the latest install moment, so an
   * app/uninstalled triggered before it is recognised as stale. With `ifAfterUninstall` (a webhook triggered
   * after the uninstall proves the app is installed again) nothing changes unless `atMs` is later than the
   * recorded uninstall.
   */
  async markInstalled(
    shop: string,
    atMs: number = Date.now(),
    opts: { ifAfterUninstall?: boolean } = {},
  ): Promise<void> {
    await this.remember(shop);
    await this.redis.eval(
      MARK_INSTALLED,
      1,
      this.key(shop),
      String(Math.trunc(atMs)),
      opts.ifAfterUninstall ? '1' : '0',
    );
  }

  /**
   * Marks the shop uninstalled as of `atMs` (the app/uninstalled webhook's trigger time; default now).
   * Returns false, changing nothing, when the shop was installed after that moment (a late webhook).
   */
  async markUninstalled(shop: string, atMs: number = Date.now()): Promise<boolean> {
    const at = Math.trunc(atMs);
    await this.remember(shop);
    const r = await this.redis.eval(
      MARK_UNINSTALLED,
      1,
      this.key(shop),
      String(at),
      new Date(at).toISOString(),
    );
    return r === 1;
  }

  /** Adds a shop to the known shops (those the scheduled jobs visit) without changing its state. */
  async remember(shop: string): Promise<void> {
    await this.redis.sadd(this.keys.shops(), shop);
  }

  async listShops(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.shops())).sort();
  }

  /**
   * Forgets the shop's settings (shop/redact), leaving only the fact that it was erased and when, so a job
   * still queued for it (triggered before the erasure) reads it as uninstalled and writes nothing. A later
   * install (or a webhook triggered after the erasure, which proves one) clears the mark.
   */
  async erase(shop: string, atMs: number = Date.now()): Promise<void> {
    const at = new Date(atMs).toISOString();
    await this.redis
      .multi()
      .del(this.key(shop))
      .hset(this.key(shop), {
        installed: '0',
        uninstalledAt: at,
        uninstalledAtMs: String(atMs),
        erasedAt: at,
      })
      .exec();
    // The shop registry is a key of its own (another hash slot on a cluster).
    await this.redis.srem(this.keys.shops(), shop);
  }
}
