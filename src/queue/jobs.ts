import { createHash } from 'node:crypto';
import type { DefaultJobOptions } from 'bullmq';
import { parseJsonKeepingBigIntegers } from '../shopify/json.js';

/** A verified Shopify webhook, as the web process put it on the queue. */
export interface WebhookJobData {
  kind: 'webhook';
  /** From X-Shopify-Shop-Domain (lower-case `<name>.myshopify.com`). */
  shop: string;
  /** `orders/paid` form: lower-case with a slash, as in X-Shopify-Topic. */
  topic: string;
  webhookId: string;
  eventId?: string;
  apiVersion?: string;
  triggeredAt?: string;
  receivedAt: string;
  /**
   * The body as Shopify sent it (the JSON text of an object, checked by the web process). The web process
   * passes it on untouched; the worker parses it once, keeping ids beyond 2^53 exact (webhookPayload).
   */
  body?: string;
  /**
   * The parsed body: what the worker validates per topic (set from `body`; jobs of older versions and the
   * catch-up's jobs carry it).
   */
  payload?: unknown;
  /** Set when the catch-up read this order from the Admin API instead of Shopify delivering a webhook. */
  source?: 'catch-up';
  /** The catch-up run that queued it (its recovered orders are counted per run). */
  catchUpRunId?: string;
}

export interface AdminJobData {
  kind: 'resync-customer' | 'link-existing' | 'catch-up' | 'metafield-sync' | 'redeem' | 'redemption-expiry';
  shop: string;
  requestedAt: string;
  /** resync-customer */
  email?: string;
  /** link-existing: resume point */
  cursor?: string;
  /** catch-up: the run this job carries out */
  runId?: string;
  /** redeem, redemption-expiry: the redemption (`<Shopify customer>:<key>`) */
  redemption?: string;
}

export type SyncJobData = WebhookJobData | AdminJobData;

/**
 * The parsed payload of a webhook job, set on `data.payload` (parsed from `data.body` at most once; a job
 * queued by an earlier version already has it). A body that is not JSON leaves `payload` undefined, which
 * the per-topic validation refuses with a plain error.
 */
export function webhookPayload(data: WebhookJobData): unknown {
  if (data.payload === undefined && typeof data.body === 'string') {
    try {
      data.payload = parseJsonKeepingBigIntegers(data.body);
    } catch {
      return undefined;
    }
  }
  return data.payload;
}

/** Topics the bridge acts on; any other verified webhook is acknowledged and ignored. */
export const HANDLED_TOPICS = Object.freeze([
  'customers/create',
  'customers/update',
  'orders/paid',
  'orders/updated',
  'orders/edited',
  'orders/cancelled',
  'refunds/create',
  'app/uninstalled',
  'customers/redact',
  'shop/redact',
  'customers/data_request',
] as const);

const HANDLED: ReadonlySet<string> = new Set(HANDLED_TOPICS);
export function isHandledTopic(topic: string): boolean {
  return HANDLED.has(topic);
}

/**
 * Retry and retention policy of every sync job.
 * - 12 attempts with exponential backoff from 2 s (2 s, 4 s, … ≈ 68 min for the last), with 50 % jitter so
 *   a burst that failed together (IT Retail down) does not retry in lock-step.
 * - Completed jobs kept 24 h (at most 10 000) for the admin page; failed ones 14 days so they can be retried.
 */
export const SYNC_JOB_OPTIONS: DefaultJobOptions = Object.freeze({
  attempts: 12,
  backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
  removeOnComplete: { age: 24 * 3600, count: 10_000 },
  removeOnFail: { age: 14 * 24 * 3600 },
});

const MAX_JOB_ID_LENGTH = 200;

/**
 * Deterministic job id of one event of one shop and topic, so a repeat delivery collapses onto the same job.
 * Each part is percent-encoded (never contains ':' — BullMQ refuses it in custom ids — nor the '|'
 * separator), so two different triples never give the same id; over-long ids are hashed.
 */
export function jobIdFor(shop: string, topic: string, eventKey: string): string {
  const id = ['wh', shop, topic, eventKey].map(encodeURIComponent).join('|');
  if (id.length <= MAX_JOB_ID_LENGTH) return id;
  const digest = createHash('sha256').update(`${shop}\n${topic}\n${eventKey}`).digest('hex');
  return `wh|${encodeURIComponent(shop)}|${encodeURIComponent(topic)}|sha256-${digest}`;
}
