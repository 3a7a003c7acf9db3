/**
 * One throughput run of the sync worker (or of the baseline worker): N orders/paid jobs for M pre-linked
 * customers (order i → customer i mod M, so jobs running together are for different customers), worker
 * processes started first, then the jobs added; jobs/s over the window from the first job's start to the last
 * job's end (BullMQ's processedOn/finishedOn). Also: IT Retail calls per job, CPU per job of each process
 * and of Redis, Redis commands per job, and whether the balances moved by exactly what the orders are worth.
 */
import type { Queue } from 'bullmq';
import { createSyncQueue, type SyncJobData } from '../../src/queue/jobs.js';
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
  itretailCalls,
  jobTimes,
  orderJob,
  prelink,
  seedCustomers,
  waitForJobs,
  workerEnv,
} from './harness.js';

export type WorkerKind = 'real' | 'raw';

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
  cpuMsPerJob: { workers: number; simulator: number; redis: number };
  redisCommandsPerJob: number;
  /** Sequential exchanges with Redis per job (a MULTI block counts once; blocking fetches included). */
  redisRoundTripsPerJob: number;
  redisCommandsByName: Record<string, number>;
  /** Points added in IT Retail ÷ points the orders are worth (1 = exact). */
  balanceRatio: number;
}

/** Points one bench order is worth at 1 point per dollar ($54.00). */
export const POINTS_PER_ORDER = 54;

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
  },
): Promise<ThroughputRun> {
  const prefix = benchPrefix(`tp-${o.kind}`);
  const redis = benchRedis();
  const keys = createKeys(prefix);
  const queue: Queue<SyncJobData> = createSyncQueue(redis, keys);
  const children: Child[] = [];
  try {
    const customers = await seedCustomers(sim, o.customers, 1_000_000 * (o.run + 1));
    await prelink(redis, keys, customers);
    const orderBase = 5_000_000_000 + 1_000_000 * o.run;
    const jobs = Array.from({ length: o.orders }, (_, i) =>
      orderJob(orderBase + i, customers[i % customers.length]!),
    );
    const ids = customers.map((c) => c.id);
    const pointsBefore = await sim.call<(number | null)[]>('points', ids);
    const env = workerEnv(prefix, simUrl, o.concurrency);
    const script = o.kind === 'real' ? 'worker-child.ts' : 'raw-child.ts';
    children.push(
      ...(await Promise.all(
        Array.from({ length: o.workers }, (_, i) =>
          Child.start(script, { name: `${o.kind}-worker-${i + 1}`, env }),
        ),
      )),
    );
    await sim.call('clearCalls');
    const cpu0 = await Promise.all(children.map((c) => c.call<NodeJS.CpuUsage>('cpu')));
    const sim0 = await sim.call<NodeJS.CpuUsage>('cpu');
    const redis0 = await redisCpuSeconds(redis);
    const cmd0 = await Promise.all(children.map((c) => c.call<Record<string, number>>('redisCounts')));

    await addJobs(queue, jobs);
    const done = await waitForJobs(queue, jobs.length, 300_000);

    const cpu1 = await Promise.all(children.map((c) => c.call<NodeJS.CpuUsage>('cpu')));
    const sim1 = await sim.call<NodeJS.CpuUsage>('cpu');
    const redis1 = await redisCpuSeconds(redis);
    const cmd1 = await Promise.all(children.map((c) => c.call<Record<string, number>>('redisCounts')));
    const calls = await sim.call<Record<string, number>>('callCounts');
    const pointsAfter = await sim.call<(number | null)[]>('points', ids);

    const times = await jobTimes(
      redis,
      keys,
      jobs.map((j) => j.opts.jobId),
    );
    const start = Math.min(...times.map((t) => t.processedOn));
    const end = Math.max(...times.map((t) => t.finishedOn));
    const windowMs = Math.max(1, end - start);
    const durations = times.map((t) => t.finishedOn - t.processedOn);
    const meanMs = durations.reduce((a, b) => a + b, 0) / Math.max(1, durations.length);
    const n = jobs.length;
    const byName: Record<string, number> = {};
    cmd1.forEach((after, i) => {
      for (const [k, v] of Object.entries(after)) byName[k] = (byName[k] ?? 0) + v - (cmd0[i]![k] ?? 0);
    });
    const trips = byName['(round trips)'] ?? 0;
    delete byName['(round trips)'];
    const commands = Object.values(byName).reduce((s, v) => s + v, 0);
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
        workers: round(cpu1.reduce((s, c, i) => s + cpuMs(c, cpu0[i]!), 0) / n, 3),
        simulator: round(cpuMs(sim1, sim0) / n, 3),
        redis: round((1000 * (redis1 - redis0)) / n, 3),
      },
      redisCommandsPerJob: round(commands / n, 1),
      redisRoundTripsPerJob: round(trips / n, 1),
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
    },
    redisCommandsPerJob: med((r) => r.redisCommandsPerJob),
    redisRoundTripsPerJob: med((r) => r.redisRoundTripsPerJob),
    jobMsP50: med((r) => r.jobMsP50),
    jobMsP99: med((r) => r.jobMsP99),
    effectiveConcurrency: med((r) => r.effectiveConcurrency),
    redisCommandsByName: runs.at(-1)?.redisCommandsByName,
    failed: runs.reduce((s, r) => s + r.failed, 0),
    balanceExact: runs.every((r) => r.balanceRatio === 1),
  };
}
