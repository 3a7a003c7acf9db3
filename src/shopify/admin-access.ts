import type { Session } from '@shopify/shopify-api';
import type { Redis } from 'ioredis';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { Keys } from '../store/keys.js';
import { createShopify, type Shopify } from './api.js';
import { createInstallService } from './install.js';
import { RedisSessionStorage } from './session-storage.js';

/**
 * Admin API access for a worker process that has no web deps: the Shopify library instance and each shop's
 * offline session — read from session storage, or in single-store mode made from SHOPIFY_SHOP and
 * SHOPIFY_ADMIN_ACCESS_TOKEN.
 */
export function adminAccessFromConfig(o: { config: Config; redis: Redis; keys: Keys; logger: Logger }): {
  shopify: Shopify;
  offlineSession(shop: string): Promise<Session | undefined>;
} {
  const shopify = createShopify(o.config, { logger: o.logger });
  const sessions = new RedisSessionStorage(o.redis, o.keys, o.config.encryptionKey);
  const install = createInstallService({
    config: o.config,
    logger: o.logger,
    shopify,
    sessions,
    settings: { markInstalled: async () => undefined },
  });
  return { shopify, offlineSession: (shop) => install.offlineSession(shop) };
}
