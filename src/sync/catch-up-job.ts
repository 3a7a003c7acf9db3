import type { Session } from '@shopify/shopify-api';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { SyncJobData } from '../queue/jobs.js';
import { adminAccessFromConfig } from '../shopify/admin-access.js';
import type { Shopify } from '../shopify/api.js';
import { type GraphqlRequest, graphqlRequestFor } from '../shopify/graphql.js';
import type { Keys } from '../store/keys.js';
import {
  type CatchUpDeps,
  type CatchUpOptions,
  readOrderSnapshot,
  runCatchUp,
  startCatchUp,
} from './catch-up.js';
import { catchUpDueKey, writeCatchUp } from './catch-up-state.js';
import type { FetchOrderSnapshot } from './order-jobs.js';
import { PermanentJobError, registerAdminJobHandler } from './processor.js';

/** The shop has no Admin API token (never opened from the Shopify admin, or uninstalled). */
class NoShopifyAccess extends PermanentJobError {
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

/**
 * Registers the 'catch-up' job with the sync worker's processor (same process). A shop without a Shopify
 * token is noted on its catch-up status, quietly: the scheduled runs would otherwise record a failure
 * every 15 minutes for a shop that simply has not opened the app yet.
 */
export function registerCatchUp(deps: Omit<CatchUpDeps, 'queue' | 'events'>): void {
  registerAdminJobHandler('catch-up', async (job, ctx) => {
    const queue = ctx.deps.queue;
    if (!queue) throw new Error('the catch-up needs the sync queue');
    try {
      const r = await runCatchUp(job, { ...deps, queue, events: ctx.deps.events });
      const reason = r.ran
        ? `Catch-up read ${r.progress.lastOrdersSeen} orders updated since the last run and queued ${r.queued}`
        : 'replaced by a newer catch-up run';
      return { status: 'skipped', reason, quiet: true };
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof NoShopifyAccess) {
        await writeCatchUp(deps.redis, deps.keys, job.data.shop, { state: 'failed', error: message });
        return { status: 'skipped', reason: message, quiet: true };
      }
      const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1) || err instanceof PermanentJobError;
      await writeCatchUp(deps.redis, deps.keys, job.data.shop, {
        state: final ? 'failed' : 'running',
        error: `Stopped: ${message}.${final ? '' : ' It continues where it stopped.'}`,
      });
      throw err;
    }
  });
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
export function scheduleCatchUp(deps: CatchUpScheduleDeps): { stop(): Promise<void> } {
  const everyMs = deps.options?.everyMs ?? 15 * 60_000;
  const checkMs = deps.checkMs ?? 60_000;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  const listShops = deps.settings.listShops?.bind(deps.settings);
  const check = async () => {
    for (const shop of (await listShops?.()) ?? []) {
      if (stopped) return;
      try {
        const s = await deps.settings.get(shop);
        if (!s.installed || s.paused) continue;
        const due = await deps.redis.set(catchUpDueKey(deps.keys, shop), 'scheduled', 'PX', everyMs, 'NX');
        if (due !== 'OK') continue;
        const { jobId, started } = await startCatchUp(deps, shop, { everyMs });
        if (started) deps.logger.debug({ shop, jobId }, 'scheduled catch-up queued');
      } catch (err) {
        deps.logger.warn({ shop, err }, 'scheduling a catch-up failed');
      }
    }
  };
  const arm = (ms: number) => {
    timer = setTimeout(() => {
      running = check()
        .catch((err) => deps.logger.warn({ err }, 'scheduling catch-ups failed'))
        .finally(() => {
          running = undefined;
          if (!stopped) arm(checkMs);
        });
    }, ms);
    timer.unref();
  };
  if (everyMs > 0 && listShops) arm(Math.min(checkMs, 2_000 + Math.random() * 3_000));
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}

/** registerCatchUp from the configuration alone (a worker process): Admin API access in either install mode. */
export function registerCatchUpFromConfig(o: {
  config: Config;
  redis: Redis;
  keys: Keys;
  logger: Logger;
  options?: CatchUpOptions;
}): { fetchOrderSnapshot: FetchOrderSnapshot } {
  const access = adminAccessFromConfig(o);
  const graphqlFor = graphqlForSessions(access.shopify, access.offlineSession);
  registerCatchUp({ ...o, graphqlFor });
  // The same Admin API access reads a compacted order back when a refund or an edit of it arrives.
  return { fetchOrderSnapshot: async (shop, orderId) => readOrderSnapshot(await graphqlFor(shop), orderId) };
}
