import { type CustomerOutcome, syncCustomer } from '../customers.js';
import type { TopicHandler } from './types.js';

/** customers/create and customers/update: the customer's names, email and phone copied to IT Retail. */
export const handleCustomer: TopicHandler<'customers/create' | 'customers/update'> = async (
  parsed,
  run,
  ctx,
) => {
  const c = parsed.data;
  const name = [c.firstName, c.lastName].filter(Boolean).join(' ');
  run.setContext({ shopifyCustomerId: c.id, customerName: name || undefined });
  const mode = parsed.topic === 'customers/create' ? 'create' : 'update';
  const out: CustomerOutcome = await syncCustomer(
    ctx.reconcile,
    run.data.shop,
    ctx.client(),
    c,
    mode,
    run.jobId,
  );
  return {
    status: out.status,
    reason: out.reason,
    itretailCustomerId: out.itrCustomerId,
    cardNo: out.cardNo,
  };
};
