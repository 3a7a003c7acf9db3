import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createSyncQueues, type SyncQueues } from '../queue/shards.js';
import { adminAccessFromConfig } from '../shopify/admin-access.js';
import type { GraphqlRequest } from '../shopify/graphql.js';
import { LoyaltyAdmin } from '../shopify/loyalty-documents.js';
import type { Keys } from '../store/keys.js';
import { graphqlForSessions } from '../sync/catch-up-job.js';
import { buildJobHandlers } from '../sync/jobs/handlers.js';
import type { AdminJobHandler, JobHandlers } from '../sync/jobs/types.js';
import type { MatcherOptions } from '../sync/matching.js';
import { MetafieldSync } from './metafields.js';
import { RedemptionStore, runExpiryJob, runRedeemJob } from './redemptions.js';

/**
 * The worker's storefront jobs: `metafield-sync` (the loyalty metafield, per shop), `redeem` and
 * `redemption-expiry`. Returns their handlers and the hooks startWorker takes: `onBalanceChanged` (after
 * each counted write) and the matcher's `onRefresh` (the scheduled list refresh compares balances with the
 * metafield).
 */
export interface StorefrontJobsDeps {
  redis: Redis;
  keys: Keys;
  logger?: Logger;
  graphqlFor(shop: string): Promise<GraphqlRequest>;
  queue: Pick<SyncQueues, 'forShop'>;
  /** Metafield sync window (default 250 ms). */
  metafieldDelayMs?: number;
  /** Redemption expiry check after the code's end (default 10 min). */
  expiryGraceMs?: number;
  /** Waits of THROTTLED answers and retries (tests pass a short one). */
  sleep?: (ms: number) => Promise<void>;
  /** THROTTLED answers waited out per redemption call before the code counts as not created (default 3). */
  redeemThrottleRetries?: number;
}

export function registerStorefrontJobs(d: StorefrontJobsDeps) {
  const metafields = new MetafieldSync({
    redis: d.redis,
    keys: d.keys,
    logger: d.logger,
    graphqlFor: d.graphqlFor,
    queue: d.queue,
    delayMs: d.metafieldDelayMs,
    sleep: d.sleep,
  });
  const store = new RedemptionStore(d.redis, d.keys);
  const redemptions = {
    store,
    queue: d.queue,
    expiryGraceMs: d.expiryGraceMs,
    adminFor: async (shop: string) =>
      new LoyaltyAdmin(await d.graphqlFor(shop), {
        maxThrottleRetries: d.redeemThrottleRetries ?? 3,
        sleep: d.sleep,
      }),
  };
  const handlers: Record<'metafield-sync' | 'redeem' | 'redemption-expiry', AdminJobHandler> = {
    'metafield-sync': async (job) => metafields.runJob(job.data.shop),
    redeem: (job, ctx) => runRedeemJob(redemptions, job, ctx),
    'redemption-expiry': (job, ctx) => runExpiryJob(redemptions, job, ctx),
  };
  return {
    metafields,
    redemptions,
    handlers,
    /** `base` (default: the sync engine's own) with the storefront jobs added. */
    withHandlers: (base: JobHandlers = buildJobHandlers()): JobHandlers => ({
      ...base,
      admin: { ...base.admin, ...handlers },
    }),
    onBalanceChanged: metafields.changed,
    onRefresh: metafields.refreshObserver,
  };
}

/** registerStorefrontJobs for a worker process: Admin API access from the configuration (either mode). */
export function registerStorefrontJobsFromConfig(o: {
  config: Config;
  redis: Redis;
  keys: Keys;
  logger: Logger;
  queue: Pick<SyncQueues, 'forShop'>;
}) {
  const access = adminAccessFromConfig(o);
  return registerStorefrontJobs({
    ...o,
    graphqlFor: graphqlForSessions(access.shopify, access.offlineSession),
  });
}

/**
 * Adds the storefront jobs to a worker's deps (workerDepsFromConfig's result), in place: its metafield
 * hook, its list-refresh observer and a handle on the sync queue for the jobs it queues.
 */
export function attachStorefrontJobs(
  deps: {
    redis: Redis;
    keys: Keys;
    logger: Logger;
    connection?: Redis;
    queueShards?: number;
    queue?: SyncQueues;
    matcherOptions?: MatcherOptions;
    onBalanceChanged?(shop: string): void;
    handlers?: JobHandlers;
  },
  config: Config,
) {
  const queue =
    deps.queue ?? createSyncQueues(deps.connection ?? deps.redis, deps.keys, deps.queueShards ?? 1);
  const sf = registerStorefrontJobsFromConfig({
    config,
    redis: deps.redis,
    keys: deps.keys,
    logger: deps.logger,
    queue,
  });
  deps.onBalanceChanged = sf.onBalanceChanged;
  deps.matcherOptions = { ...deps.matcherOptions, onRefresh: sf.onRefresh };
  deps.handlers = sf.withHandlers(deps.handlers);
  return sf;
}
