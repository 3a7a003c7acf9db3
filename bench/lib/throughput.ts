import { Agent, request } from 'undici';
import { DEFAULT_QUEUE_SHARDS } from '../../src/config.js';
import { createSyncQueues, type SyncQueues } from '../../src/queue/shards.js';
import { createKeys } from '../../src/store/keys.js';
import { Child } from './child.js';
import {
  benchPrefix,
  benchRedis,
  cpuMs,
  dropPrefix,
  median,
  percentile,
  redisCpuSeconds,
  round,
} from './common.js';
import {
  addJobs,
  type BenchCustomer,
  itretailCalls,
  jobTimes,
  orderJob,
  prelink,
  seedCustomers,
  waitForJobs,
  workerEnv,
} from './harness.js';
import { appEnv, BENCH_SHOP, deliveryHeaders, orderPaidBody } from './shopify.js';

/** The app's worker, the naive bridge's, and the naive bridge with the plain steps exactness needs. */
export type WorkerKind = 'real' | 'raw' | 'floor';

export interface ThroughputRun {
  kind: WorkerKind;
  workers: number;
  concurrency: number;
  orders: number;
  completed: number;
  failed: number;
  windowMs: number;
  jobsPerSec: number;
  /** Time one job took in the worker (finishedOn − processedOn): median and 99th percentile, ms. */
  jobMsP50: number;
  jobMsP99: number;
  /** jobs/s × mean job time (Little's law): how many jobs were really in progress at once. */
  effectiveConcurrency: number;
  callsPerJob: number;
  calls: Record<string, number>;
  cpuMsPerJob: { workers: number; simulator: number; redis: number; workersPlusRedis: number };
  /** Deliveries the web process took during the run, its answers other than 200, its CPU per delivery. */
  web?: { orders: number; not200: number; cpuMsPerWebhook: number };
  redisCommandsPerJob: number;
  /** Sequential exchanges with Redis per job (a MULTI block counts once; blocking fetches included). */
  redisRoundTripsPerJob: number;
  /**
   * The same without the XREADs of the worker's stalled-failure listener (BullMQ QueueEvents, blocking on
   * its own connection beside the jobs, not on any job's path): the jobs' own round trips.
   */
  redisRoundTripsPerJobPath: number;
  redisCommandsByName: Record<string, number>;
  /** Points added in IT Retail ÷ points the orders are worth (1 = exact). */
  balanceRatio: number;
}

/** Points one bench order is worth at 1 point per dollar ($54.00). */
const POINTS_PER_ORDER = 54;

/**
 * Fresh customers for every run (their records grow by one loyalty operation per order, so reusing them
 * would make each run's GetOne and Put heavier than the last's).
 */
export async function runThroughput(
  sim: Child,
  simUrl: string,
  o: {
    kind: WorkerKind;
    workers: number;
    concurrency: number;
    orders: number;
    customers: number;
    /** Distinct per run: customer numbers and order ids are derived from it. */
    run: number;
    /** Signed deliveries sent to the web process while the jobs run (0: no web process). */
    webOrders?: number;
    webRate?: number;
  },
): Promise<ThroughputRun> {
  const prefix = benchPrefix(`tp-${o.kind}`);
  const redis = benchRedis();
  const keys = createKeys(prefix);
  const queue: SyncQueues = createSyncQueues(redis, keys, DEFAULT_QUEUE_SHARDS);
  const children: Child[] = [];
  try {
    const webOrders = o.webOrders ?? 0;
    // Web deliveries go to customers of their own (100 of them, at most one order each per second at
    // the default rate), so no two jobs for one customer run at once.
    const all = await seedCustomers(sim, o.customers + (webOrders ? 100 : 0), 1_000_000 * (o.run + 1));
    await prelink(redis, keys, all);
    const customers = all.slice(0, o.customers);
    const webCustomers = all.slice(o.customers);
    const orderBase = 5_000_000_000 + 1_000_000 * o.run;
    const form = o.kind === 'real' ? 'body' : 'payload';
    const jobs = Array.from({ length: o.orders }, (_, i) =>
      orderJob(orderBase + i, customers[i % customers.length]!, undefined, form),
    );
    const ids = all.map((c) => c.id);
    const pointsBefore = await sim.call<(number | null)[]>('points', ids);
    const env = workerEnv(prefix, simUrl, o.concurrency);
    const script = o.kind === 'real' ? 'worker-child.ts' : 'raw-child.ts';
    children.push(
      ...(await Promise.all(
        Array.from({ length: o.workers }, (_, i) =>
          Child.start(script, {
            name: `${o.kind}-worker-${i + 1}`,
            env: o.kind === 'floor' ? { ...env, BENCH_NAIVE_EXACT: '1' } : env,
          }),
        ),
      )),
    );
    const web = webOrders
      ? await Child.start('web-child.ts', {
          name: `${o.kind}-web`,
          env: {
            ...appEnv(prefix),
            BENCH_WEB_MODE: o.kind === 'real' ? 'app' : 'naive',
            BENCH_NAIVE_SHARD: '1',
          },
        })
      : undefined;
    if (web) children.push(web);
    const webUrl = web ? `http://127.0.0.1:${await web.call<number>('port')}` : '';
    await sim.call('clearCalls');
    const cpu0 = await Promise.all(children.map((c) => c.call<NodeJS.CpuUsage>('cpu')));
    const sim0 = await sim.call<NodeJS.CpuUsage>('cpu');
    const redis0 = await redisCpuSeconds(redis);
    const cmd0 = await Promise.all(children.map((c) => c.call<Record<string, number>>('redisCounts')));

    await addJobs(queue, jobs);
    const sending = web
      ? sendDeliveries(webUrl, webOrders, o.webRate ?? 100, (j) => ({
          orderId: orderBase + o.orders + j,
          c: webCustomers[j % webCustomers.length]!,
        }))
      : Promise.resolve(0);
    const not200 = await sending;
    // Order jobs only: a worker also queues jobs of its own (the shop's loyalty-metafield sync after balance
    // changes, which fails here for want of a Shopify token); they are counted apart, their CPU stays in.
    const orderJobs = jobs.length + webOrders - not200;
    const done = await waitForJobs(queue, orderJobs, 300_000, o.kind === 'real');

    const cpu1 = await Promise.all(children.map((c) => c.call<NodeJS.CpuUsage>('cpu')));
    const sim1 = await sim.call<NodeJS.CpuUsage>('cpu');
    const redis1 = await redisCpuSeconds(redis);
    const cmd1 = await Promise.all(children.map((c) => c.call<Record<string, number>>('redisCounts')));
    const calls = await sim.call<Record<string, number>>('callCounts');
    const pointsAfter = await sim.call<(number | null)[]>('points', ids);

    const finishedIds = await redis.zrange(queue.forShop(BENCH_SHOP).toKey('completed'), 0, -1);
    const times = await jobTimes(redis, keys, finishedIds);
    const start = Math.min(...times.map((t) => t.processedOn));
    const end = Math.max(...times.map((t) => t.finishedOn));
    const windowMs = Math.max(1, end - start);
    const durations = times.map((t) => t.finishedOn - t.processedOn);
    const meanMs = durations.reduce((a, b) => a + b, 0) / Math.max(1, durations.length);
    const n = orderJobs;
    const workerCount = o.workers;
    const byName: Record<string, number> = {};
    cmd1.slice(0, workerCount).forEach((after, i) => {
      for (const [k, v] of Object.entries(after)) byName[k] = (byName[k] ?? 0) + v - (cmd0[i]![k] ?? 0);
    });
    const trips = byName['(round trips)'] ?? 0;
    delete byName['(round trips)'];
    const commands = Object.values(byName).reduce((s, v) => s + v, 0);
    const workerCpu = cpu1.slice(0, workerCount).reduce((s, c, i) => s + cpuMs(c, cpu0[i]!), 0);
    const added = pointsAfter.reduce<number>((s, p, i) => s + ((p ?? 0) - (pointsBefore[i] ?? 0)), 0);
    return {
      kind: o.kind,
      workers: o.workers,
      concurrency: o.concurrency,
      orders: n,
      ...done,
      windowMs,
      jobsPerSec: round((1000 * done.completed) / windowMs, 1),
      jobMsP50: percentile(durations, 50),
      jobMsP99: percentile(durations, 99),
      effectiveConcurrency: round((done.completed / windowMs) * meanMs, 2),
      callsPerJob: round(itretailCalls(calls) / n, 3),
      calls,
      cpuMsPerJob: {
        workers: round(workerCpu / n, 3),
        simulator: round(cpuMs(sim1, sim0) / n, 3),
        redis: round((1000 * (redis1 - redis0)) / n, 3),
        workersPlusRedis: round((workerCpu + 1000 * (redis1 - redis0)) / n, 3),
      },
      web: web
        ? {
            orders: webOrders,
            not200,
            cpuMsPerWebhook: round(cpuMs(cpu1[workerCount]!, cpu0[workerCount]!) / webOrders, 3),
          }
        : undefined,
      redisCommandsPerJob: round(commands / n, 1),
      redisRoundTripsPerJob: round(trips / n, 2),
      redisRoundTripsPerJobPath: round((trips - (byName.xread ?? 0)) / n, 2),
      redisCommandsByName: Object.fromEntries(
        Object.entries(byName)
          .filter(([, v]) => v > 0)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, round(v / n, 2)]),
      ),
      balanceRatio: round(added / (n * POINTS_PER_ORDER), 4),
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await queue.close();
    await dropPrefix(redis, prefix);
    await redis.quit();
  }
}

/** Medians over runs of one kind. */
export function summarise(runs: ThroughputRun[]) {
  const med = (f: (r: ThroughputRun) => number) => median(runs.map(f));
  return {
    runs: runs.length,
    jobsPerSec: med((r) => r.jobsPerSec),
    callsPerJob: med((r) => r.callsPerJob),
    cpuMsPerJob: {
      workers: med((r) => r.cpuMsPerJob.workers),
      simulator: med((r) => r.cpuMsPerJob.simulator),
      redis: med((r) => r.cpuMsPerJob.redis),
      workersPlusRedis: med((r) => r.cpuMsPerJob.workersPlusRedis),
    },
    webCpuMsPerWebhook: med((r) => r.web?.cpuMsPerWebhook ?? Number.NaN),
    redisCommandsPerJob: med((r) => r.redisCommandsPerJob),
    redisRoundTripsPerJob: med((r) => r.redisRoundTripsPerJob),
    redisRoundTripsPerJobPath: med((r) => r.redisRoundTripsPerJobPath),
    jobMsP50: med((r) => r.jobMsP50),
    jobMsP99: med((r) => r.jobMsP99),
    effectiveConcurrency: med((r) => r.effectiveConcurrency),
    redisCommandsByName: runs.at(-1)?.redisCommandsByName,
    failed: runs.reduce((s, r) => s + r.failed, 0),
    balanceExact: runs.every((r) => r.balanceRatio === 1),
  };
}

/**
 * Sends `count` signed orders/paid deliveries at `rate` per second (not waiting for one answer before the
 * next), each from `order(j)`; answers how many were not answered 200.
 */
async function sendDeliveries(
  url: string,
  count: number,
  rate: number,
  order: (j: number) => { orderId: number; c: BenchCustomer },
): Promise<number> {
  const dispatcher = new Agent({ connections: 20, keepAliveTimeout: 30_000 });
  const start = Date.now();
  const inflight: Promise<boolean>[] = [];
  for (let j = 0; j < count; j++) {
    const wait = start + (j * 1000) / rate - Date.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const { orderId, c } = order(j);
    const body = orderPaidBody({ orderId, email: c.email, customerId: c.shopifyId, subtotal: '54.00' });
    inflight.push(
      request(`${url}/webhooks`, { method: 'POST', body, headers: deliveryHeaders(body), dispatcher }).then(
        async (res) => {
          await res.body.dump();
          return res.statusCode === 200;
        },
        () => false,
      ),
    );
  }
  const ok = await Promise.all(inflight);
  await dispatcher.close();
  return ok.filter((x) => !x).length;
}
