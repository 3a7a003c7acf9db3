import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import { metafieldKeys } from './metafields.js';

/**
 * customers/redact for the storefront's records: the customer's redemptions (their hashes and index) and
 * the metafield bookkeeping kept under the Shopify customer id (value and time written, due, refused).
 * An expiry job still queued for an erased redemption finds nothing and ends.
 */
export async function eraseStorefrontCustomer(
  redis: Redis,
  keys: Keys,
  shop: string,
  shopifyCustomerId: string,
): Promise<void> {
  const index = keys.redemptionsOf(shop, shopifyCustomerId);
  const refs = await redis.zrange(index, 0, -1);
  const m = metafieldKeys(keys, shop);
  const tx = redis.multi();
  for (const ref of refs) tx.del(keys.redemption(shop, ref));
  tx.del(index);
  tx.hdel(m.written, shopifyCustomerId);
  tx.hdel(m.dirty, shopifyCustomerId);
  tx.hdel(m.errors, shopifyCustomerId);
  await tx.exec();
}
