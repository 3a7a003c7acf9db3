import type express from 'express';
import type { AppDeps } from '../app.js';
import { createInstallService, type InstallService, installRouter } from '../shopify/install.js';
import { RedisSessionStorage, type SessionStorage } from '../shopify/session-storage.js';
import { CustomerMatcher } from '../sync/matching.js';
import { adminApiRouter, type CustomerLinks } from './api.js';
import { createItretailAccess, type ItretailAccess } from './itretail-access.js';
import { pageRouter } from './page.js';

/**
 * Everything the merchant sees: install routes, the embedded page and its JSON API.
 * Wire it into the app with `createApp({ ...deps, extraRoutes: admin.mount })`.
 */
export interface Admin {
  mount: (app: express.Express) => void;
  sessions: SessionStorage;
  install: InstallService;
  itretail: ItretailAccess;
  close(): Promise<void>;
}

export interface AdminOptions {
  itretail?: ItretailAccess;
  links?: CustomerLinks;
}

export function createAdmin(deps: Omit<AppDeps, 'extraRoutes'>, opts: AdminOptions = {}): Admin {
  const sessions = new RedisSessionStorage(deps.redis, deps.keys, deps.config.encryptionKey);
  const install = createInstallService({
    config: deps.config,
    logger: deps.logger,
    shopify: deps.shopify,
    sessions,
    settings: deps.settings,
  });
  const itretail =
    opts.itretail ??
    createItretailAccess({ config: deps.config, settings: deps.settings, logger: deps.logger });
  const links = opts.links ?? new CustomerMatcher(deps.redis, deps.keys, deps.logger);
  const mount = (app: express.Express) => {
    app.use(
      installRouter({
        config: deps.config,
        logger: deps.logger,
        shopify: deps.shopify,
        sessions,
        settings: deps.settings,
      }),
    );
    app.use(pageRouter({ config: deps.config }));
    app.use('/api', adminApiRouter({ ...deps, install, itretail, links }));
  };
  return { mount, sessions, install, itretail, close: () => itretail.close() };
}
