import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';

/**
 * What the catch-up from the Admin API knows per shop, in one hash (`keys.catchUp(shop)`):
 *   watermark   orders updated at or before this instant have been read (ISO 8601)
 *   runId, jobId, state (queued | running | done | failed), error
 *   since, until, cursor   the window of the run in progress and where its paging stands (resume point)
 *   ordersSeen, startedAt  of the run in progress
 *   lastRunId, lastRunAt, lastOrdersSeen   of the last finished run
 * and, per run, the set of orders whose points the run's jobs changed (`catch-up-recovered:<runId>`),
 * filled by the worker as those jobs finish, kept 30 days.
 */

type CatchUpState = 'idle' | 'queued' | 'running' | 'done' | 'failed';

export interface CatchUpProgress {
  state: CatchUpState;
  watermark?: string;
  runId?: string;
  jobId?: string;
  since?: string;
  until?: string;
  cursor?: string;
  ordersSeen: number;
  startedAt?: string;
  error?: string;
  lastRunId?: string;
  lastRunAt?: string;
  lastOrdersSeen: number;
}

/** What GET /api/status shows. */
export interface CatchUpStatus {
  lastRunAt: string | null;
  ordersSeen: number;
  ordersRecovered: number;
  running: boolean;
  error?: string;
}

export const RECOVERED_REASON = 'recovered by catch-up: the webhook for this change never arrived';
export const isRecovered = (reason: string | undefined) => Boolean(reason?.startsWith(RECOVERED_REASON));
const RECOVERED_KEEP_SECONDS = 30 * 86_400;

export async function readCatchUp(redis: Redis, keys: Keys, shop: string): Promise<CatchUpProgress> {
  const h = await redis.hgetall(keys.catchUp(shop));
  const p: CatchUpProgress = {
    state: (h.state as CatchUpState) || 'idle',
    ordersSeen: Number(h.ordersSeen ?? 0) || 0,
    lastOrdersSeen: Number(h.lastOrdersSeen ?? 0) || 0,
  };
  const names = [
    'watermark',
    'runId',
    'jobId',
    'since',
    'until',
    'cursor',
    'startedAt',
    'error',
    'lastRunId',
    'lastRunAt',
  ] as const;
  for (const k of names) if (h[k]) p[k] = h[k];
  return p;
}

export async function writeCatchUp(
  redis: Redis,
  keys: Keys,
  shop: string,
  fields: Partial<Record<keyof CatchUpProgress, string | number | undefined>>,
  drop: (keyof CatchUpProgress)[] = [],
): Promise<void> {
  const set: Record<string, string> = {};
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) set[k] = String(v);
  const tx = redis.multi();
  if (Object.keys(set).length) tx.hset(keys.catchUp(shop), set);
  if (drop.length) tx.hdel(keys.catchUp(shop), ...drop);
  await tx.exec();
}

/** Notes that a job of run `runId` changed the points of `orderId`. */
export async function markRecovered(
  redis: Redis,
  keys: Keys,
  shop: string,
  runId: string,
  orderId: string,
): Promise<void> {
  const key = keys.catchUpRecovered(shop, runId);
  await redis.multi().sadd(key, orderId).expire(key, RECOVERED_KEEP_SECONDS).exec();
}

export async function catchUpStatus(redis: Redis, keys: Keys, shop: string): Promise<CatchUpStatus> {
  const p = await readCatchUp(redis, keys, shop);
  const recovered = p.lastRunId ? await redis.scard(keys.catchUpRecovered(shop, p.lastRunId)) : 0;
  return {
    lastRunAt: p.lastRunAt ?? null,
    ordersSeen: p.lastOrdersSeen,
    ordersRecovered: recovered,
    running: p.state === 'queued' || p.state === 'running',
    ...(p.state === 'failed' && p.error ? { error: p.error } : {}),
  };
}
