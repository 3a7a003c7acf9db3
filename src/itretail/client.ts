import { isIP } from 'node:net';
import { pipeline } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import streamArray from 'stream-json/streamers/stream-array.js';
import { Agent, type Dispatcher, request } from 'undici';
import { scrubSecrets } from '../logger.js';
import {
  AuthenticationError,
  type CallName,
  EmailTakenError,
  InvalidInputError,
  ITRetailError,
  MalformedResponseError,
  NotFoundError,
  UnavailableError,
  WriteOutcomeUnknownError,
} from './errors.js';
import { isInternalAddress, publicOnlyLookup } from './public-address.js';
import {
  type CustomerPurchases,
  type CustomerRecord,
  type CustomerSummary,
  customerPurchasesListSchema,
  customerRecordSchema,
  customerSummarySchema,
  formatPurchaseDate,
  missingFullRecordFields,
  type NewCustomer,
  newCustomerSchema,
  serviceErrorSchema,
  tokenResponseSchema,
} from './schemas.js';

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

type Kind = 'read' | 'write' | 'token';

interface RequestSpec {
  call: CallName;
  kind: Kind;
  method: 'GET' | 'POST' | 'PUT';
  /** Path and query, starting with '/'. */
  path: string;
  body?: string;
  contentType?: string;
  /** Sends the bearer token (everything but the token call). */
  auth: boolean;
}

type Attempt<T> =
  | { type: 'ok'; value: T }
  | { type: 'unauthorized'; error: ITRetailError }
  | { type: 'retry'; error: ITRetailError; retryAfterMs?: number }
  | { type: 'fatal'; error: unknown };

/** Wraps an exception thrown by the caller's own callback so it is passed through untouched. */
class CallbackFailure {
  constructor(readonly error: unknown) {}
}

/** Network failures where the request provably never reached the service. */
const NOT_SENT_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']);
const NETWORK_CODES = new Set([
  ...NOT_SENT_CODES,
  ...TIMEOUT_CODES,
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED',
  'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_INFO',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ECONNABORTED',
]);

/** undici codes that mean a bad request or a bug rather than a transport failure. */
const NOT_TRANSPORT_CODES = new Set([
  'UND_ERR_INVALID_ARG',
  'UND_ERR_NOT_SUPPORTED',
  'UND_ERR_ABORTED',
  'UND_ERR_ABORT',
]);

function errorCodeOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === 'object'; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const inner = (e as { errors?: unknown[] }).errors;
    if (Array.isArray(inner) && inner.length > 0) {
      e = inner[0];
      continue;
    }
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function isNetworkError(err: unknown): boolean {
  const code = errorCodeOf(err);
  if (code === undefined || NOT_TRANSPORT_CODES.has(code)) return false;
  return NETWORK_CODES.has(code) || code.startsWith('UND_ERR_');
}

/** Retry-After as milliseconds: delta-seconds (fractions tolerated) or an HTTP date. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const GUIDISH = /^[^\s/?#&]+$/;
const MAX_ERROR_BODY = 64 * 1024;

export class ITRetailClient {
  private readonly baseUrl: string;
  private readonly credentials: ITRetailCredentialsOption;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly timeouts: { connectMs: number; headersMs: number; bodyMs: number };
  private readonly retry: {
    maxAttempts: number;
    baseDelayMs: number;
    maxDelayMs: number;
    maxTotalMs: number;
  };
  private readonly logger?: Logger;
  private readonly onCall?: (e: CallEvent) => void;

  private token: string | null = null;
  private tokenExpiresAt = 0;
  private tokenInFlight: Promise<string> | null = null;
  private lastOkAt?: string;
  private lastError?: { at: string; code: string; message: string };
  private closed = false;

  constructor(opts: ITRetailClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.baseUrl);
    } catch {
      throw new TypeError('ITRetailClient: baseUrl must be an absolute URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError('ITRetailClient: baseUrl must be http(s)');
    }
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    const c = opts.credentials;
    if (c?.kind === 'password') {
      if (!c.username || !c.password)
        throw new TypeError('ITRetailClient: username and password are required');
    } else if (c?.kind === 'token') {
      if (!c.token) throw new TypeError('ITRetailClient: token is required');
      this.token = c.token;
      this.tokenExpiresAt = Number.POSITIVE_INFINITY;
    } else {
      throw new TypeError("ITRetailClient: credentials.kind must be 'password' or 'token'");
    }
    this.credentials = c;
    this.timeouts = {
      connectMs: opts.timeouts?.connectMs ?? 5000,
      headersMs: opts.timeouts?.headersMs ?? 15000,
      bodyMs: opts.timeouts?.bodyMs ?? 30000,
    };
    this.retry = {
      maxAttempts: Math.max(1, opts.retry?.maxAttempts ?? 5),
      baseDelayMs: Math.max(0, opts.retry?.baseDelayMs ?? 100),
      maxDelayMs: Math.max(0, opts.retry?.maxDelayMs ?? 5000),
      maxTotalMs: Math.max(0, opts.retry?.maxTotalMs ?? 30000),
    };
    if (opts.publicAddressesOnly) {
      // Sockets skip the DNS lookup for an IP literal, so check it here.
      const host = new URL(opts.baseUrl).hostname.replace(/^\[|\]$/g, '');
      if (isIP(host) && isInternalAddress(host))
        throw new InvalidInputError(`IT Retail base URL points inside a private network (${host})`, {
          call: 'token',
        });
    }
    if (opts.dispatcher) {
      this.dispatcher = opts.dispatcher;
      this.ownsDispatcher = false;
    } else {
      this.dispatcher = new Agent({
        connect: {
          timeout: this.timeouts.connectMs,
          ...(opts.publicAddressesOnly ? { lookup: publicOnlyLookup } : {}),
        },
        keepAliveTimeout: 10_000,
        keepAliveMaxTimeout: 60_000,
        connections: 32,
      });
      this.ownsDispatcher = true;
    }
    if (opts.logger) this.logger = opts.logger.child({ component: 'itretail' });
    if (opts.onCall) this.onCall = opts.onCall;
  }

  // ---------------------------------------------------------------- calls

  /** Every customer (deleted ones too). Parsed as a stream; the returned array is the only copy held. */
  async getAllCustomers(): Promise<CustomerSummary[]> {
    return this.run(this.getAllSpec(), async (res) => {
      const out: CustomerSummary[] = [];
      await this.streamSummaries(
        res,
        (c) => {
          out.push(c);
        },
        true,
      );
      return out;
    });
  }

  /**
   * Streams GetAllCustomers, validating and handing over one record at a time (awaiting the callback, so
   * a slow callback slows the download). Returns the number of records. Retried like any read only while
   * nothing was handed over yet; a failure after that is an UnavailableError. An exception thrown by the
   * callback ends the call and is re-thrown as is.
   */
  async forEachCustomer(onCustomer: (c: CustomerSummary) => void | Promise<void>): Promise<number> {
    if (typeof onCustomer !== 'function') throw new TypeError('forEachCustomer: a callback is required');
    return this.run(this.getAllSpec(), (res) => this.streamSummaries(res, onCustomer, false));
  }

  /** Purchases of one calendar day (local calendar parts of `date`, see formatPurchaseDate). */
  async getCustomerProductPurchases(date: Date): Promise<CustomerPurchases[]> {
    let q: string;
    try {
      q = formatPurchaseDate(date);
    } catch {
      throw new InvalidInputError('GetCustomerProductPurchases: date must be a valid Date', {
        call: 'GetCustomerProductPurchases',
      });
    }
    const spec: RequestSpec = {
      call: 'GetCustomerProductPurchases',
      kind: 'read',
      method: 'GET',
      path: `/api/CustomersData/GetCustomerProductPurchases?date=${q}`,
      auth: true,
    };
    return this.run(spec, async (res) => {
      const json = await this.readJson(spec, res);
      const parsed = customerPurchasesListSchema.safeParse(json);
      if (!parsed.success) throw this.shapeError(spec, res.statusCode, parsed.error);
      return parsed.data as CustomerPurchases[];
    });
  }

  /** Creates a customer. The Phone, when given, must already be 10 digits (see normalizePhone). */
  async createCustomer(input: NewCustomer): Promise<CustomerRecord> {
    const call: CallName = 'CreateCustomer';
    const checked = newCustomerSchema.safeParse(input);
    if (!checked.success) {
      // Only field names and rules go into the message, never the values.
      const detail = checked.error.issues
        .map((i) => `${i.path.join('.') || 'input'}: ${i.message}`)
        .join('; ');
      throw new InvalidInputError(`CreateCustomer: invalid input (${detail})`, { call });
    }
    const body: Record<string, string> = {
      FirstName: input.FirstName,
      LastName: input.LastName,
      Email: input.Email,
    };
    if (input.Phone !== undefined) body.Phone = input.Phone;
    const spec: RequestSpec = {
      call,
      kind: 'write',
      method: 'POST',
      path: '/api/CustomersData/Post',
      body: JSON.stringify(body),
      contentType: 'application/json',
      auth: true,
    };
    return this.run(spec, (res) => this.readRecord(spec, res, false) as Promise<CustomerRecord>);
  }

  /** GetOne. The service's literal `null` (unknown or hard-deleted id) gives null. */
  async getCustomer(id: string): Promise<CustomerRecord | null> {
    const call: CallName = 'GetCustomer';
    if (typeof id !== 'string' || !GUIDISH.test(id)) {
      throw new InvalidInputError('GetCustomer: id must be a non-empty customer Id', { call });
    }
    const spec: RequestSpec = {
      call,
      kind: 'read',
      method: 'GET',
      path: `/api/CustomersData/GetOne/?Id=${encodeURIComponent(id)}`,
      auth: true,
    };
    return this.run(spec, (res) => this.readRecord(spec, res, true));
  }

  /**
   * Put: sends the record back whole, exactly as given (take it from getCustomer, change what must change).
   * The service nullifies every field a Put leaves out, so a record lacking a documented field is refused
   * before sending (InvalidInputError). A record carrying only `ExpirationDate` also gets `expiration_date`,
   * the spelling the Put reads. Never resent automatically once sent (see WriteOutcomeUnknownError).
   */
  async updateCustomer(record: CustomerRecord): Promise<CustomerRecord> {
    const call: CallName = 'UpdateCustomer';
    if (!record || typeof record !== 'object' || Array.isArray(record)) {
      throw new InvalidInputError('UpdateCustomer: a full customer record is required', { call });
    }
    if (typeof record.Id !== 'string' || !GUIDISH.test(record.Id)) {
      throw new InvalidInputError('UpdateCustomer: the record has no Id', { call });
    }
    let body: Record<string, unknown> = record;
    if (!Object.hasOwn(record, 'expiration_date') && Object.hasOwn(record, 'ExpirationDate')) {
      body = { ...record, expiration_date: record.ExpirationDate };
    }
    const missing = missingFullRecordFields(body);
    if (missing.length > 0) {
      throw new InvalidInputError(
        `UpdateCustomer: refusing to send a partial record (the service would nullify: ${missing.join(', ')})`,
        { call },
      );
    }
    let json: string;
    try {
      json = JSON.stringify(body);
    } catch {
      throw new InvalidInputError('UpdateCustomer: the record cannot be serialised as JSON', { call });
    }
    const spec: RequestSpec = {
      call,
      kind: 'write',
      method: 'PUT',
      path: '/api/CustomersData/Put',
      body: json,
      contentType: 'application/json',
      auth: true,
    };
    return this.run(spec, (res) => this.readRecord(spec, res, false) as Promise<CustomerRecord>);
  }

  health(): ITRetailHealth {
    const h: ITRetailHealth = { token: this.tokenState() };
    if (this.lastOkAt) h.lastOkAt = this.lastOkAt;
    if (this.lastError) h.lastError = { ...this.lastError };
    return h;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (!this.ownsDispatcher) return;
    // Let finished requests close cleanly; a request still hanging is cut after a short grace period.
    const graceful = this.dispatcher.close().then(() => true);
    const done = await Promise.race([graceful, sleep(1000, undefined, { ref: false }).then(() => false)]);
    if (!done) await this.dispatcher.destroy();
  }

  // ---------------------------------------------------------------- token

  private tokenState(): ITRetailHealth['token'] {
    if (this.credentials.kind === 'token') return 'static';
    return this.token && Date.now() < this.tokenExpiresAt ? 'valid' : 'none';
  }

  /** The cached token, or the one in-flight fetch every concurrent caller shares. */
  private getToken(): Promise<string> {
    if (this.token && Date.now() < this.tokenExpiresAt) return Promise.resolve(this.token);
    if (!this.tokenInFlight) {
      this.token = null;
      const p = this.fetchToken().finally(() => {
        if (this.tokenInFlight === p) this.tokenInFlight = null;
      });
      this.tokenInFlight = p;
    }
    return this.tokenInFlight;
  }

  /** After a 401 with `stale`: drop it (once) and share a single renewal among every caller that saw it. */
  private renewToken(stale: string | undefined): Promise<string> {
    if (this.token !== null && this.token === stale) this.token = null;
    return this.getToken();
  }

  private async fetchToken(): Promise<string> {
    if (this.credentials.kind !== 'password') throw new Error('unreachable: static token cannot be fetched');
    const form = new URLSearchParams({
      grant_type: 'password',
      username: this.credentials.username,
      password: this.credentials.password,
    });
    const spec: RequestSpec = {
      call: 'token',
      kind: 'token',
      method: 'POST',
      path: '/token?accesslevel=0&securityCode=undefined',
      body: form.toString(),
      contentType: 'application/x-www-form-urlencoded',
      auth: false,
    };
    const { token, expiresInS } = await this.run(spec, async (res) => {
      const json = await this.readJson(spec, res);
      const parsed = tokenResponseSchema.safeParse(json);
      if (!parsed.success) {
        // Never echo the body here: it is (or may contain) a token.
        throw new MalformedResponseError('token: the answer has no access_token', {
          call: 'token',
          status: res.statusCode,
        });
      }
      return { token: parsed.data.access_token, expiresInS: parsed.data.expires_in ?? undefined };
    });
    this.token = token;
    // Renew a minute early; without expires_in assume the documented 14 days (a 401 renews anyway).
    const ttlMs = (expiresInS ?? 14 * 24 * 3600) * 1000;
    this.tokenExpiresAt = Date.now() + Math.max(ttlMs - 60_000, ttlMs / 2);
    this.logger?.info({ call: 'token' }, 'IT Retail token obtained');
    return token;
  }

  // ---------------------------------------------------------------- core

  private getAllSpec(): RequestSpec {
    return {
      call: 'GetAllCustomers',
      kind: 'read',
      method: 'GET',
      path: '/api/CustomersData/GetAllCustomers',
      auth: true,
    };
  }

  /** One logical call: token, attempts, one renewal on 401, retries with backoff within the budget. */
  private async run<T>(spec: RequestSpec, consume: (res: Dispatcher.ResponseData) => Promise<T>): Promise<T> {
    if (this.closed) throw new UnavailableError(`${spec.call}: the client is closed`, { call: spec.call });
    const started = Date.now();
    let attempts = 0;
    let renewed = false;
    try {
      for (;;) {
        let bearer: string | undefined;
        if (spec.auth) bearer = await this.getToken();
        attempts++;
        const outcome = await this.attempt(spec, bearer, consume);
        if (outcome.type === 'ok') {
          this.lastOkAt = new Date().toISOString();
          return outcome.value;
        }
        if (outcome.type === 'fatal') throw outcome.error;
        if (outcome.type === 'unauthorized') {
          if (this.credentials.kind === 'token') {
            throw new AuthenticationError(`${spec.call}: the IT Retail API token was refused (HTTP 401)`, {
              call: spec.call,
              status: 401,
              ...this.svc(outcome.error.serviceMessage),
            });
          }
          if (renewed) {
            throw new AuthenticationError(`${spec.call}: refused (HTTP 401) again after renewing the token`, {
              call: spec.call,
              status: 401,
              retryable: true,
              ...this.svc(outcome.error.serviceMessage),
            });
          }
          renewed = true;
          attempts--; // the repeat after a renewal is not a failure of the service
          this.logger?.info({ call: spec.call }, 'IT Retail token refused; renewing once');
          await this.renewToken(bearer);
          continue;
        }
        // retryable
        const err = outcome.error;
        if (attempts >= this.retry.maxAttempts) {
          throw new UnavailableError(`${spec.call}: gave up after ${attempts} attempts (${err.message})`, {
            call: spec.call,
            ...(err.status !== undefined ? { status: err.status } : {}),
            ...this.svc(err.serviceMessage),
            ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
          });
        }
        const backoff =
          Math.random() * Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempts - 1));
        const delay = outcome.retryAfterMs !== undefined ? Math.max(outcome.retryAfterMs, backoff) : backoff;
        const elapsed = Date.now() - started;
        if (elapsed + delay > this.retry.maxTotalMs) {
          throw new UnavailableError(
            `${spec.call}: gave up after ${attempts} attempts, retry budget of ${this.retry.maxTotalMs} ms spent (${err.message})`,
            {
              call: spec.call,
              ...(err.status !== undefined ? { status: err.status } : {}),
              ...this.svc(err.serviceMessage),
              ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
            },
          );
        }
        this.logger?.warn(
          {
            call: spec.call,
            attempt: attempts,
            delayMs: Math.round(delay),
            code: err.code,
            status: err.status,
          },
          'IT Retail call failed; retrying',
        );
        await sleep(delay);
      }
    } catch (e) {
      if (e instanceof CallbackFailure) throw e.error;
      if (e instanceof ITRetailError) this.noteError(e);
      throw e;
    }
  }

  private async attempt<T>(
    spec: RequestSpec,
    bearer: string | undefined,
    consume: (res: Dispatcher.ResponseData) => Promise<T>,
  ): Promise<Attempt<T>> {
    const t0 = performance.now();
    const report = (status: CallEvent['status'], errorCode?: string) => {
      if (!this.onCall) return;
      try {
        this.onCall({
          call: spec.call,
          status,
          durationMs: performance.now() - t0,
          ...(errorCode ? { errorCode } : {}),
        });
      } catch {
        // a metrics hook must not break a call
      }
    };
    const headers: Record<string, string> = { accept: 'application/json' };
    if (spec.contentType) headers['content-type'] = spec.contentType;
    if (bearer !== undefined) headers.authorization = `Bearer ${bearer}`;

    let res: Dispatcher.ResponseData;
    try {
      res = await request(this.baseUrl + spec.path, {
        dispatcher: this.dispatcher,
        method: spec.method,
        headers,
        ...(spec.body !== undefined ? { body: spec.body } : {}),
        headersTimeout: this.timeouts.headersMs,
        bodyTimeout: this.timeouts.bodyMs,
      });
    } catch (err) {
      return this.transportFailure(spec, err, report, false);
    }

    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      try {
        const value = await consume(res);
        report(status);
        return { type: 'ok', value };
      } catch (err) {
        res.body.destroy();
        if (err instanceof CallbackFailure) {
          report(status, 'CALLBACK');
          return { type: 'fatal', error: err };
        }
        if (err instanceof ITRetailError) {
          report(status, err.code);
          return { type: 'fatal', error: err };
        }
        if (isNetworkError(err)) return this.transportFailure(spec, err, report, true, status);
        const e = new MalformedResponseError(`${spec.call}: unreadable answer (HTTP ${status})`, {
          call: spec.call,
          status,
        });
        report(status, e.code);
        return { type: 'fatal', error: e };
      }
    }

    let text = '';
    try {
      text = await readCapped(res.body, MAX_ERROR_BODY);
    } catch {
      // the status is what matters; an unreadable error body is not worth a failure of its own
    }
    const serviceMessage = this.serviceMessageOf(text);
    const svc = this.svc(serviceMessage);
    const what = `${spec.call}: HTTP ${status}${svc.serviceMessage ? ` ${svc.serviceMessage}` : ''}`;
    const init = { call: spec.call, status, ...svc };

    if (status === 429) {
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      report(status, 'ITR_UNAVAILABLE');
      return {
        type: 'retry',
        error: new UnavailableError(what, init),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      };
    }
    if (status >= 500 || status === 408) {
      if (spec.kind === 'write') {
        const e = new WriteOutcomeUnknownError(`${what}; the write may or may not have been applied`, init);
        report(status, e.code);
        return { type: 'fatal', error: e };
      }
      report(status, 'ITR_UNAVAILABLE');
      return { type: 'retry', error: new UnavailableError(what, init) };
    }
    if (spec.kind === 'token') {
      const e = new AuthenticationError(`token: IT Retail refused the credentials (HTTP ${status})`, init);
      report(status, e.code);
      return { type: 'fatal', error: e };
    }
    if (status === 401) {
      report(status, 'ITR_AUTH');
      return { type: 'unauthorized', error: new AuthenticationError(what, init) };
    }
    let e: ITRetailError;
    const m = svc.serviceMessage ?? '';
    if (status === 403) e = new AuthenticationError(what, init);
    else if (status === 404 || /not\s*found|does not exist/i.test(m)) e = new NotFoundError(what, init);
    else if (/e-?mail/i.test(m) && /exist|taken|already|in use|unique|duplicate/i.test(m))
      e = new EmailTakenError(what, init);
    else e = new InvalidInputError(what, init);
    report(status, e.code);
    return { type: 'fatal', error: e };
  }

  /** A failure of the connection or a timeout, before or after the status line. */
  private transportFailure<T>(
    spec: RequestSpec,
    err: unknown,
    report: (s: CallEvent['status'], code?: string) => void,
    afterHeaders: boolean,
    status?: number,
  ): Attempt<T> {
    const code = errorCodeOf(err) ?? 'UNKNOWN';
    const timeout = TIMEOUT_CODES.has(code);
    const notSent = !afterHeaders && NOT_SENT_CODES.has(code);
    const detail = timeout ? `timed out (${code})` : `network error (${code})`;
    const init = { call: spec.call, ...(status !== undefined ? { status } : {}) };
    if (code === 'EACCES') {
      // Refused by publicOnlyLookup: the URL leads into a private network; no retry can fix that.
      const e = new InvalidInputError(
        `${spec.call}: ${err instanceof Error ? err.message : 'address refused'}`,
        init,
      );
      report('network', e.code);
      return { type: 'fatal', error: e };
    }
    if (!isNetworkError(err)) {
      // Not a transport problem (e.g. an invalid request option): a bug or bad configuration.
      const e = new InvalidInputError(`${spec.call}: request failed (${code})`, init);
      report('network', e.code);
      return { type: 'fatal', error: e };
    }
    if (spec.kind === 'write' && !notSent) {
      const e = new WriteOutcomeUnknownError(
        `${spec.call}: ${detail} after the request was sent; the write may or may not have been applied`,
        init,
      );
      report(timeout ? 'timeout' : 'network', e.code);
      return { type: 'fatal', error: e };
    }
    report(timeout ? 'timeout' : 'network', 'ITR_UNAVAILABLE');
    return { type: 'retry', error: new UnavailableError(`${spec.call}: ${detail}`, init) };
  }

  private async readJson(spec: RequestSpec, res: Dispatcher.ResponseData): Promise<unknown> {
    const text = await res.body.text();
    try {
      return JSON.parse(text);
    } catch {
      throw new MalformedResponseError(
        `${spec.call}: the answer is not JSON (HTTP ${res.statusCode}, ${describeBody(text, res.headers['content-type'])})`,
        { call: spec.call, status: res.statusCode },
      );
    }
  }

  private async readRecord(
    spec: RequestSpec,
    res: Dispatcher.ResponseData,
    nullMeansMissing: boolean,
  ): Promise<CustomerRecord | null> {
    const json = await this.readJson(spec, res);
    if (json === null && nullMeansMissing) return null;
    const parsed = customerRecordSchema.safeParse(json);
    if (!parsed.success) throw this.shapeError(spec, res.statusCode, parsed.error);
    // No transforms in the schema: the validated value is the service's object, kept as sent.
    return json as CustomerRecord;
  }

  /**
   * Parses a top-level JSON array element by element, validating each as it arrives. `replayable`: the
   * records go to a collector that a retry starts afresh, so a broken-off body may be retried at any point.
   */
  private async streamSummaries(
    res: Dispatcher.ResponseData,
    onItem: (c: CustomerSummary) => void | Promise<void>,
    replayable: boolean,
  ): Promise<number> {
    const call: CallName = 'GetAllCustomers';
    const parser = streamArray.withParserAsStream();
    pipeline(res.body, parser, () => {
      // errors surface through the iteration below
    });
    let delivered = 0;
    try {
      for await (const item of parser as AsyncIterable<{ key: number; value: unknown }>) {
        const parsed = customerSummarySchema.safeParse(item.value);
        if (!parsed.success) {
          throw this.shapeError({ call }, res.statusCode, parsed.error, `element ${item.key}`);
        }
        try {
          await onItem(parsed.data as CustomerSummary);
        } catch (cbErr) {
          throw new CallbackFailure(cbErr);
        }
        delivered++;
      }
    } catch (err) {
      parser.destroy();
      if (err instanceof CallbackFailure || err instanceof ITRetailError) throw err;
      if (isNetworkError(err)) {
        if (delivered === 0 || replayable) throw err; // nothing handed over yet: the run loop may retry
        throw new UnavailableError(
          `${call}: the answer broke off after ${delivered} records (${errorCodeOf(err)})`,
          { call, status: res.statusCode },
        );
      }
      const msg = err instanceof Error ? err.message : 'unreadable';
      throw new MalformedResponseError(
        `${call}: the answer is not a JSON array of customers (${msg.slice(0, 120)}) after ${delivered} records`,
        { call, status: res.statusCode },
      );
    }
    return delivered;
  }

  private shapeError(
    spec: Pick<RequestSpec, 'call'>,
    status: number,
    error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> },
    where?: string,
  ): MalformedResponseError {
    const issues = error.issues
      .slice(0, 3)
      .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
      .join('; ');
    return new MalformedResponseError(
      `${spec.call}: the answer has the wrong shape${where ? ` at ${where}` : ''} (${issues})`,
      { call: spec.call, status },
    );
  }

  private serviceMessageOf(text: string): string | undefined {
    if (!text) return undefined;
    try {
      const parsed = serviceErrorSchema.safeParse(JSON.parse(text));
      if (!parsed.success) return undefined;
      const d = parsed.data;
      return d.Message ?? d.error_description ?? d.message ?? d.error;
    } catch {
      return undefined;
    }
  }

  /** The service's message, scrubbed of anything secret and kept short. */
  private svc(message: string | undefined): { serviceMessage?: string } {
    if (message === undefined) return {};
    return { serviceMessage: this.redact(message).slice(0, 300) };
  }

  private redact(text: string): string {
    let out = scrubSecrets(text);
    const secrets = [
      this.token,
      this.credentials.kind === 'password' ? this.credentials.password : this.credentials.token,
    ];
    for (const s of secrets) if (s && s.length >= 4) out = out.split(s).join('[redacted]');
    return out;
  }

  private noteError(e: ITRetailError): void {
    // Only what says something about the connection to IT Retail; a refused email is not a health problem.
    if (e instanceof NotFoundError || e instanceof EmailTakenError || e instanceof InvalidInputError) return;
    this.lastError = { at: new Date().toISOString(), code: e.code, message: this.redact(e.message) };
  }
}

async function readCapped(body: Dispatcher.ResponseData['body'], max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= max) {
      body.destroy();
      break;
    }
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, max);
}

function describeBody(text: string, contentType: string | string[] | undefined): string {
  const ct = Array.isArray(contentType) ? contentType[0] : contentType;
  const head = text.trimStart().slice(0, 1);
  const kind =
    head === '<' ? 'an HTML/XML page' : text.length === 0 ? 'an empty body' : 'truncated or invalid JSON';
  return `${kind}, ${text.length} chars${ct ? `, ${ct}` : ''}`;
}
