import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import { ledgerKeys } from '../sync/ledger.js';
import { pointsValue, type RedemptionRules } from './redemption-rules.js';

/**
 * A storefront redemption as Redis keeps it (see redemptions.ts for what happens to it): one hash per
 * (shop, Shopify customer, key), created once — its `appliedPoints` is moved only by the ledger's commit
 * script — and each customer's redemptions by time.
 */

type RedemptionStatus =
  | 'pending'
  | 'issued'
  | 'refused'
  | 'returning'
  | 'failed'
  | 'returned'
  | 'used'
  | 'expired';

export interface Redemption {
  ref: string;
  key: string;
  customerId: string;
  points: number;
  /** Decimal string in the currency (e.g. "5.00"). */
  value: string;
  currency: string;
  status: RedemptionStatus;
  createdAt: string;
  /** When the code ends (set when the redemption is made). */
  expiresAt: string;
  lifetimeDays: number;
  giveBack: boolean;
  code?: string;
  discountId?: string;
  itrCustomerId?: string;
  /** The balance after the points were taken (or given back). */
  balanceAfter?: number;
  /** Points the redemption holds now (−points once taken, 0 once given back). */
  applied: number;
  error?: string;
  /** What a 'returning' redemption becomes once its points are back. */
  returnTo?: 'failed' | 'returned';
}

/** A redemption's expiry is checked this long after the code ends (Shopify counts uses asynchronously). */
export const EXPIRY_GRACE_MS = 10 * 60_000;

export const redemptionRef = (customerId: string, key: string) => `${customerId}:${key}`;
export const redemptionJobId = (shop: string, ref: string, kind: 'redeem' | 'redemption-expiry') =>
  `${kind}|${encodeURIComponent(shop)}|${ref.replace(':', '|')}`;

const redemptionKeys = (keys: Keys, shop: string) => ({
  hash: (ref: string) => ledgerKeys(keys, shop).redemption(ref),
  byCustomer: (customerId: string) => keys.redemptionsOf(shop, customerId),
  expiring: keys.redemptionsExpiring(shop),
});

const CREATE = `
if redis.call('exists', KEYS[1]) == 1 then return 0 end
for i = 3, #ARGV, 2 do redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('zadd', KEYS[2], ARGV[1], ARGV[2])
return 1`;

function fromHash(ref: string, h: Record<string, string>): Redemption | undefined {
  if (!h.points) return undefined;
  return {
    ref,
    key: h.key ?? '',
    customerId: h.shopifyCustomerId ?? '',
    points: Number(h.points),
    value: h.value ?? '0',
    currency: h.currency ?? 'USD',
    status: (h.status ?? 'pending') as RedemptionStatus,
    createdAt: h.createdAt ?? '',
    expiresAt: h.expiresAt ?? '',
    lifetimeDays: Number(h.lifetimeDays ?? 30),
    giveBack: h.giveBack !== '0',
    code: h.code || undefined,
    discountId: h.discountId || undefined,
    itrCustomerId: h.itrCustomerId || undefined,
    balanceAfter: h.balanceAfter !== undefined ? Number(h.balanceAfter) : undefined,
    applied: Number(h.appliedPoints ?? 0),
    error: h.error || undefined,
    returnTo: (h.returnTo as Redemption['returnTo']) || undefined,
  };
}

export class RedemptionStore {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  k(shop: string) {
    return redemptionKeys(this.keys, shop);
  }

  async get(shop: string, ref: string): Promise<Redemption | undefined> {
    return fromHash(ref, await this.redis.hgetall(this.k(shop).hash(ref)));
  }

  /** Records a new redemption; false when one with this ref exists already. */
  async create(
    shop: string,
    r: { customerId: string; key: string; points: number; rules: RedemptionRules; itrCustomerId?: string },
  ): Promise<boolean> {
    const ref = redemptionRef(r.customerId, r.key);
    const now = Date.now();
    const fields: Record<string, string> = {
      key: r.key,
      shopifyCustomerId: r.customerId,
      points: String(r.points),
      value: pointsValue(r.points, r.rules),
      currency: r.rules.currency,
      status: 'pending',
      createdAt: new Date(now).toISOString(),
      expiresAt: new Date(now + r.rules.codeLifetimeDays * 86_400_000).toISOString(),
      lifetimeDays: String(r.rules.codeLifetimeDays),
      giveBack: r.rules.giveBackExpired ? '1' : '0',
      ...(r.itrCustomerId ? { itrCustomerId: r.itrCustomerId } : {}),
    };
    const k = this.k(shop);
    const done = await this.redis.eval(
      CREATE,
      2,
      k.hash(ref),
      k.byCustomer(r.customerId),
      String(now),
      ref,
      ...Object.entries(fields).flat(),
    );
    return done === 1;
  }

  async set(shop: string, ref: string, fields: Record<string, string | number>): Promise<void> {
    await this.redis.hset(this.k(shop).hash(ref), fields);
  }

  /** Codes by when they end (what the expiry jobs check). */
  async markExpiring(shop: string, ref: string, atMs: number): Promise<void> {
    await this.redis.zadd(this.k(shop).expiring, atMs, ref);
  }

  /** The customer's redemptions, newest first. */
  async forCustomer(shop: string, customerId: string, limit = 50): Promise<Redemption[]> {
    const refs = await this.redis.zrevrange(this.k(shop).byCustomer(customerId), 0, limit - 1);
    const out: Redemption[] = [];
    for (const ref of refs) {
      const r = await this.get(shop, ref);
      if (r) out.push(r);
    }
    return out;
  }
}
