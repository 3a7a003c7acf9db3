/**
 * Worker-side helpers: seed the simulator with bench customers, pre-link them, put orders/paid jobs on the
 * queue exactly as the web process would, run worker processes, and read back when each job ran.
 */
import type { Redis } from 'ioredis';
import { DEFAULT_QUEUE_SHARDS } from '../../src/config.js';
import { jobIdFor, type WebhookJobData } from '../../src/queue/jobs.js';
import { SYNC_QUEUE } from '../../src/queue/names.js';
import { type SyncQueues, shardOfShop, shardPrefix } from '../../src/queue/shards.js';
import type { Keys } from '../../src/store/keys.js';
import { Child } from './child.js';
import { waitUntil } from './common.js';
import { appEnv, BENCH_SHOP, benchEmail, orderPaidBody } from './shopify.js';

export interface BenchCustomer {
  id: string;
  email: string;
  /** The Shopify customer id used in this customer's orders. */
  shopifyId: number;
}

/** Seeds `n` customers with known emails into the simulator (in batches). */
export async function seedCustomers(sim: Child, n: number, offset = 0): Promise<BenchCustomer[]> {
  const out: BenchCustomer[] = [];
  for (let start = 0; start < n; start += 5000) {
    const batch = Array.from({ length: Math.min(5000, n - start) }, (_, j) => {
      const i = offset + start + j;
      return { Email: benchEmail(i), FirstName: 'Bench', LastName: `Customer${i}`, LoyaltyPoints: 0 };
    });
    const made = await sim.call<{ id: string; email: string }[]>('seed', { customers: batch });
    for (const [j, c] of made.entries()) {
      out.push({ id: c.id, email: c.email, shopifyId: 8_000_000 + offset + start + j });
    }
  }
  return out;
}

/** Links each customer's email and Shopify id to its IT Retail id, as after its first order. */
export async function prelink(redis: Redis, keys: Keys, customers: BenchCustomer[], shop = BENCH_SHOP) {
  const pipe = redis.pipeline();
  for (const c of customers) {
    pipe.hset(keys.linkEmail(shop), c.email, c.id);
    pipe.hset(keys.linkCustomer(shop), String(c.shopifyId), c.id);
  }
  await pipe.exec();
}

/**
 * An orders/paid job as the web process queues it: the body as text (`form: 'body'`, the default), or
 * parsed into `payload` (`form: 'payload'`, as the naive bridge and earlier versions of the app queue it).
 */
export function orderJob(
  orderId: number,
  c: BenchCustomer,
  shop = BENCH_SHOP,
  form: 'body' | 'payload' = 'body',
): { name: string; data: WebhookJobData; opts: { jobId: string } } {
  const eventId = `bench-${orderId}`;
  const body = orderPaidBody({ orderId, email: c.email, customerId: c.shopifyId, subtotal: '54.00' });
  const data: WebhookJobData = {
    kind: 'webhook',
    shop,
    topic: 'orders/paid',
    webhookId: eventId,
    eventId,
    apiVersion: '2026-07',
    receivedAt: new Date().toISOString(),
    ...(form === 'body' ? { body } : { payload: JSON.parse(body) }),
  };
  return { name: data.topic, data, opts: { jobId: jobIdFor(shop, data.topic, eventId) } };
}

/** Adds jobs in batches of 500; answers their ids. */
export async function addJobs(queue: SyncQueues, jobs: ReturnType<typeof orderJob>[]): Promise<string[]> {
  for (let i = 0; i < jobs.length; i += 500) await queue.addBulk(jobs.slice(i, i + 500));
  return jobs.map((j) => j.opts.jobId);
}

export function workerEnv(prefix: string, simUrl: string, concurrency: number): Record<string, string> {
  return appEnv(prefix, {
    ITRETAIL_BASE_URL: simUrl,
    ITRETAIL_USERNAME: 'demo',
    ITRETAIL_PASSWORD: 'demo',
    WORKER_CONCURRENCY: String(concurrency),
  });
}

export async function startWorkers(n: number, env: Record<string, string>): Promise<Child[]> {
  return Promise.all(
    Array.from({ length: n }, (_, i) => Child.start('worker-child.ts', { name: `worker-${i + 1}`, env })),
  );
}

/** Waits until every job is completed or failed; answers the counts. */
export async function waitForJobs(
  queue: Pick<SyncQueues, 'getJobCounts'>,
  total: number,
  timeoutMs: number,
  /** Wait for `total` completed jobs (other jobs may fail beside them, e.g. the worker's own). */
  completedOnly = false,
): Promise<{ completed: number; failed: number }> {
  let counts = { completed: 0, failed: 0 };
  await waitUntil(
    `${total} jobs to finish`,
    async () => {
      const c = await queue.getJobCounts('completed', 'failed');
      counts = { completed: c.completed ?? 0, failed: c.failed ?? 0 };
      return (completedOnly ? counts.completed : counts.completed + counts.failed) >= total;
    },
    timeoutMs,
    100,
  );
  return counts;
}

export interface JobTimes {
  id: string;
  processedOn: number;
  finishedOn: number;
}

/** processedOn/finishedOn of each job (BullMQ's own timestamps, ms). */
export async function jobTimes(
  redis: Redis,
  keys: Keys,
  ids: string[],
  shop = BENCH_SHOP,
  shards = DEFAULT_QUEUE_SHARDS,
): Promise<JobTimes[]> {
  // The jobs of one shop live in its queue shard.
  const jobKey = `${shardPrefix(keys, shardOfShop(shop, shards), shards)}:${SYNC_QUEUE}:`;
  const out: JobTimes[] = [];
  for (let i = 0; i < ids.length; i += 1000) {
    const pipe = redis.pipeline();
    const chunk = ids.slice(i, i + 1000);
    for (const id of chunk) pipe.hmget(`${jobKey}${id}`, 'processedOn', 'finishedOn');
    const res = (await pipe.exec()) ?? [];
    res.forEach(([, v], j) => {
      const [p, f] = (v as (string | null)[]) ?? [];
      if (p && f) out.push({ id: chunk[j]!, processedOn: Number(p), finishedOn: Number(f) });
    });
  }
  return out;
}

/** Sum of the IT Retail calls in a callCounts() answer, without the token call. */
export function itretailCalls(counts: Record<string, number | undefined>): number {
  return Object.entries(counts).reduce((s, [k, v]) => (k === 'token' ? s : s + (v ?? 0)), 0);
}
