import express from 'express';
import type { Redis } from 'ioredis';
import type { Keys } from '../../store/keys.js';
import type { SectionContext } from './context.js';
import { BadRequest, NotFound, route } from './http.js';

/** customers/data_request reports: listed newest first, handed over as a JSON download (kept 30 days). */

/** Data request reports listed at most (newest first). */
const DATA_REQUEST_LIST_MAX = 100;
/** The report starts `{"generatedAt":…,"shop":…,"customer":{"shopifyCustomerId":…,"email":…`: its head names them. */
const REPORT_HEAD_BYTES = 1024;

interface DataRequestSummary {
  id: string;
  /** When the report was prepared. */
  at?: string;
  shopifyCustomerId?: string;
  /** The customer's email, as the report names it. */
  email?: string;
}

function jsonStringField(head: string, name: string): string | undefined {
  const m = new RegExp(`"${name}":("(?:[^"\\\\]|\\\\.)*")`).exec(head);
  if (!m?.[1]) return undefined;
  try {
    return JSON.parse(m[1]) as string;
  } catch {
    return undefined;
  }
}

/**
 * The customers/data_request reports the worker keeps (30 days) under `data-request:<request id>`, newest
 * first, from the per-shop index the worker writes with each report. Only the head of each report is read.
 */
async function listDataRequests(
  redis: Redis,
  keys: Keys,
  shop: string,
): Promise<{ requests: DataRequestSummary[]; complete: boolean }> {
  const index = keys.dataRequests(shop);
  const [ids, total] = await Promise.all([
    redis.zrevrange(index, 0, DATA_REQUEST_LIST_MAX - 1),
    redis.zcard(index),
  ]);
  const tx = redis.pipeline();
  for (const id of ids) tx.getrange(keys.dataRequest(shop, id), 0, REPORT_HEAD_BYTES - 1);
  const heads = (await tx.exec()) ?? [];
  const reports: DataRequestSummary[] = [];
  ids.forEach((id, i) => {
    const head = heads[i]?.[1];
    if (typeof head !== 'string' || head === '') return; // expired meanwhile
    const customer = head.slice(head.indexOf('"customer":'));
    const email = head.includes('"customer":') ? jsonStringField(customer, 'email') : undefined;
    reports.push({
      id,
      at: jsonStringField(head, 'generatedAt'),
      shopifyCustomerId: jsonStringField(head, 'shopifyCustomerId'),
      ...(email ? { email } : {}),
    });
  });
  return { requests: reports, complete: total <= DATA_REQUEST_LIST_MAX };
}

function dataRequestIdFrom(value: unknown): string {
  const id = String(value ?? '');
  if (!id || id.length > 300 || id.includes(':') || /[\s\p{Cc}]/u.test(id)) {
    throw new BadRequest('Unknown data request.');
  }
  return id;
}

export function dataRequestsRouter(ctx: SectionContext): express.Router {
  const { redis, keys } = ctx;
  const router = express.Router();

  router.get(
    '/data-requests',
    route(async (_req, _res, shop) => listDataRequests(redis, keys, shop)),
  );

  router.get(
    '/data-requests/:id',
    route(async (req, res, shop) => {
      const id = dataRequestIdFrom(req.params.id);
      const report = await redis.get(keys.dataRequest(shop, id));
      if (report === null) {
        throw new NotFound('This data request report does not exist or is no longer kept (30 days).');
      }
      const filename = `data-request-${id.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;
      res
        .status(200)
        .set('Content-Type', 'application/json; charset=utf-8')
        .set('Content-Disposition', `attachment; filename="${filename}"`)
        .set('Cache-Control', 'no-store')
        .send(report);
    }),
  );

  return router;
}
