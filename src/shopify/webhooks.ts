import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.js';
import type { Metrics, WebhookOutcome } from '../metrics.js';
import { enqueueWebhook, QueueUnavailableError } from '../queue/enqueue.js';
import { isHandledTopic, type WebhookJobData } from '../queue/jobs.js';
import type { SyncQueues } from '../queue/shards.js';
import { addLogFields } from '../request-logger.js';
import { SHOP_DOMAIN } from '../shop-domain.js';
import type { Keys } from '../store/keys.js';
import { jsonShape } from './json-check.js';

export const WEBHOOK_PATH = '/webhooks';

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

/**
 * The handlers of `POST /webhooks`, one route for every topic: verify the HMAC over the raw bytes, check
 * the body is a JSON object, deduplicate and enqueue in one Redis round trip, answer. A 200 means the job is
 * in Redis; no other service is called in the request.
 */
export function webhookHandlers(deps: WebhookRouteDeps) {
  const logOf = (res: Response): Logger => (res.locals.log as Logger | undefined) ?? deps.logger;

  const answer = (
    res: Response,
    topic: string | undefined,
    outcome: WebhookOutcome,
    status: number,
    body: Record<string, unknown>,
  ) => {
    deps.metrics.countWebhook(topic && isHandledTopic(topic) ? topic : 'other', outcome);
    // Written directly: Express's res.json would also work out an ETag, which a webhook answer never needs.
    const text = JSON.stringify(body);
    res.statusCode = status;
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Content-Length', Buffer.byteLength(text));
    res.end(text);
  };

  // Raw bytes, whatever the content type; body-parser stops at the limit (Content-Length checked up front).
  const rawBody = express.raw({ type: () => true, limit: deps.bodyLimitBytes, inflate: false });

  // Refuses an unsigned delivery before reading its body at all; reads a signed one's raw bytes.
  const signedRawBody = (req: Request, res: Response, next: NextFunction) => {
    if (headerOf(req.headers, HMAC)) return rawBody(req, res, next);
    logOf(res).warn({ topic: headerOf(req.headers, TOPIC) }, 'webhook without HMAC refused');
    answer(res, undefined, 'unauthorized', 401, { error: 'missing X-Shopify-Hmac-Sha256 header' });
  };

  const handle = async (req: Request, res: Response) => {
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const headers = req.headers;
    if (!verifyWebhookHmac(deps.apiSecret, raw, headerOf(headers, HMAC))) {
      logOf(res).warn({ topic: headerOf(headers, TOPIC) }, 'webhook with an invalid HMAC refused');
      return answer(res, undefined, 'unauthorized', 401, { error: 'invalid HMAC' });
    }

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
      return answer(res, topic, 'bad_request', 400, { error: `missing header(s): ${missing.join(', ')}` });
    }
    if (!SHOP_DOMAIN.test(shop)) {
      return answer(res, topic, 'bad_request', 400, {
        error: `${WEBHOOK_HEADERS.shop} must be a <name>.myshopify.com domain`,
      });
    }
    if (webhookId.length > MAX_ID_LENGTH || (eventId && eventId.length > MAX_ID_LENGTH)) {
      return answer(res, topic, 'bad_request', 400, {
        error: `webhook and event ids must be at most ${MAX_ID_LENGTH} characters`,
      });
    }

    // The body goes on as the text it came as; here it is only checked to be one JSON object, without
    // building it (the worker parses it, keeping ids beyond 2^53 exact).
    const shape = jsonShape(raw);
    if (shape !== 'object') {
      if (shape === 'invalid')
        logOf(res).warn({ shop, topic, webhookId }, 'signed webhook with a body that is not JSON');
      const error = shape === 'invalid' ? 'body is not valid JSON' : 'body must be a JSON object';
      return answer(res, topic, 'bad_request', 400, { error });
    }

    if (!isHandledTopic(topic)) {
      logOf(res).info({ shop, topic, webhookId }, 'webhook topic not handled; acknowledged and ignored');
      return answer(res, topic, 'ignored', 200, { status: 'ignored' });
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
      addLogFields(res, { shop, topic, webhookId, eventId, jobId: result.jobId, webhook: result.status });
      return answer(res, topic, result.status, 200, result);
    } catch (err) {
      if (err instanceof QueueUnavailableError) {
        logOf(res).warn(
          { shop, topic, webhookId, err: err.message },
          'webhook not queued: Redis unavailable',
        );
        res.set('Retry-After', '5');
        return answer(res, topic, 'unavailable', 503, { error: 'queue unavailable, retry later' });
      }
      logOf(res).error({ shop, topic, webhookId, err }, 'webhook not queued');
      return answer(res, topic, 'error', 500, { error: 'internal error' });
    }
  };

  // body-parser's errors (too large, aborted, unsupported encoding) for this route only.
  const bodyErrors = (err: unknown, _req: Request, res: Response, next: NextFunction) => {
    const e = err as { type?: string; status?: number; message?: string };
    if (e.type === 'entity.too.large') {
      logOf(res).warn({ limit: deps.bodyLimitBytes }, 'webhook body over the limit refused');
      return answer(res, undefined, 'too_large', 413, { error: `body exceeds ${deps.bodyLimitBytes} bytes` });
    }
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
      return answer(res, undefined, 'bad_request', e.status, { error: e.message ?? 'bad request' });
    }
    next(err);
  };

  return [signedRawBody, handle, bodyErrors];
}
