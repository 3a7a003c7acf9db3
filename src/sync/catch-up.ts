import { randomBytes } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  type AdminJobData,
  jobIdFor,
  SYNC_JOB_OPTIONS,
  type SyncJobData,
  type WebhookJobData,
} from '../queue/jobs.js';
import {
  BudgetedGraphql,
  type GraphqlRequest,
  type PagerOptions,
  ShopifyGraphqlError,
} from '../shopify/graphql.js';
import {
  isPaid,
  LINE_ITEMS_PAGE_SIZE,
  legacyId,
  ORDER_LINES_QUERY,
  ORDERS_PAGE_SIZE,
  ORDERS_UPDATED_QUERY,
  type OrderLines,
  type OrderNode,
  orderLinesPageSchema,
  orderNodeSchema,
  ordersPageSchema,
  REFUND_LINES_PAGE_SIZE,
  REFUND_QUERY,
  type RefundDetail,
  refundPageSchema,
  toWebhookOrder,
  truncation,
  updatedBetweenQuery,
} from '../shopify/orders-query.js';
import type { Keys } from '../store/keys.js';
import { type CatchUpProgress, readCatchUp, writeCatchUp } from './catch-up-state.js';
import type { NewSyncEvent } from './events.js';

/**
 * Catch-up from the Admin API. Shopify does not guarantee webhook delivery, so every shop's orders updated
 * since its watermark are read back with the GraphQL Admin API (sorted by update, paged within the cost
 * budget) and each one is queued as the webhook Shopify would have sent: `orders/paid` for a paid order,
 * `orders/cancelled` for a cancelled one, each carrying the order's refunds. They go through the same
 * parser, idempotent facts merge and reconcile as delivered webhooks, under a job id derived from the order
 * and its `updated_at`, so one snapshot is queued once however often it is read. An order whose points
 * that job changes was missed by the webhooks: the worker records it as recovered (see jobs/runner.ts).
 *
 * A run reads the window (watermark − overlap, now − settle]; its window and cursor are saved after each page,
 * so a run stopped by an outage continues where it stopped. The watermark moves to the window's end when the
 * run completes.
 */

export interface CatchUpOptions {
  /** A shop's scheduled run is due this long after the previous one started (default 15 min). */
  everyMs?: number;
  /** The window ends this long before now, leaving in-flight webhooks and Shopify's search index time. */
  settleMs?: number;
  /** The window starts this long before the watermark (re-reads are harmless; a late index entry is not lost). */
  overlapMs?: number;
  /** A shop's first run reads this far back. */
  initialLookbackMs?: number;
  pageSize?: number;
}

export const CATCH_UP_DEFAULTS = {
  everyMs: 15 * 60_000,
  settleMs: 60_000,
  overlapMs: 5 * 60_000,
  initialLookbackMs: 24 * 3_600_000,
  pageSize: ORDERS_PAGE_SIZE,
} as const satisfies Required<CatchUpOptions>;

function catchUpJobId(shop: string, runId: string): string {
  return ['catch-up', encodeURIComponent(shop), runId].join('|');
}

type QueueLike = Pick<Queue<SyncJobData>, 'add' | 'getJob'>;

/**
 * Queues a catch-up run for the shop unless one is queued or running (then answers that one). A run that
 * stopped part-way is continued (same window, from its cursor) by the new job.
 */
export async function startCatchUp(
  ctx: { redis: Redis; keys: Keys; queue: QueueLike },
  shop: string,
  opts: Pick<CatchUpOptions, 'everyMs'> = {},
): Promise<{ jobId: string; started: boolean }> {
  const cur = await readCatchUp(ctx.redis, ctx.keys, shop);
  if ((cur.state === 'queued' || cur.state === 'running') && cur.jobId) {
    const job = await ctx.queue.getJob(cur.jobId);
    const state = job ? await job.getState() : 'unknown';
    if (state !== 'completed' && state !== 'failed' && state !== 'unknown') {
      return { jobId: cur.jobId, started: false };
    }
  }
  const runId = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const jobId = catchUpJobId(shop, runId);
  const resume = Boolean(cur.since && cur.until) && cur.state !== 'done';
  await writeCatchUp(
    ctx.redis,
    ctx.keys,
    shop,
    { state: 'queued', runId, jobId, ...(resume ? {} : { ordersSeen: 0 }) },
    resume ? ['error'] : ['error', 'since', 'until', 'cursor'],
  );
  const data: AdminJobData = { kind: 'catch-up', shop, requestedAt: new Date().toISOString(), runId };
  await ctx.queue.add('catch-up', data, { ...SYNC_JOB_OPTIONS, jobId });
  const everyMs = opts.everyMs ?? CATCH_UP_DEFAULTS.everyMs;
  if (everyMs > 0) await ctx.redis.set(ctx.keys.catchUpDue(shop), runId, 'PX', everyMs);
  return { jobId, started: true };
}

export interface CatchUpDeps {
  redis: Redis;
  keys: Keys;
  logger?: Logger;
  queue: Pick<Queue<SyncJobData>, 'add'>;
  events?: { record(e: NewSyncEvent): Promise<unknown> };
  /** GraphQL Admin API access for the shop (offline session or the custom app's token). */
  graphqlFor(shop: string): Promise<GraphqlRequest>;
  options?: CatchUpOptions;
  pager?: PagerOptions;
}

export interface CatchUpResult {
  progress: CatchUpProgress;
  queued: number;
  /** false when the job belonged to a run that another one replaced. */
  ran: boolean;
}

/** Carries out one run (the 'catch-up' job). Throws on Shopify trouble, leaving the cursor to resume from. */
export async function runCatchUp(job: { data: AdminJobData }, deps: CatchUpDeps): Promise<CatchUpResult> {
  const { redis, keys } = deps;
  const shop = job.data.shop;
  const o = { ...CATCH_UP_DEFAULTS, ...deps.options };
  let p = await readCatchUp(redis, keys, shop);
  if (job.data.runId && p.runId && job.data.runId !== p.runId) return { progress: p, queued: 0, ran: false };
  const now = Date.now();
  if (!p.since || !p.until) {
    const watermark = Date.parse(p.watermark ?? '') || now - o.initialLookbackMs;
    const since = new Date(watermark - o.overlapMs).toISOString();
    const until = new Date(Math.max(watermark, now - o.settleMs)).toISOString();
    await writeCatchUp(redis, keys, shop, {
      since,
      until,
      ordersSeen: 0,
      startedAt: new Date(now).toISOString(),
    });
  }
  await writeCatchUp(redis, keys, shop, { state: 'running', runId: job.data.runId ?? p.runId }, ['error']);
  p = await readCatchUp(redis, keys, shop);
  const runId = p.runId ?? 'unscheduled';
  const budget = new BudgetedGraphql(await deps.graphqlFor(shop), {
    ...deps.pager,
    costEstimate: o.pageSize * 30,
  });
  const search = updatedBetweenQuery(p.since as string, p.until as string);
  let cursor = p.cursor;
  let queued = 0;
  for (;;) {
    const res = await budget.send(
      ORDERS_UPDATED_QUERY,
      { first: o.pageSize, after: cursor ?? null, query: search },
      budget.lastCost,
    );
    const page = ordersPageSchema.safeParse(res.data);
    if (!page.success)
      throw new ShopifyGraphqlError('Shopify answered the orders query with an unexpected shape');
    for (const raw of page.data.orders.nodes) queued += await catchUpOrder(deps, budget, shop, runId, raw);
    const { hasNextPage, endCursor } = page.data.orders.pageInfo;
    // The page's count and the next page's cursor move together.
    const tx = redis.multi().hincrby(keys.catchUp(shop), 'ordersSeen', page.data.orders.nodes.length);
    if (endCursor) tx.hset(keys.catchUp(shop), 'cursor', endCursor);
    await tx.exec();
    if (!hasNextPage || !endCursor) break;
    cursor = endCursor;
  }
  p = await readCatchUp(redis, keys, shop);
  await writeCatchUp(
    redis,
    keys,
    shop,
    {
      state: 'done',
      watermark: p.until,
      lastRunId: runId,
      lastRunAt: new Date().toISOString(),
      lastOrdersSeen: p.ordersSeen,
    },
    ['since', 'until', 'cursor', 'error'],
  );
  const progress = await readCatchUp(redis, keys, shop);
  deps.logger?.info({ shop, runId, ordersSeen: progress.lastOrdersSeen, queued }, 'catch-up run finished');
  return { progress, queued, ran: true };
}

/**
 * One order read whole from the Admin API (its refunds' and line items' details too), in the shape a webhook
 * carries: what a refund or an edit of an order whose facts were compacted away reads to continue exactly.
 * Undefined when Shopify does not know the order.
 */
export async function readOrderSnapshot(
  graphql: GraphqlRequest,
  orderId: string,
): Promise<unknown | undefined> {
  const budget = new BudgetedGraphql(graphql, { costEstimate: 60 });
  const res = await budget.send(ORDERS_UPDATED_QUERY, { first: 1, after: null, query: `id:${orderId}` }, 60);
  const page = ordersPageSchema.safeParse(res.data);
  if (!page.success)
    throw new ShopifyGraphqlError('Shopify answered the orders query with an unexpected shape');
  const raw = page.data.orders.nodes.find(
    (n) => legacyId(String((n as { id?: unknown }).id ?? '')) === orderId,
  );
  if (!raw) return undefined;
  const order = orderNodeSchema.parse(raw);
  const tooBig = truncation(order);
  if (tooBig) throw new ShopifyGraphqlError(`order ${order.name ?? orderId} cannot be read whole: ${tooBig}`);
  const refunds: RefundDetail[] = [];
  for (const r of order.refunds ?? []) {
    const detail = await readRefund(budget, r.id);
    if (detail) refunds.push(detail);
  }
  return toWebhookOrder(order, refunds, await readLines(budget, order.id));
}

/** Reads one order whole (its refunds' lines too) and queues the webhooks it stands for; returns how many. */
async function catchUpOrder(
  deps: CatchUpDeps,
  budget: BudgetedGraphql,
  shop: string,
  runId: string,
  raw: unknown,
): Promise<number> {
  const parsed = orderNodeSchema.safeParse(raw);
  const idOf = (v: unknown) => legacyId(String((v as { id?: unknown })?.id ?? ''));
  if (!parsed.success) {
    await reportUnreadable(
      deps,
      shop,
      idOf(raw),
      undefined,
      'Shopify answered with fields it could not read',
    );
    return 0;
  }
  const order = parsed.data;
  const tooBig = truncation(order);
  if (tooBig) {
    await reportUnreadable(deps, shop, legacyId(order.id), order.name ?? undefined, `${tooBig}`);
    return 0;
  }
  const topics: string[] = [];
  if (isPaid(order)) topics.push('orders/paid');
  if (order.cancelledAt) topics.push('orders/cancelled');
  if (!topics.length) return 0; // neither paid nor cancelled: nothing a webhook would have done
  const refunds: RefundDetail[] = [];
  for (const r of order.refunds ?? []) {
    const detail = await readRefund(budget, r.id);
    if (detail) refunds.push(detail);
  }
  const payload = toWebhookOrder(order, refunds, await readLines(budget, order.id));
  for (const topic of topics) await queueAsWebhook(deps, shop, runId, topic, order, payload);
  return topics.length;
}

async function readLines(budget: BudgetedGraphql, id: string): Promise<OrderLines> {
  const out: OrderLines = { lineItems: [], shippingLines: [] };
  let after: string | undefined;
  for (let first = true; ; first = false) {
    const res = await budget.send(
      ORDER_LINES_QUERY,
      { id, first: LINE_ITEMS_PAGE_SIZE, after: after ?? null },
      560,
    );
    const page = orderLinesPageSchema.safeParse(res.data);
    if (!page.success)
      throw new ShopifyGraphqlError('Shopify answered the order lines query with an unexpected shape');
    const o = page.data.order;
    if (!o) return out;
    out.lineItems.push(...o.lineItems.nodes);
    if (first) out.shippingLines = o.shippingLines.nodes;
    const { hasNextPage, endCursor } = o.lineItems.pageInfo;
    if (!hasNextPage || !endCursor) return out;
    after = endCursor;
  }
}

async function readRefund(budget: BudgetedGraphql, id: string): Promise<RefundDetail | undefined> {
  let after: string | undefined;
  let detail: RefundDetail | undefined;
  for (;;) {
    const res = await budget.send(
      REFUND_QUERY,
      { id, first: REFUND_LINES_PAGE_SIZE, after: after ?? null },
      210,
    );
    const page = refundPageSchema.safeParse(res.data);
    if (!page.success)
      throw new ShopifyGraphqlError('Shopify answered the refund query with an unexpected shape');
    const r = page.data.refund;
    if (!r) return detail;
    // Shipping and adjustments come whole with the first page.
    detail ??= {
      id: r.id,
      createdAt: r.createdAt,
      lines: [],
      shipping: (r.refundShippingLines?.nodes ?? []).flatMap((n) =>
        n.subtotalAmountSet ? [{ subtotalAmountSet: n.subtotalAmountSet }] : [],
      ),
      adjustments: (r.orderAdjustments?.nodes ?? []).flatMap((n) =>
        n.amountSet ? [{ reason: n.reason, amountSet: n.amountSet }] : [],
      ),
    };
    detail.lines.push(...r.refundLineItems.nodes);
    const { hasNextPage, endCursor } = r.refundLineItems.pageInfo;
    if (!hasNextPage || !endCursor) return detail;
    after = endCursor;
  }
}

async function queueAsWebhook(
  deps: CatchUpDeps,
  shop: string,
  runId: string,
  topic: string,
  order: OrderNode,
  payload: Record<string, unknown>,
): Promise<void> {
  const orderId = legacyId(order.id);
  const snapshot = `catch-up:${orderId}:${Date.parse(order.updatedAt) || order.updatedAt}`;
  const data: WebhookJobData = {
    kind: 'webhook',
    shop,
    topic,
    webhookId: snapshot,
    receivedAt: new Date().toISOString(),
    payload,
    source: 'catch-up',
    catchUpRunId: runId,
  };
  // BullMQ ignores an add whose id exists: one order snapshot is one job, however often it is read.
  await deps.queue.add(topic, data, { ...SYNC_JOB_OPTIONS, jobId: jobIdFor(shop, topic, snapshot) });
}

async function reportUnreadable(
  deps: CatchUpDeps,
  shop: string,
  orderId: string,
  name: string | undefined,
  why: string,
): Promise<void> {
  deps.logger?.warn({ shop, order: orderId, why }, 'catch-up could not read an order');
  await deps.events?.record({
    shop,
    topic: 'catch-up/orders',
    status: 'failed',
    shopifyOrderId: orderId || undefined,
    orderName: name,
    errorCode: 'CATCH_UP_UNREADABLE',
    error: `Catch-up could not read this order from Shopify (${why}); its points follow its webhooks only.`,
  });
}
