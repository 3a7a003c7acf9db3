import type { Redis } from 'ioredis';
import { AppError } from '../errors.js';
import type { CustomerRecord } from '../itretail/schemas.js';
import type { Keys } from '../store/keys.js';

/**
 * The live IT Retail balance of a signed-in Shopify customer, as the storefront shows it. The customer is
 * found by the link the worker keeps (`link:customer`, Shopify customer id → IT Retail id); the balance is
 * read with GetOne and kept in Redis for a few seconds, so a page that asks several times (account page,
 * cart drawer, a reload) costs IT Retail one call.
 */

/** How long a balance read from IT Retail is reused. */
export const BALANCE_CACHE_MS = 5_000;

export interface CustomerBalance {
  linked: boolean;
  /** Whole points (IT Retail may keep fractions; the storefront shows what can be spent). */
  points: number;
  /** When IT Retail answered (ISO 8601); absent for an unlinked customer. */
  asOf?: string;
}

export interface BalanceReaderDeps {
  redis: Redis;
  keys: Keys;
  links: { linkedByCustomer(shop: string, shopifyCustomerId: string): Promise<string | undefined> };
  /** The shop's IT Retail client, or undefined when the shop has no IT Retail connection. */
  clientFor(shop: string): Promise<{ getCustomer(id: string): Promise<CustomerRecord | null> } | undefined>;
  cacheMs?: number;
}

/** The shop has no IT Retail connection: the balance cannot be read. */
export class BalanceUnavailableError extends AppError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, { ...options, code: 'BALANCE_UNAVAILABLE' });
  }
}

export function createBalanceReader(deps: BalanceReaderDeps) {
  const cacheMs = deps.cacheMs ?? BALANCE_CACHE_MS;
  const cacheKey = (shop: string, customerId: string) => deps.keys.storefrontBalance(shop, customerId);

  /** Throws BalanceUnavailableError when IT Retail is not connected; IT Retail's own errors pass through. */
  async function balance(shop: string, shopifyCustomerId: string): Promise<CustomerBalance> {
    const itrId = await deps.links.linkedByCustomer(shop, shopifyCustomerId);
    if (!itrId) return { linked: false, points: 0 };
    const key = cacheKey(shop, shopifyCustomerId);
    const cached = await deps.redis.get(key);
    if (cached) {
      const c = JSON.parse(cached) as { id: string; points: number; asOf: string };
      // A link changed since (a re-match): the cached balance belongs to another IT Retail record.
      if (c.id === itrId) return { linked: true, points: c.points, asOf: c.asOf };
    }
    const client = await deps.clientFor(shop);
    if (!client) throw new BalanceUnavailableError('IT Retail is not connected for this shop');
    const record = await client.getCustomer(itrId);
    // The linked record is gone or deleted: the worker re-matches the customer on their next event.
    if (!record || record.Deleted === true) return { linked: false, points: 0 };
    const points = Math.max(0, Math.floor(record.LoyaltyPoints ?? 0));
    const asOf = new Date().toISOString();
    await deps.redis.set(key, JSON.stringify({ id: itrId, points, asOf }), 'PX', cacheMs);
    return { linked: true, points, asOf };
  }

  return { balance };
}

export type BalanceReader = ReturnType<typeof createBalanceReader>;
