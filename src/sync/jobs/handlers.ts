import type { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import { adminAccessFromConfig } from '../../shopify/admin-access.js';
import type { Keys } from '../../store/keys.js';
import { type CatchUpOptions, readOrderSnapshot } from '../catch-up.js';
import { graphqlForSessions } from '../catch-up-job.js';
import type { FetchOrderSnapshot } from '../order-jobs.js';
import { handleCustomer } from './customers.js';
import { handleOrder } from './orders.js';
import { handleCustomerRedact, handleDataRequest, handleShopRedact, handleUninstalled } from './privacy.js';
import { resyncCustomer } from './resync.js';
import { catchUpJob, linkExistingJob, type ShopifyAccess } from './shopify-jobs.js';
import type { JobHandlers } from './types.js';

/**
 * The one place that says which code runs which job. Without Shopify Admin API access (tests of the sync
 * engine alone) the jobs that need it, link-existing and catch-up, are skipped as not available.
 */
export function buildJobHandlers(shopify?: ShopifyAccess): JobHandlers {
  return {
    topics: {
      'orders/paid': handleOrder,
      'orders/updated': handleOrder,
      'orders/cancelled': handleOrder,
      'orders/edited': handleOrder,
      'refunds/create': handleOrder,
      'customers/create': handleCustomer,
      'customers/update': handleCustomer,
      'app/uninstalled': handleUninstalled,
      'customers/redact': handleCustomerRedact,
      'shop/redact': handleShopRedact,
      'customers/data_request': handleDataRequest,
    },
    admin: {
      'resync-customer': resyncCustomer,
      ...(shopify ? { 'link-existing': linkExistingJob(shopify), 'catch-up': catchUpJob(shopify) } : {}),
    },
  };
}

/**
 * Every job handler for a worker built from the configuration (Admin API access in either install mode),
 * and the Admin API read of one order that a refund or an edit of a compacted order needs.
 */
export function jobsFromConfig(o: {
  config: Config;
  redis: Redis;
  keys: Keys;
  logger: Logger;
  catchUp?: CatchUpOptions;
}): { handlers: JobHandlers; fetchOrderSnapshot: FetchOrderSnapshot } {
  const access = adminAccessFromConfig(o);
  const graphqlFor = graphqlForSessions(access.shopify, access.offlineSession);
  return {
    handlers: buildJobHandlers({ ...access, catchUp: o.catchUp }),
    fetchOrderSnapshot: async (shop, orderId) => readOrderSnapshot(await graphqlFor(shop), orderId),
  };
}
