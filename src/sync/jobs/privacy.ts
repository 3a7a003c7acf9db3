import type { Redis } from 'ioredis';
import { removeFinishedJobs } from '../../queue/redact.js';
import { scanKeys } from '../../store/redis.js';
import { eraseStorefrontCustomer } from '../../storefront/privacy.js';
import { BUYER_FIELDS } from '../order-state.js';
import { normalizeEmail } from '../payloads.js';
import { webhookMoment } from './moments.js';
import type { ProcessorContext, TopicHandler } from './types.js';

/**
 * The privacy topics (they still run after the app was uninstalled: privacy duties outlive the install):
 * app/uninstalled, customers/redact, shop/redact and customers/data_request.
 */

/** How long a data request report is kept (and listed on the admin page). */
const REPORT_KEEP_MS = 30 * 86_400_000;

export const handleUninstalled: TopicHandler<'app/uninstalled'> = async (_parsed, run, ctx) => {
  const shop = run.data.shop;
  if (!(await ctx.deps.settings.markUninstalled(shop, webhookMoment(run.data)))) {
    return {
      status: 'skipped',
      reason: 'uninstall triggered before the app was installed again; the app stays installed',
    };
  }
  const removed = await deleteMatching(ctx.deps.redis, ctx.deps.keys.sessionPattern(shop));
  await ctx.deps.onUninstalled?.(shop);
  return { status: 'applied', reason: `app uninstalled; sync stopped (${removed} sessions removed)` };
};

export const handleCustomerRedact: TopicHandler<'customers/redact'> = async (parsed, run, ctx) => {
  const r = parsed.data;
  const shop = run.data.shop;
  run.setContext({ shopifyCustomerId: r.customer.id });
  const n = await redactCustomer(ctx, shop, r.customer, r.orderIds);
  const jobs = ctx.deps.queue ? await removeFinishedJobs(ctx.deps.queue, shop, r.customer) : 0;
  return { status: 'applied', reason: `customer data erased (${n} orders, ${jobs} finished jobs)` };
};

export const handleShopRedact: TopicHandler<'shop/redact'> = async (_parsed, run, ctx) => {
  const shop = run.data.shop;
  if (ctx.deps.queue) await removeFinishedJobs(ctx.deps.queue, shop);
  // Every key of the shop, its sync events (ev:*) included.
  await deleteMatching(ctx.deps.redis, ctx.deps.keys.shopPattern(shop));
  await ctx.deps.settings.erase(shop);
  return { status: 'applied', reason: 'shop data erased' };
};

export const handleDataRequest: TopicHandler<'customers/data_request'> = async (parsed, run, ctx) => {
  const r = parsed.data;
  const shop = run.data.shop;
  const { redis, keys } = ctx.deps;
  run.setContext({ shopifyCustomerId: r.customer.id });
  const id = r.requestId ?? `job-${run.jobId}`;
  const report = await dataReport(ctx, shop, r.customer, r.orderIds);
  // The report, and its place in the shop's list of reports (the admin page lists from it), for 30 days.
  const now = Date.now();
  await redis
    .multi()
    .set(keys.dataRequest(shop, id), JSON.stringify(report), 'PX', REPORT_KEEP_MS)
    .zadd(keys.dataRequests(shop), now, id)
    .zremrangebyscore(keys.dataRequests(shop), '-inf', now - REPORT_KEEP_MS)
    .exec();
  return { status: 'applied', reason: 'data request report prepared' };
};

async function deleteMatching(redis: Redis, pattern: string): Promise<number> {
  let n = 0;
  // Every master of a cluster; a shop's keys share one slot, so each batch is one UNLINK.
  await scanKeys(redis, pattern, async (found) => {
    n += await redis.unlink(...found);
  });
  return n;
}

interface CustomerIds {
  id?: string;
  email?: string;
}

async function customerOrderIds(
  ctx: ProcessorContext,
  shop: string,
  customer: CustomerIds,
  extra: string[],
): Promise<string[]> {
  const { redis, keys } = ctx.deps;
  const ids = new Set(extra);
  if (customer.id) for (const o of await redis.smembers(keys.ordersByCustomer(shop, customer.id))) ids.add(o);
  if (customer.email)
    for (const o of await redis.smembers(keys.ordersByEmail(shop, customer.email))) ids.add(o);
  return [...ids];
}

/** Erases what identifies the customer; the points ledger (numbers and the IT Retail id) stays. */
async function redactCustomer(
  ctx: ProcessorContext,
  shop: string,
  customer: CustomerIds,
  orderIds: string[],
): Promise<number> {
  const { redis, keys } = ctx.deps;
  const orders = await customerOrderIds(ctx, shop, customer, orderIds);
  const tx = redis.multi();
  for (const o of orders) tx.hdel(keys.order(shop, o), 'email', 'name', 'shopifyCustomerId', ...BUYER_FIELDS);
  if (customer.id) {
    tx.hdel(keys.linkCustomer(shop), customer.id);
    tx.hdel(ctx.deps.keys.customerUpdatedAt(shop), customer.id);
    tx.del(keys.ordersByCustomer(shop, customer.id));
  }
  if (customer.email) {
    tx.hdel(keys.linkEmail(shop), customer.email);
    tx.del(keys.ordersByEmail(shop, customer.email));
  }
  await tx.exec();
  if (customer.id) await ctx.deps.events.eraseCustomer(shop, customer.id);
  if (customer.id) await eraseStorefrontCustomer(redis, keys, shop, customer.id);
  return orders.length;
}

async function ordersReport(ctx: ProcessorContext, shop: string, ids: string[]) {
  const orders = [];
  for (const id of ids) {
    const h = await ctx.deps.redis.hgetall(ctx.deps.keys.order(shop, id));
    if (Object.keys(h).length === 0) continue;
    orders.push({
      orderId: id,
      name: h.name,
      email: h.email,
      buyer: { firstName: h.buyerFirstName, lastName: h.buyerLastName, phone: h.buyerPhone },
      pointsApplied: Number(h.appliedPoints ?? 0),
      itretailCustomerId: h.itrCustomerId,
      cancelled: h.cancelled === '1',
    });
  }
  return orders;
}

async function linkedITRetailIds(ctx: ProcessorContext, shop: string, customer: CustomerIds) {
  const { redis, keys } = ctx.deps;
  const ids = new Set<string>();
  if (customer.id) {
    const v = await redis.hget(keys.linkCustomer(shop), customer.id);
    if (v) ids.add(v);
  }
  if (customer.email) {
    const v = await redis.hget(keys.linkEmail(shop), normalizeEmail(customer.email) ?? customer.email);
    if (v) ids.add(v);
  }
  return [...ids];
}

async function dataReport(ctx: ProcessorContext, shop: string, customer: CustomerIds, orderIds: string[]) {
  const orders = await ordersReport(ctx, shop, await customerOrderIds(ctx, shop, customer, orderIds));
  const itretailCustomerIds = await linkedITRetailIds(ctx, shop, customer);
  const events =
    customer.id && ctx.deps.events.forCustomer
      ? await ctx.deps.events.forCustomer(shop, { shopifyCustomerId: customer.id }, 1000)
      : [];
  return {
    generatedAt: new Date().toISOString(),
    shop,
    customer: { shopifyCustomerId: customer.id, email: customer.email },
    itretailCustomerIds,
    orders,
    syncEvents: events,
  };
}
