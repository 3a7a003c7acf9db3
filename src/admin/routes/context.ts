import type { Redis } from 'ioredis';
import type { Config } from '../../config.js';
import type { Logger } from '../../logger.js';
import type { EnqueueContext } from '../../queue/enqueue.js';
import type { SyncQueues } from '../../queue/shards.js';
import type { SettingsPolicy, SettingsStore } from '../../settings.js';
import type { Shopify } from '../../shopify/api.js';
import type { InstallService } from '../../shopify/install.js';
import type { Keys } from '../../store/keys.js';
import type { SyncEventStore } from '../../sync/events.js';
import type { ItretailAccess } from '../itretail-access.js';

export interface CustomerLinks {
  linkedByEmail(shop: string, email: string): Promise<string | undefined>;
  indexLookup(shop: string, email: string): Promise<{ id: string; cardNo: string } | undefined>;
  duplicates(shop: string, email: string): Promise<{ id: string; cardNo: string }[]>;
}

export interface AdminApiDeps {
  config: Config;
  logger: Logger;
  redis: Redis;
  keys: Keys;
  queue: SyncQueues;
  shopify: Shopify;
  events: SyncEventStore;
  settings: SettingsStore;
  install: InstallService;
  itretail: ItretailAccess;
  links: CustomerLinks;
}

/** What the section routers are built from: the API's dependencies and what is derived from them once. */
export interface SectionContext extends AdminApiDeps {
  settingsPolicy: SettingsPolicy;
  enqueueCtx: EnqueueContext;
}

export function sectionContext(deps: AdminApiDeps): SectionContext {
  return {
    ...deps,
    // A merchant's IT Retail URL is fetched by this server: loopback only outside production.
    settingsPolicy: { allowLoopbackBaseUrl: deps.config.nodeEnv !== 'production' },
    enqueueCtx: { redis: deps.redis, keys: deps.keys, queue: deps.queue },
  };
}
