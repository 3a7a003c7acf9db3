import type express from 'express';
import type { Request, RequestHandler, Response } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Logger } from '../logger.js';
import type { Keys } from '../store/keys.js';
import { Ledger } from '../sync/ledger.js';
import type { UncertainWrite } from '../sync/write-evidence.js';

/**
 * Points writes IT Retail may or may not have applied (see src/sync/write-evidence.ts), shown under
 * Failures with both readings, and the merchant's decision: "It landed" counts the write, "Apply it" lets
 * it be written again. Each decision acts once; the held jobs of that customer then run again.
 */

type Handler = (req: Request, res: Response, shop: string) => Promise<unknown>;

interface Deps {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  retryJob(shop: string, jobId: string): Promise<string>;
  route(fn: Handler): RequestHandler;
}

const decisionSchema = z.object({
  writeId: z.string().min(1).max(64),
  decision: z.enum(['landed', 'apply']),
});

/** What the page shows for one uncertain write: what was meant, what the record showed, both readings. */
function describeUncertain(u: UncertainWrite) {
  const i = u.intent;
  const change = i.after - i.before;
  const what =
    i.kind === 'order'
      ? `${change >= 0 ? '+' : ''}${change} pts for order ${i.orderName ?? i.orderId ?? ''}`.trim()
      : `${change >= 0 ? '+' : ''}${change} pts giving back a register change`;
  return {
    itrCustomerId: u.itrCustomerId,
    writeId: i.id,
    kind: i.kind,
    orderId: i.orderId,
    orderName: i.orderName,
    what,
    at: u.at,
    why: u.why,
    pointsBefore: i.before,
    pointsWritten: i.after,
    pointsSeen: u.observed.points,
    readings: {
      landed: `It landed: IT Retail already holds the ${change >= 0 ? '+' : ''}${change} pts (it showed ${u.observed.points} pts). Nothing more is written.`,
      apply: `It did not land: the ${change >= 0 ? '+' : ''}${change} pts are applied now, to whatever IT Retail holds then (${u.observed.points} pts → ${Math.max(0, u.observed.points + change)} pts).`,
    },
  };
}

export function registerUncertainWriteRoutes(router: express.Router, deps: Deps): void {
  const ledger = new Ledger(deps.redis, deps.keys);

  router.get(
    '/uncertain-writes',
    deps.route(async (_req, _res, shop) => {
      const writes = await ledger.listUncertain(shop, 200);
      return { writes: writes.map(describeUncertain), total: await ledger.uncertainCount(shop) };
    }),
  );

  router.post(
    '/uncertain-writes/:itrId/decide',
    deps.route(async (req, res, shop) => {
      const itrId = String(req.params.itrId ?? '');
      const parsed = decisionSchema.safeParse(req.body);
      if (!parsed.success || !itrId || itrId.length > 64) {
        res
          .status(400)
          .json({ error: 'Say which write (writeId) and what happened (decision: landed or apply).' });
        return undefined;
      }
      const { writeId, decision } = parsed.data;
      const jobs = await ledger.decide(shop, itrId, writeId, decision);
      if (!jobs) {
        res.status(409).json({ error: 'This change was already decided; the page will refresh.' });
        return undefined;
      }
      let retried = 0;
      for (const jobId of jobs) {
        if ((await deps.retryJob(shop, jobId).catch(() => 'gone')) !== 'gone') retried++;
      }
      deps.logger.info(
        { shop, itretailCustomerId: itrId, writeId, decision, retried },
        'uncertain write decided',
      );
      return { ok: true, decision, retried };
    }),
  );
}
