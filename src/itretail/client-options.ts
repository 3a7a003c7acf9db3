import { isIP } from 'node:net';
import type { Logger } from 'pino';
import { Agent, type Dispatcher } from 'undici';
import { type CallName, InvalidInputError } from './errors.js';
import { isInternalAddress, publicOnlyLookup } from './public-address.js';

export type ITRetailCredentialsOption =
  | { kind: 'password'; username: string; password: string }
  | { kind: 'token'; token: string };

export interface CallEvent {
  call: CallName;
  status: number | 'network' | 'timeout';
  durationMs: number;
  errorCode?: string;
}

export interface ITRetailClientOptions {
  /** e.g. https://retailnext.itretail.com (no trailing slash needed). */
  baseUrl: string;
  credentials: ITRetailCredentialsOption;
  /** Defaults 5000 / 15000 / 30000. `bodyMs` is the longest silence between two body chunks. */
  timeouts?: { connectMs?: number; headersMs?: number; bodyMs?: number };
  /** Defaults 5 / 100 / 5000 / 30000. maxAttempts counts HTTP attempts of one call (a token renewal's repeat excluded). */
  retry?: { maxAttempts?: number; baseDelayMs?: number; maxDelayMs?: number; maxTotalMs?: number };
  /** Default: a keep-alive Agent owned by this client (closed by close()). connectMs applies only to that default. */
  dispatcher?: Dispatcher;
  logger?: Logger;
  /** Metrics hook, called once per HTTP attempt. */
  onCall?: (e: CallEvent) => void;
  /**
   * Refuse to connect to addresses inside private networks, whatever the host name resolves to (for base
   * URLs a merchant typed). Applies to the default dispatcher only. Default false.
   */
  publicAddressesOnly?: boolean;
}

export interface ITRetailHealth {
  lastOkAt?: string;
  lastError?: { at: string; code: string; message: string };
  token: 'none' | 'valid' | 'static';
}

/** The options, checked and with their defaults (the client's constructor throws a TypeError on bad ones). */
export function resolveOptions(opts: ITRetailClientOptions) {
  let url: URL;
  try {
    url = new URL(opts.baseUrl);
  } catch {
    throw new TypeError('ITRetailClient: baseUrl must be an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new TypeError('ITRetailClient: baseUrl must be http(s)');
  }
  const baseUrl = opts.baseUrl.replace(/\/+$/, '');
  const c = opts.credentials;
  if (c?.kind === 'password') {
    if (!c.username || !c.password) throw new TypeError('ITRetailClient: username and password are required');
  } else if (c?.kind === 'token') {
    if (!c.token) throw new TypeError('ITRetailClient: token is required');
  } else {
    throw new TypeError("ITRetailClient: credentials.kind must be 'password' or 'token'");
  }
  const timeouts = {
    connectMs: opts.timeouts?.connectMs ?? 5000,
    headersMs: opts.timeouts?.headersMs ?? 15000,
    bodyMs: opts.timeouts?.bodyMs ?? 30000,
  };
  const retry = {
    maxAttempts: Math.max(1, opts.retry?.maxAttempts ?? 5),
    baseDelayMs: Math.max(0, opts.retry?.baseDelayMs ?? 100),
    maxDelayMs: Math.max(0, opts.retry?.maxDelayMs ?? 5000),
    maxTotalMs: Math.max(0, opts.retry?.maxTotalMs ?? 30000),
  };
  if (opts.publicAddressesOnly) {
    // Sockets skip the DNS lookup for an IP literal, so check it here.
    const host = url.hostname.replace(/^\[|\]$/g, '');
    if (isIP(host) && isInternalAddress(host))
      throw new InvalidInputError(`IT Retail base URL points inside a private network (${host})`, {
        call: 'token',
      });
  }
  const common = { baseUrl, credentials: c, timeouts, retry };
  if (opts.dispatcher) return { ...common, dispatcher: opts.dispatcher, ownsDispatcher: false };
  const dispatcher: Dispatcher = new Agent({
    connect: {
      timeout: timeouts.connectMs,
      ...(opts.publicAddressesOnly ? { lookup: publicOnlyLookup } : {}),
    },
    keepAliveTimeout: 10_000,
    keepAliveMaxTimeout: 60_000,
    connections: 32,
  });
  return { ...common, dispatcher, ownsDispatcher: true };
}
