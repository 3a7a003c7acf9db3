import express from 'express';
import { z } from 'zod';
import { SYNC_STATUSES, type SyncEvent, type SyncStatus } from '../../sync/events.js';
import type { SectionContext } from './context.js';
import { pageQueryShape, parseQuery, route } from './http.js';

/**
 * Activity: the shop's sync events, newest first, filtered by status and topic, and searched by order,
 * customer name, card number or error text (`q`), within the newest MAX_SEARCHED events.
 */

/** Events read at most for one page of a search. */
const MAX_SEARCHED = 2_000;

const activityQuery = z.object({
  status: z
    .enum(SYNC_STATUSES as [SyncStatus, ...SyncStatus[]], { error: 'must be applied, skipped or failed' })
    .optional(),
  topic: z
    .string()
    .regex(/^[a-z_-]+(\/[a-z_-]+)+$/, 'must look like orders/paid')
    .optional(),
  q: z.string().max(100, 'is too long').optional(),
  ...pageQueryShape,
});

/** Whether an event matches every word of a search, over what a merchant would type. */
function matchesSearch(e: SyncEvent, q: string): boolean {
  const hay = [
    e.orderName,
    e.shopifyOrderId,
    e.customerName,
    e.cardNo,
    e.shopifyCustomerId,
    e.error,
    e.reason,
  ]
    .filter(Boolean)
    .join(' ')
    .toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((w) => hay.includes(w));
}

export function activityRouter(ctx: SectionContext): express.Router {
  const { events } = ctx;
  const router = express.Router();

  router.get(
    '/events',
    route(async (req, _res, shop) => {
      const { q, ...query } = parseQuery(activityQuery, req.query);
      const limit = query.limit ?? 50;
      if (!q?.trim()) return events.list(shop, { ...query, limit });
      const found: SyncEvent[] = [];
      let cursor = query.cursor;
      let read = 0;
      while (found.length < limit && read < MAX_SEARCHED) {
        const page = await events.list(shop, { ...query, cursor, limit: 100 });
        read += page.events.length;
        for (const e of page.events) {
          if (!matchesSearch(e, q)) continue;
          found.push(e);
          if (found.length === limit) return { events: found, nextCursor: e.id };
        }
        cursor = page.nextCursor;
        if (!cursor) return { events: found };
      }
      // The search stopped reading: "Show more" continues from where it stopped.
      return { events: found, nextCursor: cursor };
    }),
  );

  return router;
}
