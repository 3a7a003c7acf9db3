import { type Dispatcher, request } from 'undici';
import type { CallEvent } from './client.js';
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
import { serviceErrorSchema } from './schemas.js';

/**
 * One HTTP attempt against IT Retail and the reading of its answer: which failures may be retried, which
 * writes may or may not have been applied, and how a body is validated (whole, or streamed record by
 * record). The client (client.ts) adds the token, the retries and the calls themselves.
 */

/** What an attempt needs from its client. */
export interface TransportContext {
  baseUrl: string;
  dispatcher: Dispatcher;
  timeouts: { headersMs: number; bodyMs: number };
  onCall?: (e: CallEvent) => void;
  /** The service's message, scrubbed of anything secret and kept short. */
  svc(message: string | undefined): { serviceMessage?: string };
}

type Report = (status: CallEvent['status'], errorCode?: string) => void;

type Kind = 'read' | 'write' | 'token';

export interface RequestSpec {
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

export type Attempt<T> =
  | { type: 'ok'; value: T }
  | { type: 'unauthorized'; error: ITRetailError }
  | { type: 'retry'; error: ITRetailError; retryAfterMs?: number }
  | { type: 'fatal'; error: unknown };

/** Wraps an exception thrown by the caller's own callback so it is passed through untouched. */
export class CallbackFailure {
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

export function errorCodeOf(err: unknown): string | undefined {
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

export function isNetworkError(err: unknown): boolean {
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

const MAX_ERROR_BODY = 64 * 1024;

/** One HTTP attempt of a call, its answer classified (never throws for the service's or the network's trouble). */
export async function sendAttempt<T>(
  ctx: TransportContext,
  spec: RequestSpec,
  bearer: string | undefined,
  consume: (res: Dispatcher.ResponseData) => Promise<T>,
): Promise<Attempt<T>> {
  const t0 = performance.now();
  const report: Report = (status, errorCode) => {
    if (!ctx.onCall) return;
    try {
      ctx.onCall({
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
    res = await request(ctx.baseUrl + spec.path, {
      dispatcher: ctx.dispatcher,
      method: spec.method,
      headers,
      ...(spec.body !== undefined ? { body: spec.body } : {}),
      headersTimeout: ctx.timeouts.headersMs,
      bodyTimeout: ctx.timeouts.bodyMs,
    });
  } catch (err) {
    return transportFailure(spec, err, report, false);
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
      if (isNetworkError(err)) return transportFailure(spec, err, report, true, status);
      const e = new MalformedResponseError(`${spec.call}: unreadable answer (HTTP ${status})`, {
        call: spec.call,
        status,
      });
      report(status, e.code);
      return { type: 'fatal', error: e };
    }
  }

  return refusal(ctx, spec, res, report);
}

/** A non-2xx answer: what kind of failure it is, from its status and the service's message. */
async function refusal<T>(
  ctx: TransportContext,
  spec: RequestSpec,
  res: Dispatcher.ResponseData,
  report: Report,
): Promise<Attempt<T>> {
  const status = res.statusCode;
  let text = '';
  try {
    text = await readCapped(res.body, MAX_ERROR_BODY);
  } catch {
    // the status is what matters; an unreadable error body is not worth a failure of its own
  }
  const serviceMessage = serviceMessageOf(text);
  const svc = ctx.svc(serviceMessage);
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
function transportFailure<T>(
  spec: RequestSpec,
  err: unknown,
  report: Report,
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

function serviceMessageOf(text: string): string | undefined {
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
