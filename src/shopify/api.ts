import '@shopify/shopify-api/adapters/node';
import { type ApiVersion, LogSeverity, type Shopify, shopifyApi } from '@shopify/shopify-api';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { scrubSecrets } from '../logger.js';

export type { Shopify };

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
