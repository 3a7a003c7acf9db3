/**
 * What the open-loop latency benchmarks (time to balance, time to the metafield) share: the app's web and
 * worker processes on pre-linked customers, a warm-up, signed orders/paid deliveries sent at a fixed rate
 * without waiting for answers, and latency figures.
 */

import type { Redis } from 'ioredis';
import { type Agent, request } from 'undici';
import type { Keys } from '../../src/store/keys.js';
import { Child } from './child.js';
import { percentile, sleep } from './common.js';
import { type BenchCustomer, prelink, seedCustomers, startWorkers, workerEnv } from './harness.js';
import { deliveryHeaders, orderPaidBody } from './shopify.js';

/** n, p50, p90, p99 and max of a list of milliseconds. */
export function latencyStats(xs: number[]) {
  return {
    n: xs.length,
    p50: percentile(xs, 50),
    p90: percentile(xs, 90),
    p99: percentile(xs, 99),
    max: xs.length ? Math.max(...xs) : Number.NaN,
  };
}

export interface OrderStack {
  sim: Child;
  /** `total` customers seeded in the simulator and linked by email. */
  customers: BenchCustomer[];
  /** The web process's webhook URL. */
  url: string;
}

/**
 * The simulator (answering after `latencyMs`), `total` pre-linked customers, the web process and one worker
 * at `concurrency`, each in its own child process, pushed onto `children` as they start (simulator first:
 * stop them in reverse, whatever fails later); `env` is added to the web's and the worker's.
 */
export async function startOrderStack(
  o: {
    redis: Redis;
    keys: Keys;
    prefix: string;
    latencyMs: number;
    concurrency: number;
    total: number;
    env?: Record<string, string>;
  },
  children: Child[],
): Promise<OrderStack> {
  const sim = await Child.start('sim-child.ts', { env: { BENCH_SIM_LATENCY_MS: String(o.latencyMs) } });
  children.push(sim);
  const simUrl = await sim.call<string>('url');
  const customers = await seedCustomers(sim, o.total, 100_000);
  await prelink(o.redis, o.keys, customers);
  const env = { ...workerEnv(o.prefix, simUrl, o.concurrency), ...o.env };
  const web = await Child.start('web-child.ts', { name: 'web', env: { ...env, BENCH_WEB_MODE: 'app' } });
  children.push(web);
  children.push(...(await startWorkers(1, env)));
  const port = await web.call<number>('port');
  return { sim, customers, url: `http://127.0.0.1:${port}/webhooks` };
}

/** Warms the web process and the worker with orders for 20 spare customers, then clears the simulator's log. */
export async function warmUp(
  stack: OrderStack,
  redis: Redis,
  keys: Keys,
  dispatcher: Agent,
  settleMs: number,
): Promise<void> {
  const spare = await seedCustomers(stack.sim, 20, 900_000);
  await prelink(redis, keys, spare);
  await Promise.all(spare.map((c, i) => deliverOrder(stack.url, dispatcher, 3_000_000_000 + i, c)));
  await sleep(settleMs);
  await stack.sim.call('clearCalls');
}

/**
 * Calls `send(i)` for i = 0 … total − 1 at `rate` per second without waiting for answers, then waits for
 * them all; returns the seconds the sending took.
 */
export async function sendOpenLoop(
  total: number,
  rate: number,
  send: (i: number) => Promise<void>,
): Promise<number> {
  const inflight: Promise<void>[] = [];
  const start = Date.now();
  const interval = 1000 / rate;
  for (let i = 0; i < total; i++) {
    const wait = start + i * interval - Date.now();
    if (wait > 1) await sleep(wait);
    inflight.push(send(i));
  }
  const sendSeconds = (Date.now() - start) / 1000;
  await Promise.all(inflight);
  return sendSeconds;
}

/** One signed orders/paid delivery of a 54.00 order for `c`: its status, when it was answered, its event id and the job id the app answered with. */
export async function deliverOrder(
  url: string,
  dispatcher: Agent,
  orderId: number,
  c: BenchCustomer,
): Promise<{ status: number; at: number; eventId: string; jobId?: string }> {
  const body = orderPaidBody({ orderId, email: c.email, customerId: c.shopifyId, subtotal: '54.00' });
  const headers = deliveryHeaders(body);
  const res = await request(url, { method: 'POST', body, headers, dispatcher });
  const answer = (await res.body.json().catch(() => ({}))) as { jobId?: string };
  return {
    status: res.statusCode,
    at: Date.now(),
    eventId: headers['x-shopify-event-id']!,
    jobId: answer.jobId,
  };
}
