import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { ITRetailCredentials } from '../config.js';
import { AppError } from '../errors.js';
import {
  type CallEvent,
  ITRetailClient,
  type ITRetailClientOptions,
  type ITRetailCredentialsOption,
} from '../itretail/client.js';
import type { ShopSettings } from '../settings.js';
import type { SyncClient } from './matching.js';

/**
 * One IT Retail client per shop and credentials: the shop's own (from its settings) or the environment's
 * default. Clients are cached, so the token is fetched once and connections are kept alive; a change of
 * credentials or base URL in the settings gives a new client (the old one is closed).
 */

export class CredentialsMissingError extends AppError {
  override readonly code = 'CREDENTIALS_MISSING' as const;
  constructor(message = 'IT Retail credentials are not set') {
    super(message, { retryable: false });
  }
}

export interface ClientRegistryOptions {
  /** Used when a shop has no base URL of its own. */
  defaultBaseUrl: string;
  /** Used when a shop has no credentials of its own … */
  defaultCredentials?: ITRetailCredentials;
  /** … and, when set, only for this shop (single-store mode: another shop never writes to this POS). */
  defaultCredentialsOnlyFor?: string;
  /**
   * Refuse private-network addresses for any base URL other than `defaultBaseUrl` (a merchant typed it;
   * production). The operator's own configured URL is trusted.
   */
  guardShopUrls?: boolean;
  /** Timeouts, retry policy, logger and metrics hook passed to every client. */
  clientOptions?: Omit<ITRetailClientOptions, 'baseUrl' | 'credentials'>;
  /** Told of every HTTP attempt of a shop's client (for the admin page's connection card). */
  onShopCall?: (shop: string, e: CallEvent) => void;
  /** Builds a client (tests may substitute one); default `new ITRetailClient(opts)`. */
  create?: (opts: ITRetailClientOptions) => SyncClient & { close?: () => Promise<void> };
  logger?: Logger;
}

function toClientCredentials(c: ITRetailCredentials | undefined): ITRetailCredentialsOption | undefined {
  if (!c) return undefined;
  if (c.kind === 'token' && c.token) return { kind: 'token', token: c.token };
  if (c.kind === 'password' && c.username && c.password) {
    return { kind: 'password', username: c.username, password: c.password };
  }
  return undefined;
}

type Entry = { fingerprint: string; client: SyncClient & { close?: () => Promise<void> } };

export class ClientRegistry {
  private readonly byShop = new Map<string, Entry>();

  constructor(private readonly opts: ClientRegistryOptions) {}

  /** The client for this shop's current settings. Throws CredentialsMissingError when none are set. */
  clientFor(shop: string, settings: Pick<ShopSettings, 'itretail'>): SyncClient {
    const { defaultCredentialsOnlyFor: onlyFor } = this.opts;
    const fallback = !onlyFor || onlyFor === shop ? this.opts.defaultCredentials : undefined;
    const credentials = toClientCredentials(settings.itretail?.credentials ?? fallback);
    if (!credentials) throw new CredentialsMissingError();
    const defaultBaseUrl = this.opts.defaultBaseUrl.replace(/\/+$/, '');
    const baseUrl = (settings.itretail?.baseUrl ?? defaultBaseUrl).replace(/\/+$/, '');
    // A fingerprint, not the secret itself, decides whether the cached client still fits.
    const fingerprint = createHash('sha256')
      .update(JSON.stringify([baseUrl, credentials]))
      .digest('hex');
    const cached = this.byShop.get(shop);
    if (cached?.fingerprint === fingerprint) return cached.client;
    if (cached) void cached.client.close?.().catch(() => undefined);
    const { onCall, ...clientOptions } = this.opts.clientOptions ?? {};
    const onShopCall = this.opts.onShopCall;
    const options: ITRetailClientOptions = {
      ...clientOptions,
      ...(onCall || onShopCall
        ? {
            onCall: (e: CallEvent) => {
              onCall?.(e);
              onShopCall?.(shop, e);
            },
          }
        : {}),
      baseUrl,
      credentials,
      publicAddressesOnly: Boolean(this.opts.guardShopUrls) && baseUrl !== defaultBaseUrl,
    };
    const client = this.opts.create ? this.opts.create(options) : new ITRetailClient(options);
    this.byShop.set(shop, { fingerprint, client });
    return client;
  }

  /** Forgets (and closes) a shop's client, e.g. after app/uninstalled. */
  async forget(shop: string): Promise<void> {
    const e = this.byShop.get(shop);
    this.byShop.delete(shop);
    await e?.client.close?.().catch(() => undefined);
  }

  async closeAll(): Promise<void> {
    const all = [...this.byShop.values()];
    this.byShop.clear();
    await Promise.all(all.map((e) => e.client.close?.().catch(() => undefined)));
  }
}
