import type { Session } from '@shopify/shopify-api';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { PermanentJobError } from '../errors.js';
import type { SyncJobData } from '../queue/jobs.js';
import type { Shopify } from '../shopify/api.js';
import { type GraphqlRequest, graphqlRequestFor } from '../shopify/graphql.js';
import type { Keys } from '../store/keys.js';
import { type CatchUpOptions, startCatchUp } from './catch-up.js';
import { type Chore, eachShopPeriodically, noChore } from './periodic.js';

/** The shop has no Admin API token (never opened from the Shopify admin, or uninstalled). */
export class NoShopifyAccess extends PermanentJobError {
  constructor() {
    super(
      'The app has no Shopify access token for this shop: open the app once from the Shopify admin.',
      'SHOPIFY_TOKEN',
    );
  }
}

/** GraphQL access through the shop's offline session (either install mode: see adminAccessFromConfig). */
export function graphqlForSessions(
  shopify: Shopify,
  offlineSession: (shop: string) => Promise<Session | undefined>,
): (shop: string) => Promise<GraphqlRequest> {
  return async (shop) => {
    const session = await offlineSession(shop);
    if (!session?.accessToken) throw new NoShopifyAccess();
    return graphqlRequestFor(shopify, session);
  };
}

export interface CatchUpScheduleDeps {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  queue: Pick<Queue<SyncJobData>, 'add' | 'getJob'>;
  settings: {
    get(shop: string): Promise<{ installed: boolean; paused: boolean }>;
    listShops?(): Promise<string[]>;
  };
  options?: CatchUpOptions;
  /** How often each worker looks for shops whose run is due (default 60 s). */
  checkMs?: number;
}

/**
 * Every `checkMs` (first check a few seconds after start, so a restart after downtime catches up at once):
 * queues a run for each installed, unpaused shop whose last scheduled run was queued more than `everyMs`
 * ago. A key with that TTL per shop (SET NX) lets one worker of many queue it. A shop that was paused is
 * due again as soon as it is resumed, once its period has passed.
 */
export function scheduleCatchUp(deps: CatchUpScheduleDeps): Chore {
  const everyMs = deps.options?.everyMs ?? 15 * 60_000;
  const checkMs = deps.checkMs ?? 60_000;
  if (everyMs <= 0) return noChore;
  return eachShopPeriodically({
    everyMs: checkMs,
    firstMs: Math.min(checkMs, 2_000 + Math.random() * 3_000),
    listShops: deps.settings.listShops?.bind(deps.settings),
    onError: (err) => deps.logger.warn({ err }, 'scheduling catch-ups failed'),
    async visit(shop) {
      try {
        const s = await deps.settings.get(shop);
        if (!s.installed || s.paused) return;
        const due = await deps.redis.set(deps.keys.catchUpDue(shop), 'scheduled', 'PX', everyMs, 'NX');
        if (due !== 'OK') return;
        const { jobId, started } = await startCatchUp(deps, shop, { everyMs });
        if (started) deps.logger.debug({ shop, jobId }, 'scheduled catch-up queued');
      } catch (err) {
        deps.logger.warn({ shop, err }, 'scheduling a catch-up failed');
      }
    },
  });
}
