import express from 'express';
import { enqueueAdminJob } from '../../queue/enqueue.js';
import type { SyncEvent } from '../../sync/events.js';
import { normalizeEmail } from '../../sync/payloads.js';
import { explainItretailError } from '../itretail-access.js';
import type { SectionContext } from './context.js';
import { BadRequest, Conflict, route } from './http.js';

/**
 * Customer lookup (the link, the live IT Retail balance, the points of each order) and Resync. A Resync of
 * an email the app has never seen would create an IT Retail customer (a typo makes a real record), so it
 * needs `confirmCreate: true` unless the email is linked, in IT Retail's index, or on a synced order.
 */

function emailFrom(value: unknown): string {
  const email = typeof value === 'string' ? normalizeEmail(value) : undefined;
  if (!email || email.length > 320 || /\s/.test(email)) {
    throw new BadRequest('Enter a valid email address.', { email: 'Enter a valid email address.' });
  }
  return email;
}

/** Which orders a customer's points came from: net points per order from the applied events. */
function ordersFromEvents(events: SyncEvent[]) {
  const byOrder = new Map<
    string,
    {
      shopifyOrderId: string;
      orderName?: string;
      points: number;
      lastAt: string;
      lastTopic: string;
      lastStatus: string;
    }
  >();
  for (const e of [...events].sort((a, b) => a.at.localeCompare(b.at))) {
    if (!e.shopifyOrderId) continue;
    const o = byOrder.get(e.shopifyOrderId) ?? {
      shopifyOrderId: e.shopifyOrderId,
      orderName: e.orderName,
      points: 0,
      lastAt: e.at,
      lastTopic: e.topic,
      lastStatus: e.status,
    };
    if (e.status === 'applied' && typeof e.pointsDelta === 'number') o.points += e.pointsDelta;
    o.orderName ??= e.orderName;
    o.lastAt = e.at;
    o.lastTopic = e.topic;
    o.lastStatus = e.status;
    byOrder.set(e.shopifyOrderId, o);
  }
  return [...byOrder.values()].sort((a, b) => b.lastAt.localeCompare(a.lastAt));
}

/** The live IT Retail record of a linked customer, or why it cannot be shown. */
async function liveRecord(ctx: SectionContext, shop: string, itrId: string | undefined) {
  const { itretail } = ctx;
  if (!itrId) {
    return { message: 'Not linked to an IT Retail customer yet. Resync finds or creates one.' };
  }
  const client = await itretail.clientFor(shop);
  if (!client) return { message: 'IT Retail is not connected; set it up under Settings.' };
  try {
    const rec = await client.getCustomer(itrId);
    if (!rec) {
      return {
        message: 'The linked IT Retail customer no longer exists. Resync matches the customer again.',
      };
    }
    return {
      record: {
        id: rec.Id,
        name: [rec.FirstName, rec.LastName].filter(Boolean).join(' '),
        email: rec.Email ?? undefined,
        cardNo: rec.CardNo ?? undefined,
        loyaltyPoints: rec.LoyaltyPoints ?? 0,
        deleted: rec.Deleted === true,
      },
    };
  } catch (err) {
    return { message: `Could not read the live balance: ${explainItretailError(err).message}` };
  }
}

/** Whether the app already knows this email: a Resync then links or updates rather than creates. */
async function knownEmail(ctx: SectionContext, shop: string, email: string): Promise<boolean> {
  const { links, redis, keys } = ctx;
  if (await links.linkedByEmail(shop, email)) return true;
  if (await links.indexLookup(shop, email)) return true;
  return (await redis.scard(keys.ordersByEmail(shop, email))) > 0;
}

export function customersRouter(ctx: SectionContext): express.Router {
  const { events, links, enqueueCtx, logger } = ctx;
  const router = express.Router();

  router.get(
    '/customers',
    route(async (req, _res, shop) => {
      const email = emailFrom(req.query.email);
      const linked = await links.linkedByEmail(shop, email);
      const indexed = linked ? undefined : await links.indexLookup(shop, email);
      const itrId = linked ?? indexed?.id;
      const live = await liveRecord(ctx, shop, itrId);
      const dups = (await links.duplicates(shop, email)).filter((d) => d.id !== itrId);
      const history = itrId ? await events.forCustomer(shop, { itretailCustomerId: itrId }, 200) : [];
      const known = Boolean(itrId) || (await knownEmail(ctx, shop, email));
      return {
        email,
        known,
        link: itrId ? { itretailCustomerId: itrId, via: linked ? 'link' : 'index' } : null,
        itretail: live.record ?? null,
        itretailMessage: live.message,
        duplicates: dups,
        orders: ordersFromEvents(history),
        events: history.slice(0, 50),
      };
    }),
  );

  router.post(
    '/customers/resync',
    route(async (req, _res, shop) => {
      const body = (req.body ?? {}) as { email?: unknown; confirmCreate?: unknown };
      const email = emailFrom(body.email);
      if (body.confirmCreate !== true && !(await knownEmail(ctx, shop, email))) {
        throw new Conflict(
          `No customer with ${email} is known to the app. A Resync would create a new IT Retail customer with this email.`,
          { needsConfirmCreate: true, email },
        );
      }
      const { jobId } = await enqueueAdminJob(enqueueCtx, {
        kind: 'resync-customer',
        shop,
        email,
        requestedAt: new Date().toISOString(),
      });
      logger.info({ shop, jobId, confirmCreate: body.confirmCreate === true }, 'resync requested');
      return { ok: true, jobId };
    }),
  );

  return router;
}
