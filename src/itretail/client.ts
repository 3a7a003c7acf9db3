import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Dispatcher } from 'undici';
import { scrubSecrets } from '../logger.js';
import { readJson, readRecord, shapeError, streamSummaries } from './answers.js';
import {
  type CallEvent,
  type ITRetailClientOptions,
  type ITRetailCredentialsOption,
  type ITRetailHealth,
  resolveOptions,
} from './client-options.js';
import {
  AuthenticationError,
  EmailTakenError,
  InvalidInputError,
  ITRetailError,
  MalformedResponseError,
  NotFoundError,
  UnavailableError,
} from './errors.js';
import {
  createRequest,
  getAllRequest,
  getOneRequest,
  purchasesRequest,
  putRequest,
  tokenRequest,
} from './requests.js';
import {
  type CustomerPurchases,
  type CustomerRecord,
  type CustomerSummary,
  customerPurchasesListSchema,
  type NewCustomer,
  tokenResponseSchema,
} from './schemas.js';
import { CallbackFailure, type RequestSpec, sendAttempt, type TransportContext } from './transport.js';

export type {
  CallEvent,
  ITRetailClientOptions,
  ITRetailCredentialsOption,
  ITRetailHealth,
} from './client-options.js';

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
    const o = resolveOptions(opts);
    this.baseUrl = o.baseUrl;
    this.credentials = o.credentials;
    if (o.credentials.kind === 'token') {
      this.token = o.credentials.token;
      this.tokenExpiresAt = Number.POSITIVE_INFINITY;
    }
    this.timeouts = o.timeouts;
    this.retry = o.retry;
    this.dispatcher = o.dispatcher;
    this.ownsDispatcher = o.ownsDispatcher;
    if (opts.logger) this.logger = opts.logger.child({ component: 'itretail' });
    if (opts.onCall) this.onCall = opts.onCall;
  }

  // ---------------------------------------------------------------- calls

  /** Every customer (deleted ones too). Parsed as a stream; the returned array is the only copy held. */
  async getAllCustomers(): Promise<CustomerSummary[]> {
    return this.run(getAllRequest(), async (res) => {
      const out: CustomerSummary[] = [];
      await streamSummaries(
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
    return this.run(getAllRequest(), (res) => streamSummaries(res, onCustomer, false));
  }

  /** Purchases of one calendar day (local calendar parts of `date`, see formatPurchaseDate). */
  async getCustomerProductPurchases(date: Date): Promise<CustomerPurchases[]> {
    const spec = purchasesRequest(date);
    return this.run(spec, async (res) => {
      const json = await readJson(spec, res);
      const parsed = customerPurchasesListSchema.safeParse(json);
      if (!parsed.success) throw shapeError(spec, res.statusCode, parsed.error);
      return parsed.data as CustomerPurchases[];
    });
  }

  /** Creates a customer. The Phone, when given, must already be 10 digits (see normalizePhone). */
  async createCustomer(input: NewCustomer): Promise<CustomerRecord> {
    const spec = createRequest(input);
    return this.run(spec, (res) => readRecord(spec, res, false) as Promise<CustomerRecord>);
  }

  /** GetOne. The service's literal `null` (unknown or hard-deleted id) gives null. */
  async getCustomer(id: string): Promise<CustomerRecord | null> {
    const spec = getOneRequest(id);
    return this.run(spec, (res) => readRecord(spec, res, true));
  }

  /**
   * Put: sends the record back whole, exactly as given (take it from getCustomer, change what must change).
   * The service nullifies every field a Put leaves out, so a record lacking a documented field is refused
   * before sending (InvalidInputError). A record carrying only `ExpirationDate` also gets `expiration_date`,
   * the spelling the Put reads. Never resent automatically once sent (see WriteOutcomeUnknownError).
   */
  async updateCustomer(record: CustomerRecord): Promise<CustomerRecord> {
    const spec = putRequest(record);
    return this.run(spec, (res) => readRecord(spec, res, false) as Promise<CustomerRecord>);
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
    const spec = tokenRequest(this.credentials);
    const { token, expiresInS } = await this.run(spec, async (res) => {
      const json = await readJson(spec, res);
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
        const outcome = await sendAttempt(this.transport(), spec, bearer, consume);
        if (outcome.type === 'ok') {
          this.lastOkAt = new Date().toISOString();
          return outcome.value;
        }
        if (outcome.type === 'fatal') throw outcome.error;
        if (outcome.type === 'unauthorized') {
          this.refuseUnlessRenewable(spec, outcome.error, renewed);
          renewed = true;
          attempts--; // the repeat after a renewal is not a failure of the service
          this.logger?.info({ call: spec.call }, 'IT Retail token refused; renewing once');
          await this.renewToken(bearer);
          continue;
        }
        // retryable
        const err = outcome.error;
        const delay = this.retryDelay(spec, attempts, Date.now() - started, err, outcome.retryAfterMs);
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

  /** A 401: a static token, or a second one right after a renewal, is final; else the token is renewed once. */
  private refuseUnlessRenewable(spec: RequestSpec, error: ITRetailError, renewed: boolean): void {
    if (this.credentials.kind === 'token') {
      throw new AuthenticationError(`${spec.call}: the IT Retail API token was refused (HTTP 401)`, {
        call: spec.call,
        status: 401,
        ...this.svc(error.serviceMessage),
      });
    }
    if (renewed) {
      throw new AuthenticationError(`${spec.call}: refused (HTTP 401) again after renewing the token`, {
        call: spec.call,
        status: 401,
        retryable: true,
        ...this.svc(error.serviceMessage),
      });
    }
  }

  /** The wait before the next attempt (jittered exponential backoff, at least Retry-After), or give up. */
  private retryDelay(
    spec: RequestSpec,
    attempts: number,
    elapsedMs: number,
    err: ITRetailError,
    retryAfterMs: number | undefined,
  ): number {
    const giveUp = (why: string) =>
      new UnavailableError(`${spec.call}: gave up after ${attempts} attempts${why} (${err.message})`, {
        call: spec.call,
        ...(err.status !== undefined ? { status: err.status } : {}),
        ...this.svc(err.serviceMessage),
        ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
      });
    if (attempts >= this.retry.maxAttempts) throw giveUp('');
    const backoff =
      Math.random() * Math.min(this.retry.maxDelayMs, this.retry.baseDelayMs * 2 ** (attempts - 1));
    const delay = retryAfterMs !== undefined ? Math.max(retryAfterMs, backoff) : backoff;
    if (elapsedMs + delay > this.retry.maxTotalMs)
      throw giveUp(`, retry budget of ${this.retry.maxTotalMs} ms spent`);
    return delay;
  }

  private transport(): TransportContext {
    return {
      baseUrl: this.baseUrl,
      dispatcher: this.dispatcher,
      timeouts: this.timeouts,
      onCall: this.onCall,
      svc: (m) => this.svc(m),
    };
  }

  private noteError(e: ITRetailError): void {
    // Only what says something about the connection to IT Retail; a refused email is not a health problem.
    if (e instanceof NotFoundError || e instanceof EmailTakenError || e instanceof InvalidInputError) return;
    this.lastError = { at: new Date().toISOString(), code: e.code, message: this.redact(e.message) };
  }
}
