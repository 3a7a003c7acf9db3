import type { Session } from '@shopify/shopify-api';
import { runLinkExisting, summaryOf } from '../../admin/link-existing.js';
import { AppError, PermanentJobError } from '../../errors.js';
import type { Shopify } from '../../shopify/api.js';
import { graphqlRequestFor } from '../../shopify/graphql.js';
import { type CatchUpOptions, runCatchUp } from '../catch-up.js';
import { graphqlForSessions, NoShopifyAccess } from '../catch-up-job.js';
import { writeCatchUp } from '../catch-up-state.js';
import type { AdminJobHandler } from './types.js';

/** The admin jobs that read the shop through Shopify's Admin API, with the shop's offline session. */

export interface ShopifyAccess {
  shopify: Shopify;
  offlineSession(shop: string): Promise<Session | undefined>;
  /** The catch-up's tuning (tests shorten it). */
  catchUp?: CatchUpOptions;
}

/**
 * 'link-existing': the processor supplies the shop's IT Retail client and the matcher, and records the job's
 * outcome; Shopify access comes through the shop's offline session.
 */
export function linkExistingJob(access: ShopifyAccess): AdminJobHandler {
  return async (job, ctx) => {
    const progress = await runLinkExisting(job, {
      redis: ctx.deps.redis,
      keys: ctx.deps.keys,
      logger: ctx.deps.logger,
      events: ctx.deps.events,
      recordSummary: false,
      matcher: ctx.matcher,
      clientFor: async () => ctx.client(),
      graphqlFor: async (shop) => {
        const session = await access.offlineSession(shop);
        if (!session?.accessToken) {
          throw new PermanentJobError(
            'The app has no Shopify access token for this shop: open the app once from the Shopify admin, then start again.',
            'SHOPIFY_TOKEN',
          );
        }
        return graphqlRequestFor(access.shopify, session);
      },
    });
    return { status: 'applied', reason: summaryOf(progress) };
  };
}

/**
 * 'catch-up': one run of reading the orders Shopify changed since the last one. A shop without a Shopify
 * token is noted on its catch-up status, quietly: the scheduled runs would otherwise record a failure every
 * 15 minutes for a shop that simply has not opened the app yet.
 */
export function catchUpJob(access: ShopifyAccess): AdminJobHandler {
  const graphqlFor = graphqlForSessions(access.shopify, access.offlineSession);
  return async (job, ctx) => {
    const { redis, keys, logger, events, queue } = ctx.deps;
    if (!queue) throw new Error('the catch-up needs the sync queue');
    try {
      const r = await runCatchUp(job, {
        redis,
        keys,
        logger,
        queue,
        events,
        graphqlFor,
        options: access.catchUp,
      });
      const reason = r.ran
        ? `Catch-up read ${r.progress.lastOrdersSeen} orders updated since the last run and queued ${r.queued}`
        : 'replaced by a newer catch-up run';
      return { status: 'skipped', reason, quiet: true };
    } catch (err) {
      const message = (err as Error).message;
      if (err instanceof NoShopifyAccess) {
        await writeCatchUp(redis, keys, job.data.shop, { state: 'failed', error: message });
        return { status: 'skipped', reason: message, quiet: true };
      }
      // The same test as the error policy's: an error no retry can fix ends the run now.
      const final =
        job.attemptsMade + 1 >= (job.opts.attempts ?? 1) || (err instanceof AppError && !err.retryable);
      await writeCatchUp(redis, keys, job.data.shop, {
        state: final ? 'failed' : 'running',
        error: `Stopped: ${message}.${final ? '' : ' It continues where it stopped.'}`,
      });
      throw err;
    }
  };
}
