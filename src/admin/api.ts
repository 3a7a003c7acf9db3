import express from 'express';
import { InstallError } from '../shopify/install.js';
import { requireSessionToken, shopOf } from '../shopify/session-token.js';
import { activityRouter } from './routes/activity.js';
import { type AdminApiDeps, sectionContext } from './routes/context.js';
import { customersRouter } from './routes/customers.js';
import { dataRequestsRouter } from './routes/data-requests.js';
import { failuresRouter } from './routes/failures.js';
import { jobsRouter } from './routes/jobs.js';
import { overviewRouter } from './routes/overview.js';
import { settingsRouter } from './routes/settings.js';

/**
 * The session-token-protected JSON API of the embedded page: one router per section of the page, sharing
 * one error mapping (routes/http.ts). Every route takes the shop from the verified session token (never
 * from the request), so a token for one shop reaches only that shop's data.
 */

export type { AdminApiDeps, CustomerLinks } from './routes/context.js';

export function adminApiRouter(deps: AdminApiDeps): express.Router {
  const router = express.Router();
  router.use(requireSessionToken(deps.shopify, { logger: deps.logger }));

  // Shopify-managed installation: the first authenticated call of a shop without an offline token
  // exchanges the page's session token for one. A failure is reported, not fatal: the page still works.
  router.use(async (req, res, next) => {
    const shop = shopOf(res);
    const token = /^Bearer\s+(\S+)/i.exec(req.get('authorization') ?? '')?.[1] ?? '';
    try {
      await deps.install.ensureOfflineSession(shop, token);
      res.locals.shopifyAccess = { ok: true };
    } catch (err) {
      res.locals.shopifyAccess = {
        ok: false,
        message: err instanceof InstallError ? err.message : 'Could not get an access token from Shopify.',
      };
    }
    next();
  });

  const ctx = sectionContext(deps);
  for (const section of [
    overviewRouter,
    activityRouter,
    failuresRouter,
    customersRouter,
    settingsRouter,
    dataRequestsRouter,
    jobsRouter,
  ]) {
    router.use(section(ctx));
  }

  router.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  return router;
}
