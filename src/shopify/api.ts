import '@shopify/shopify-api/adapters/node';
import { type ApiVersion, LogSeverity, type Shopify, shopifyApi } from '@shopify/shopify-api';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { scrubSecrets } from '../logger.js';
import { SHOP_DOMAIN } from '../shop-domain.js';
import { routeShopRequests } from './shop-origin.js';

export type { Shopify };

const routedOrigins = new Set<string>();

/**
 * SHOPIFY_ADMIN_ORIGIN (development only; config refuses it in production): every request the library makes
 * to a shop (`https://<shop>/admin/...`) goes to that origin instead. Process-wide, installed once per origin.
 */
export function routeAdminRequests(origin: string | undefined): void {
  if (!origin || routedOrigins.has(origin)) return;
  routedOrigins.add(origin);
  routeShopRequests((host) => (SHOP_DOMAIN.test(host) ? origin : undefined));
}

/**
 * The Shopify library instance: session-token verification, token exchange and GraphQL clients.
 * The library's own log lines go to our logger (scrubbed), at warning level and above unless asked.
 */
export function createShopify(
  config: Config,
  opts: { logger?: Logger; logLevel?: LogSeverity } = {},
): Shopify {
  const url = new URL(config.shopify.appUrl);
  const log = opts.logger?.child({ component: 'shopify-api' });
  routeAdminRequests(config.shopify.adminOrigin);
  return shopifyApi({
    apiKey: config.shopify.apiKey,
    apiSecretKey: config.shopify.apiSecret,
    scopes: config.shopify.scopes,
    hostName: url.host,
    hostScheme: url.protocol === 'http:' ? 'http' : 'https',
    apiVersion: config.shopify.apiVersion as ApiVersion,
    isEmbeddedApp: true,
    logger: {
      level: opts.logLevel ?? LogSeverity.Warning,
      httpRequests: false,
      log: (severity, message) => {
        if (!log) return;
        const text = scrubSecrets(message);
        if (severity <= LogSeverity.Error) log.error(text);
        else if (severity === LogSeverity.Warning) log.warn(text);
        else if (severity === LogSeverity.Info) log.info(text);
        else log.debug(text);
      },
    },
  });
}
