import express, { type Response } from 'express';
import { withRedis } from '../../queue/enqueue.js';
import { startCatchUp } from '../../sync/catch-up.js';
import { catchUpStatus } from '../../sync/catch-up-state.js';
import { readProgress, startLinkExisting } from '../link-existing.js';
import type { SectionContext } from './context.js';
import { BadRequest, route } from './http.js';

/** The background jobs a merchant starts: link existing customers, and a catch-up from Shopify. */

/** Answers 409 (and true) when the shop has no Shopify access token, which the Admin API jobs need. */
function refusedWithoutShopifyAccess(res: Response): boolean {
  const access = res.locals.shopifyAccess as { ok: boolean; message?: string } | undefined;
  if (!access || access.ok) return false;
  res.status(409).json({ error: access.message ?? 'The app has no Shopify access token for this shop yet.' });
  return true;
}

export function jobsRouter(ctx: SectionContext): express.Router {
  const { redis, keys, itretail, enqueueCtx, logger } = ctx;
  const router = express.Router();

  router.get(
    '/link-existing',
    route(async (_req, _res, shop) => readProgress(redis, keys, shop)),
  );

  router.post(
    '/link-existing',
    route(async (_req, res, shop) => {
      if (refusedWithoutShopifyAccess(res)) return;
      if (!(await itretail.targetFor(shop))) {
        throw new BadRequest('Connect IT Retail under Settings first.');
      }
      const { progress } = await startLinkExisting(enqueueCtx, shop);
      return progress;
    }),
  );

  router.post(
    '/catch-up',
    route(async (_req, res, shop) => {
      if (refusedWithoutShopifyAccess(res)) return;
      const { jobId, started } = await withRedis(redis, 'start catch-up', () =>
        startCatchUp(enqueueCtx, shop),
      );
      const catchUp = await withRedis(redis, 'catch-up status', () => catchUpStatus(redis, keys, shop));
      logger.info({ shop, jobId, started }, 'catch-up requested from the admin page');
      res.status(202).json({ jobId, started, catchUp });
    }),
  );

  return router;
}
