import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { Metrics, WebhookOutcome } from '../metrics.js';
import { enqueueWebhook, QueueUnavailableError } from '../queue/enqueue.js';
import { isHandledTopic, type WebhookJobData } from '../queue/jobs.js';
import type { SyncQueues } from '../queue/shards.js';
import { REQUEST_ID_HEADER, requestIdOf, safeUrl } from '../request-logger.js';
import { SHOP_DOMAIN } from '../shop-domain.js';
import type { Keys } from '../store/keys.js';
import { jsonShape } from './json-check.js';

const WEBHOOK_PATH = '/webhooks';

/** Header names as Shopify sends them; Node lower-cases names, and `req.get` matches them in any case. */
const WEBHOOK_HEADERS = {
  hmac: 'X-Shopify-Hmac-Sha256',
  topic: 'X-Shopify-Topic',
  shop: 'X-Shopify-Shop-Domain',
  webhookId: 'X-Shopify-Webhook-Id',
  eventId: 'X-Shopify-Event-Id',
  apiVersion: 'X-Shopify-API-Version',
  triggeredAt: 'X-Shopify-Triggered-At',
} as const;

const MAX_ID_LENGTH = 200;

/**
 * Whether a request URL is the webhook route, matched as Express matched it: any letter case, an optional
 * trailing slash, any query string.
 */
export function isWebhookUrl(url: string | undefined): boolean {
  if (url === WEBHOOK_PATH) return true;
  if (url === undefined) return false;
  const q = url.indexOf('?');
  const path = (q < 0 ? url : url.slice(0, q)).toLowerCase();
  return path === WEBHOOK_PATH || path === `${WEBHOOK_PATH}/`;
}

// Node lower-cases incoming header names; reading them from `req.headers` skips `req.get`'s own lower-casing.
const HMAC = 'x-shopify-hmac-sha256';
const TOPIC = 'x-shopify-topic';
const SHOP = 'x-shopify-shop-domain';
const WEBHOOK_ID = 'x-shopify-webhook-id';
const EVENT_ID = 'x-shopify-event-id';
const API_VERSION = 'x-shopify-api-version';
const TRIGGERED_AT = 'x-shopify-triggered-at';

/** A header's value, trimmed; undefined when it is absent or blank. */
function headerOf(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return typeof v === 'string' ? v.trim() || undefined : undefined;
}

export interface WebhookRouteDeps {
  apiSecret: string;
  bodyLimitBytes: number;
  logger: Logger;
  redis: Redis;
  keys: Keys;
  queue: SyncQueues;
  metrics: Metrics;
}

/**
 * True when `hmacHeader` is the base64 HMAC-SHA256 of the exact body bytes under `secret`. Compared in
 * constant time on the decoded digests (the library's `webhooks.validate` takes the body as a string,
 * which would not be the raw bytes for a body that is not valid UTF-8).
 */
export function verifyWebhookHmac(secret: string, rawBody: Buffer, hmacHeader: string | undefined): boolean {
  if (!hmacHeader) return false;
  const given = hmacHeader.trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(given)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const actual = Buffer.from(given, 'base64');
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

/** A body reader's outcome: the bytes, or the status refusing them. */
type BodyResult = { body: Buffer } | { status: 400 | 413 | 415; error: string };

const EMPTY = Buffer.alloc(0);

/**
 * Reads the request's raw bytes: refuses a declared Content-Length over `limit` before reading, stops
 * buffering (and answers) as soon as a chunked body grows over it, refuses an encoded body (the HMAC is over
 * the bytes as sent, and they are never inflated), and joins the chunks with one Buffer.concat.
 */
function readRawBody(req: IncomingMessage, limit: number, done: (r: BodyResult) => void): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume();
    done({ status: 413, error: `body exceeds ${limit} bytes` });
    return;
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') {
    req.resume();
    done({ status: 415, error: `unsupported content encoding "${encoding}"` });
    return;
  }
  let first: Buffer | undefined;
  let chunks: Buffer[] | undefined;
  let size = 0;
  let finished = false;
  const finish = (r: BodyResult) => {
    if (finished) return;
    finished = true;
    req.off('data', onData);
    done(r);
  };
  const onData = (chunk: Buffer) => {
    size += chunk.length;
    if (size > limit) {
      // The rest is read and dropped (the connection stays usable); nothing more is kept.
      req.resume();
      return finish({ status: 413, error: `body exceeds ${limit} bytes` });
    }
    if (first === undefined) first = chunk;
    else if (chunks === undefined) chunks = [first, chunk];
    else chunks.push(chunk);
  };
  req.on('data', onData);
  req.once('end', () => finish({ body: chunks ? Buffer.concat(chunks, size) : (first ?? EMPTY) }));
  req.once('error', () => finish({ status: 400, error: 'request aborted' }));
}

/** One delivery in progress: the request, its id and start, and what its finishing log line adds. */
interface Delivery {
  req: IncomingMessage;
  res: ServerResponse;
  reqId: string;
  started: bigint;
  fields?: Record<string, unknown>;
}

type Answer = (
  d: Delivery,
  topic: string | undefined,
  outcome: WebhookOutcome,
  status: number,
  body: Record<string, unknown>,
) => void;

/**
 * Answers a delivery, counts it by topic and outcome, observes its duration and writes its one log line (the
 * request logger's line: request id, what the route added, method, URL, status, time).
 */
function answerFor(metrics: Pick<Metrics, 'countWebhook' | 'observeRequest'>, logger: Logger): Answer {
  return (d, topic, outcome, status, body) => {
    metrics.countWebhook(topic && isHandledTopic(topic) ? topic : 'other', outcome);
    const { req, res } = d;
    const text = JSON.stringify(body);
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
    const seconds = Number(process.hrtime.bigint() - d.started) / 1e9;
    metrics.observeRequest('POST', WEBHOOK_PATH, status, seconds);
    const line = {
      reqId: d.reqId,
      ...d.fields,
      req: { method: 'POST', url: safeUrl(req.url ?? ''), userAgent: req.headers['user-agent'] },
      res: { statusCode: status },
      responseTimeMs: Math.round(seconds * 1e4) / 10,
    };
    if (status >= 500) logger.error(line, 'request failed');
    else logger.info(line, 'request completed');
  };
}

/**
 * The handler of `POST /webhooks`, one route for every topic: read the raw bytes (capped), verify the HMAC
 * over them, check the body is a JSON object, deduplicate and enqueue in one Redis round trip, answer. A 200
 * means the job is in Redis; no other service is called in the request.
 *
 * It is the whole request (createApp takes it before Express): it gives the request its id and writes its
 * one log line itself, so an accepted webhook costs no more than the bridge needs — no body parser, no
 * per-request logger, no finish listeners.
 */
export function webhookHandler(deps: WebhookRouteDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const { logger } = deps;
  const answer = answerFor(deps.metrics, logger);
  return (req, res) => {
    const started = process.hrtime.bigint();
    const reqId = requestIdOf(req.headers);
    res.setHeader(REQUEST_ID_HEADER, reqId);
    const d: Delivery = { req, res, reqId, started };
    // An unsigned delivery is refused before its body is read at all.
    if (!headerOf(req.headers, HMAC)) {
      req.resume();
      logger.warn({ reqId, topic: headerOf(req.headers, TOPIC) }, 'webhook without HMAC refused');
      return answer(d, undefined, 'unauthorized', 401, { error: 'missing X-Shopify-Hmac-Sha256 header' });
    }
    readRawBody(req, deps.bodyLimitBytes, (r) => {
      if ('status' in r) {
        if (r.status === 413)
          logger.warn({ reqId, limit: deps.bodyLimitBytes }, 'webhook body over the limit refused');
        if (res.headersSent || res.destroyed) return;
        const outcome = r.status === 413 ? 'too_large' : 'bad_request';
        return answer(d, undefined, outcome, r.status, { error: r.error });
      }
      handleDelivery(deps, answer, d, r.body).catch((err: unknown) => {
        logger.error({ reqId, err }, 'webhook handler failed');
        if (!res.headersSent) answer(d, undefined, 'error', 500, { error: 'internal error' });
      });
    });
  };
}

/** A signed delivery's bytes: checked, queued (or refused), answered. */
async function handleDelivery(
  deps: WebhookRouteDeps,
  answer: Answer,
  d: Delivery,
  raw: Buffer,
): Promise<void> {
  const { logger } = deps;
  const headers = d.req.headers;
  if (!verifyWebhookHmac(deps.apiSecret, raw, headerOf(headers, HMAC))) {
    logger.warn({ reqId: d.reqId, topic: headerOf(headers, TOPIC) }, 'webhook with an invalid HMAC refused');
    return answer(d, undefined, 'unauthorized', 401, { error: 'invalid HMAC' });
  }

  const ids = webhookIds(headers);
  if ('error' in ids) return answer(d, ids.topic, 'bad_request', 400, { error: ids.error });
  const { shop, topic, webhookId, eventId } = ids;

  // The body goes on as the text it came as; here it is only checked to be one JSON object, without
  // building it (the worker parses it, keeping ids beyond 2^53 exact).
  const shape = jsonShape(raw);
  if (shape !== 'object') {
    if (shape === 'invalid')
      logger.warn({ reqId: d.reqId, shop, topic, webhookId }, 'signed webhook with a body that is not JSON');
    const error = shape === 'invalid' ? 'body is not valid JSON' : 'body must be a JSON object';
    return answer(d, topic, 'bad_request', 400, { error });
  }

  if (!isHandledTopic(topic)) {
    logger.info(
      { reqId: d.reqId, shop, topic, webhookId },
      'webhook topic not handled; acknowledged and ignored',
    );
    return answer(d, topic, 'ignored', 200, { status: 'ignored' });
  }

  const data: WebhookJobData = {
    kind: 'webhook',
    shop,
    topic,
    webhookId,
    eventId,
    apiVersion: headerOf(headers, API_VERSION),
    triggeredAt: headerOf(headers, TRIGGERED_AT),
    receivedAt: new Date().toISOString(),
    body: raw.toString('utf8'),
  };
  try {
    const result = await enqueueWebhook(deps, data);
    // Said once, on the request's finishing line.
    d.fields = { shop, topic, webhookId, eventId, jobId: result.jobId, webhook: result.status };
    return answer(d, topic, result.status, 200, result);
  } catch (err) {
    if (err instanceof QueueUnavailableError) {
      logger.warn(
        { reqId: d.reqId, shop, topic, webhookId, err: err.message },
        'webhook not queued: Redis unavailable',
      );
      d.res.setHeader('Retry-After', '5');
      return answer(d, topic, 'unavailable', 503, { error: 'queue unavailable, retry later' });
    }
    logger.error({ reqId: d.reqId, shop, topic, webhookId, err }, 'webhook not queued');
    return answer(d, topic, 'error', 500, { error: 'internal error' });
  }
}

/** The delivery's shop, topic and ids from its headers, or what is wrong with them (a 400). */
function webhookIds(
  headers: IncomingHttpHeaders,
):
  | { shop: string; topic: string; webhookId: string; eventId: string | undefined }
  | { topic: string | undefined; error: string } {
  const shop = headerOf(headers, SHOP)?.toLowerCase();
  const topic = headerOf(headers, TOPIC)?.toLowerCase();
  const webhookId = headerOf(headers, WEBHOOK_ID);
  const eventId = headerOf(headers, EVENT_ID);
  if (!shop || !topic || !webhookId) {
    const missing = [
      !shop && WEBHOOK_HEADERS.shop,
      !topic && WEBHOOK_HEADERS.topic,
      !webhookId && WEBHOOK_HEADERS.webhookId,
    ].filter(Boolean);
    return { topic, error: `missing header(s): ${missing.join(', ')}` };
  }
  if (!SHOP_DOMAIN.test(shop)) {
    return { topic, error: `${WEBHOOK_HEADERS.shop} must be a <name>.myshopify.com domain` };
  }
  if (webhookId.length > MAX_ID_LENGTH || (eventId && eventId.length > MAX_ID_LENGTH)) {
    return { topic, error: `webhook and event ids must be at most ${MAX_ID_LENGTH} characters` };
  }
  return { shop, topic, webhookId, eventId };
}
