import express from 'express';
import type { Redis } from 'ioredis';
import type { ITRetailClient } from '../itretail/client.js';
import type { CustomerPurchases } from '../itretail/schemas.js';
import type { Logger } from '../logger.js';
import { QueueUnavailableError, withRedis } from '../queue/enqueue.js';
import type { Shopify } from '../shopify/api.js';
import { requireSessionToken, shopOf } from '../shopify/session-token.js';
import type { Keys } from '../store/keys.js';
import { metafieldKeys, metafieldWritten } from '../storefront/metafields.js';
import { RedemptionStore } from '../storefront/redemptions.js';
import { normalizeEmail } from '../sync/payloads.js';

/**
 * `GET /api/customers/storefront?email=` (session token, like every /api route): what the shopper sees and
 * spends online, for one customer of the merchant's —
 *  - `metafield`: the `$app.loyalty_points` value last written to Shopify, and when (null: never written);
 *  - `registerPurchases`: the customer's register purchases of the last 7 days from IT Retail's
 *    GetCustomerProductPurchases (one call per day, for every customer of the shop at once, cached: past days
 *    for a day, today for 5 minutes). IT Retail lists UPCs only, so an item is its UPC and how many were
 *    bought; `amount` is 0 (the answer carries no prices). null when IT Retail cannot be asked;
 *  - `redemptions`: the customer's codes, newest first.
 */

export const PURCHASE_DAYS = 7;
const TODAY_CACHE_S = 300;
const PAST_CACHE_S = 86_400;

export interface StorefrontRoutesDeps {
  redis: Redis;
  keys: Keys;
  shopify: Shopify;
  logger: Logger;
  itretail: {
    clientFor(shop: string): Promise<Pick<ITRetailClient, 'getCustomerProductPurchases'> | undefined>;
  };
  links: {
    linkedByEmail(shop: string, email: string): Promise<string | undefined>;
    indexLookup(shop: string, email: string): Promise<{ id: string; cardNo: string } | undefined>;
  };
  /** Clock for the 7-day window (tests). */
  now?: () => Date;
}

export interface StorefrontView {
  metafield: { points: number; writtenAt: string } | null;
  registerPurchases: {
    days: number;
    items: { date: string; description: string; quantity: number; amount: number }[];
  } | null;
  redemptions: {
    key: string;
    code: string;
    points: number;
    value: number;
    currency: string;
    createdAt: string;
    expiresAt: string;
    status: string;
  }[];
  message?: string;
}

const localDate = (d: Date) =>
  `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;

/** The Shopify customer linked to an IT Retail id (the metafield's owner map, else the links). */
async function shopifyCustomerOf(
  redis: Redis,
  keys: Keys,
  shop: string,
  itrId: string,
): Promise<string | undefined> {
  const k = metafieldKeys(keys, shop);
  const owner = await redis.hget(k.owner, itrId);
  if (owner) return owner;
  let cursor = '0';
  const wanted = itrId.toLowerCase();
  do {
    const [next, pairs] = await redis.hscan(k.linkCustomer, cursor, 'COUNT', 1000);
    cursor = next;
    for (let i = 0; i + 1 < pairs.length; i += 2) if (pairs[i + 1]?.toLowerCase() === wanted) return pairs[i];
  } while (cursor !== '0');
  return undefined;
}

/** One day's purchases of the shop's customers, by IT Retail id (cached in one hash per day). */
async function dayPurchases(
  deps: StorefrontRoutesDeps,
  shop: string,
  client: Pick<ITRetailClient, 'getCustomerProductPurchases'>,
  day: Date,
  today: boolean,
  itrId: string,
): Promise<string[]> {
  const key = deps.keys.registerPurchases(shop, localDate(day));
  const [cached, has] = await Promise.all([deps.redis.hget(key, itrId), deps.redis.exists(key)]);
  if (has) return cached ? (JSON.parse(cached) as string[]) : [];
  const list: CustomerPurchases[] = await client.getCustomerProductPurchases(day);
  const fields: string[] = ['_', '1'];
  for (const p of list) fields.push(p.Id.toLowerCase(), JSON.stringify(p.ProductsPurchased ?? []));
  await deps.redis
    .multi()
    .hset(key, ...fields)
    .expire(key, today ? TODAY_CACHE_S : PAST_CACHE_S)
    .exec();
  const mine = list.find((p) => p.Id.toLowerCase() === itrId.toLowerCase());
  return mine?.ProductsPurchased ?? [];
}

export async function storefrontView(
  deps: StorefrontRoutesDeps,
  shop: string,
  email: string,
): Promise<StorefrontView> {
  const itrId =
    (await deps.links.linkedByEmail(shop, email)) ?? (await deps.links.indexLookup(shop, email))?.id;
  const customer = itrId ? await shopifyCustomerOf(deps.redis, deps.keys, shop, itrId) : undefined;
  const messages: string[] = [];
  if (!itrId) messages.push('No IT Retail customer is linked to this email yet.');
  else if (!customer) messages.push('No Shopify customer is linked to this IT Retail customer yet.');
  const metafield = customer
    ? ((await metafieldWritten(deps.redis, deps.keys, shop, customer)) ?? null)
    : null;
  const redemptions = customer
    ? (await new RedemptionStore(deps.redis, deps.keys).forCustomer(shop, customer)).map((r) => ({
        key: r.key,
        code: r.code ?? '',
        points: r.points,
        value: Number(r.value),
        currency: r.currency,
        createdAt: r.createdAt,
        expiresAt: r.expiresAt,
        status: r.status,
      }))
    : [];
  let registerPurchases: StorefrontView['registerPurchases'] = null;
  if (itrId) {
    try {
      const client = await deps.itretail.clientFor(shop);
      if (!client) messages.push('IT Retail is not connected for this shop.');
      else {
        const now = deps.now?.() ?? new Date();
        const items: NonNullable<StorefrontView['registerPurchases']>['items'] = [];
        for (let i = 0; i < PURCHASE_DAYS; i++) {
          const day = new Date(now.getFullYear(), now.getMonth(), now.getDate() - i, 12);
          const upcs = await dayPurchases(deps, shop, client, day, i === 0, itrId);
          const counts = new Map<string, number>();
          for (const u of upcs) counts.set(u, (counts.get(u) ?? 0) + 1);
          for (const [upc, quantity] of counts) {
            items.push({ date: localDate(day), description: `UPC ${upc}`, quantity, amount: 0 });
          }
        }
        registerPurchases = { days: PURCHASE_DAYS, items };
      }
    } catch (err) {
      if (err instanceof QueueUnavailableError) throw err;
      deps.logger.warn({ shop, err: (err as Error).message }, 'register purchases could not be read');
      messages.push('IT Retail did not answer for the register purchases; try again in a minute.');
    }
  }
  return {
    metafield,
    registerPurchases,
    redemptions,
    ...(messages.length ? { message: messages.join(' ') } : {}),
  };
}

export function storefrontRoutes(deps: StorefrontRoutesDeps): express.Router {
  const router = express.Router();
  router.get(
    '/customers/storefront',
    requireSessionToken(deps.shopify, { logger: deps.logger }),
    async (req, res) => {
      const shop = shopOf(res);
      const email = normalizeEmail(typeof req.query.email === 'string' ? req.query.email : undefined);
      if (!email) {
        res.status(400).json({ error: 'Give a customer email address.' });
        return;
      }
      try {
        res.json(
          await withRedis(deps.redis, 'storefront view', () => storefrontView(deps, shop, email), 20_000),
        );
      } catch (err) {
        if (err instanceof QueueUnavailableError) {
          res
            .status(503)
            .json({ error: 'The app cannot reach its database right now. Try again in a minute.' });
          return;
        }
        throw err;
      }
    },
  );
  return router;
}
