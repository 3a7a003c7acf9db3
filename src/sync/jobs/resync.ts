import { PermanentJobError } from '../../errors.js';
import { normalizeEmail } from '../payloads.js';
import { reconcileOrder } from '../reconcile.js';
import type { AdminJobHandler } from './types.js';

/** 'resync-customer': finds (or creates) the customer by email and reconciles every order kept under it. */
export const resyncCustomer: AdminJobHandler = async (job, ctx) => {
  const data = job.data;
  const email = normalizeEmail(data.email);
  if (!email) throw new PermanentJobError('resync needs a valid email address', 'INVALID_INPUT');
  const client = ctx.client();
  const m = await ctx.matcher.findOrCreate(data.shop, client, { email });
  const orders = await ctx.deps.redis.smembers(ctx.deps.keys.ordersByEmail(data.shop, email));
  let delta = 0;
  let applied = 0;
  for (const id of orders.sort()) {
    const out = await reconcileOrder(ctx.reconcile, data.shop, client, id, {
      includeTestOrders: ctx.settings.includeTestOrders,
    });
    if (out.status === 'applied') {
      applied++;
      delta += out.pointsDelta;
    }
  }
  return {
    status: applied ? 'applied' : 'skipped',
    reason: `${orders.length} orders checked, ${applied} corrected (${delta >= 0 ? '+' : ''}${delta} points)`,
    itretailCustomerId: m.id,
    cardNo: m.record.CardNo ?? undefined,
    pointsDelta: applied ? delta : undefined,
  };
};
