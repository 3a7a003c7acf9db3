import { createHash, randomUUID } from 'node:crypto';
import type { Config, ITRetailCredentials } from '../config.js';
import { type ITRetailClient as Client, ITRetailClient, type ITRetailHealth } from '../itretail/client.js';
import { ITRetailError } from '../itretail/errors.js';
import type { Logger } from '../logger.js';
import type { SettingsStore } from '../settings.js';

/**
 * The web process's own IT Retail clients, one per shop (and per set of credentials): used for the live
 * balance in customer lookup, for "Test connection" and for the connection check of the overview.
 * The worker keeps its own clients; what the merchant needs to know about the connection is whether a
 * call made now succeeds, which this answers.
 */

export interface ConnectionTarget {
  baseUrl: string;
  credentials: ITRetailCredentials;
}

interface ConnectionCheck {
  ok: boolean;
  /** Plain words for the page. */
  message: string;
  code?: string;
  checkedAt: string;
}

export interface ItretailAccess {
  /** Where the shop's calls go, or undefined when neither the shop nor the environment has credentials. */
  targetFor(shop: string): Promise<ConnectionTarget | undefined>;
  clientFor(shop: string): Promise<Client | undefined>;
  /** The shop client's health, after a cheap live call when nothing succeeded recently (cached briefly). */
  health(shop: string): Promise<(ITRetailHealth & { check?: ConnectionCheck }) | undefined>;
  /** One cheap authenticated call with the given (or the shop's) credentials. */
  test(target: ConnectionTarget): Promise<ConnectionCheck>;
  close(): Promise<void>;
}

export type ClientFactory = (target: ConnectionTarget) => Client;

/** What an IT Retail failure means to a merchant. */
export function explainItretailError(err: unknown): { message: string; code?: string } {
  if (err instanceof ITRetailError) {
    switch (err.code) {
      case 'ITR_AUTH':
        return {
          code: err.code,
          message: 'IT Retail refused the sign-in: check the username and password (or the API token).',
        };
      case 'ITR_UNAVAILABLE':
        return {
          code: err.code,
          message: `IT Retail did not answer (${err.status ? `HTTP ${err.status}` : 'no response'}). Check the base URL; if it is right, IT Retail may be down for maintenance.`,
        };
      case 'ITR_MALFORMED':
        return {
          code: err.code,
          message: 'IT Retail answered something that is not its API. Check the base URL.',
        };
      default:
        return {
          code: err.code,
          message: `IT Retail answered with an error: ${err.serviceMessage ?? err.message}`,
        };
    }
  }
  return { message: 'Could not reach IT Retail. Check the base URL.' };
}

function credentialsToOption(c: ITRetailCredentials) {
  return c.kind === 'token'
    ? ({ kind: 'token', token: c.token ?? '' } as const)
    : ({ kind: 'password', username: c.username ?? '', password: c.password ?? '' } as const);
}

function defaultClientFactory(config: Config, logger?: Logger): ClientFactory {
  return (t) =>
    new ITRetailClient({
      baseUrl: t.baseUrl,
      credentials: credentialsToOption(t.credentials),
      // A person is waiting: fail within seconds rather than retry for half a minute.
      timeouts: { connectMs: 3_000, headersMs: Math.min(config.itretail.timeoutMs, 10_000), bodyMs: 20_000 },
      retry: { maxAttempts: 2, maxTotalMs: 8_000 },
      // A URL other than the operator's own was typed by a merchant: never into a private network.
      publicAddressesOnly: config.nodeEnv === 'production' && t.baseUrl !== config.itretail.baseUrl,
      logger,
    });
}

const CHECK_TTL_MS = 60_000;
const RECENT_OK_MS = 5 * 60_000;

/** One cheap authenticated call: reading a customer that cannot exist needs a valid token, changes nothing. */
async function probe(client: Client): Promise<ConnectionCheck> {
  const checkedAt = new Date().toISOString();
  try {
    await client.getCustomer(randomUUID());
    return { ok: true, message: 'Connected: IT Retail accepted the sign-in and answered.', checkedAt };
  } catch (err) {
    return { ok: false, ...explainItretailError(err), checkedAt };
  }
}

const fingerprintOf = (t: ConnectionTarget) =>
  createHash('sha256')
    .update(JSON.stringify([t.baseUrl, t.credentials]))
    .digest('hex');

/** Where a shop's calls go: its own saved sign-in, else (single-store mode: only for that shop) the server's. */
async function targetOf(
  config: Config,
  settings: Pick<SettingsStore, 'get'>,
  shop: string,
): Promise<ConnectionTarget | undefined> {
  const s = await settings.get(shop);
  const baseUrl = s.itretail?.baseUrl ?? config.itretail.baseUrl;
  const only = config.shopify.singleStore?.shop;
  const fallback = !only || only === shop ? config.itretail.defaultCredentials : undefined;
  const credentials = s.itretail?.credentials ?? fallback;
  return credentials ? { baseUrl, credentials } : undefined;
}

export function createItretailAccess(deps: {
  config: Config;
  settings: Pick<SettingsStore, 'get'>;
  logger?: Logger;
  clientFactory?: ClientFactory;
}): ItretailAccess {
  const { config, settings } = deps;
  const factory = deps.clientFactory ?? defaultClientFactory(config, deps.logger);
  const clients = new Map<string, { fingerprint: string; client: Client }>();
  const checks = new Map<string, ConnectionCheck>();

  const targetFor = (shop: string) => targetOf(config, settings, shop);

  async function clientFor(shop: string): Promise<Client | undefined> {
    const target = await targetFor(shop);
    const current = clients.get(shop);
    if (!target) {
      if (current) {
        clients.delete(shop);
        void current.client.close();
      }
      return undefined;
    }
    const fingerprint = fingerprintOf(target);
    if (current?.fingerprint === fingerprint) return current.client;
    if (current) void current.client.close();
    checks.delete(shop);
    const client = factory(target);
    clients.set(shop, { fingerprint, client });
    return client;
  }

  async function health(shop: string) {
    const client = await clientFor(shop);
    if (!client) return undefined;
    let h = client.health();
    const recentOk = h.lastOkAt && Date.now() - Date.parse(h.lastOkAt) < RECENT_OK_MS;
    let check = checks.get(shop);
    if (!recentOk && (!check || Date.now() - Date.parse(check.checkedAt) > CHECK_TTL_MS)) {
      check = await probe(client);
      checks.set(shop, check);
      h = client.health();
    }
    return { ...h, check };
  }

  async function test(target: ConnectionTarget): Promise<ConnectionCheck> {
    const client = factory(target);
    try {
      return await probe(client);
    } finally {
      await client.close().catch(() => undefined);
    }
  }

  async function close() {
    const all = [...clients.values()];
    clients.clear();
    await Promise.all(all.map((c) => c.client.close().catch(() => undefined)));
  }

  return { targetFor, clientFor, health, test, close };
}
