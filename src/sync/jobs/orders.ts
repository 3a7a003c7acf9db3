import type { SyncEvent } from '../events.js';
import type { SyncClient } from '../matching.js';
import { handleOrderTopic } from '../order-jobs.js';
import type { OrderMerge } from '../order-lock.js';
import { type ReconcileOutcome, reconcileOrder } from '../reconcile.js';
import type { JobOutcome, ProcessorContext, TopicHandler } from './types.js';

type OrderTopic = 'orders/paid' | 'orders/updated' | 'orders/cancelled' | 'refunds/create' | 'orders/edited';

/** orders/paid, orders/updated, orders/cancelled, refunds/create, orders/edited: merge the facts, reconcile. */
export const handleOrder: TopicHandler<OrderTopic> = async (parsed, run, ctx) => {
  const { redis, keys } = ctx.deps;
  const shop = run.data.shop;
  // A refund without its order id is refused for good (InvalidRefundError is not retryable).
  const out = await handleOrderTopic(
    {
      shop,
      redis,
      keys,
      settings: ctx.settings,
      fetchOrderSnapshot: ctx.deps.fetchOrderSnapshot,
      setContext: run.setContext,
    },
    parsed,
  );
  if (out.kind === 'skipped') return { status: 'skipped', reason: out.reason, shopifyOrderId: out.orderId };
  return reconcileJob(ctx, shop, out.orderId, run.jobId, out.customer, out.merge);
};

async function reconcileJob(
  ctx: ProcessorContext,
  shop: string,
  orderId: string,
  jobId: string | undefined,
  customer: { firstName?: string; lastName?: string; phone?: string },
  merge?: OrderMerge,
): Promise<JobOutcome> {
  // No IT Retail call at all for an order that owes nothing and was never applied. A customer that has to
  // be created gets these names and phone, else the buyer's kept with the order. The job's facts are merged
  // by the order lock's script; its event, when it applies points, is stored by the ledger commit.
  const stage = ctx.stageEvent;
  const out: ReconcileOutcome = await reconcileOrder(ctx.reconcile, shop, lazyClient(ctx), orderId, {
    includeTestOrders: ctx.settings.includeTestOrders,
    jobId,
    mayHaveRunBefore: !ctx.firstRun,
    customer,
    merge,
    settingsDigest: ctx.settingsDigest,
    record: stage ? (o) => stage(orderJobOutcome(orderId, o)) : undefined,
  });
  const done = orderJobOutcome(orderId, out);
  return out.status === 'applied' && out.recorded ? { ...done, recorded: out.recorded as SyncEvent } : done;
}

function orderJobOutcome(orderId: string, out: ReconcileOutcome): JobOutcome {
  const common = {
    shopifyOrderId: orderId,
    orderName: out.orderName,
    itretailCustomerId: out.itrCustomerId,
    cardNo: out.cardNo,
  };
  if (out.status === 'skipped') return { status: 'skipped', reason: out.reason, ...common };
  return {
    status: 'applied',
    ...common,
    pointsBefore: out.pointsBefore,
    pointsDelta: out.pointsDelta,
    pointsAfter: out.pointsAfter,
    shortfall: out.shortfall || undefined,
    reason: out.shortfall ? `balance stopped at 0; ${out.shortfall} points could not be deducted` : undefined,
  };
}

/** A client resolved on first use, so a job that needs no IT Retail call needs no credentials either. */
function lazyClient(ctx: ProcessorContext): SyncClient {
  let c: SyncClient | undefined;
  const get = () => {
    c ??= ctx.client();
    return c;
  };
  return {
    getCustomer: (id) => get().getCustomer(id),
    updateCustomer: (r) => get().updateCustomer(r),
    createCustomer: (n) => get().createCustomer(n),
    forEachCustomer: (f) => get().forEachCustomer(f),
  };
}
