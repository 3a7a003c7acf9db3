/**
 * Redis Cluster and fairness, in one script (`npm run bench:cluster`), every figure a ratio within the run:
 *
 * 1. Spread and throughput. 100 shops' orders/paid jobs (pre-linked customers) run by one real worker
 *    process, alternately on the single Redis (REDIS_URL) and on a throw-away 3-master cluster started here
 *    (scripts/redis-cluster.mjs). Figures: keys per master ÷ the mean over the masters after the run, and
 *    jobs/s on the cluster ÷ jobs/s on the single Redis (medians of the runs).
 * 2. Fairness. A quiet shop sends 10 orders/s through the web process's own enqueue (enqueueWebhook, the
 *    code behind POST /webhooks after the HMAC check) while another shop has BACKLOG jobs queued in the same
 *    queue shard; figure: the quiet shop's p99 from enqueue to the job's end (its IT Retail Put done) ÷ the
 *    same p99 with no backlog.
 */
import { writeFileSync } from 'node:fs';
import type { Cluster, Redis } from 'ioredis';
import { startCluster } from '../scripts/redis-cluster.mjs';
import { DEFAULT_QUEUE_SHARDS } from '../src/config.js';
import { enqueueWebhook } from '../src/queue/enqueue.js';
import type { WebhookJobData } from '../src/queue/jobs.js';
import { createSyncQueues, type SyncQueues, shardOfShop } from '../src/queue/shards.js';
import { createKeys } from '../src/store/keys.js';
import { createRedis, scanKeys, unlinkKeys, waitForRedis } from '../src/store/redis.js';
import { Child } from './lib/child.js';
import { benchPrefix, envInt, median, percentile, REDIS_URL, round, sleep, waitUntil } from './lib/common.js';
import {
  type BenchCustomer,
  orderJob,
  prelink,
  seedCustomers,
  waitForJobs,
  workerEnv,
} from './lib/harness.js';

const SHOPS = envInt('BENCH_SHOPS', 100);
const ORDERS = envInt('BENCH_ORDERS', 4_000);
const RUNS = envInt('BENCH_RUNS', 2);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 16);
const LATENCY_MS = envInt('BENCH_SIM_LATENCY_MS', 20, 0);
const BACKLOG = envInt('BENCH_BACKLOG', 20_000);
const QUIET_SECONDS = envInt('BENCH_QUIET_SECONDS', 20);
/** BENCH_SPREAD=0: the fairness figure only (no cluster spread and throughput runs). */
const SPREAD = process.env.BENCH_SPREAD !== '0';

type Target = { name: 'single' | 'cluster'; env: Record<string, string>; connect(): Redis };

const shopName = (i: number) => `bench-shop-${i}.myshopify.com`;

async function dropAll(redis: Redis, prefix: string) {
  await scanKeys(redis, `${prefix}:*`, (found) => unlinkKeys(redis, found));
}

/** Keys of the prefix on each master (one Redis: one entry). */
async function keysPerNode(redis: Redis, prefix: string): Promise<number[]> {
  const nodes = (redis as unknown as { isCluster?: boolean }).isCluster
    ? (redis as unknown as Cluster).nodes('master')
    : [redis];
  const out: number[] = [];
  for (const node of nodes) {
    let n = 0;
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
      cursor = next;
      n += found.length;
    } while (cursor !== '0');
    out.push(n);
  }
  return out;
}

/** BullMQ's processedOn/finishedOn of each job, read from its shop's shard. */
async function times(queues: SyncQueues, jobs: { shop: string; id: string }[]) {
  const out: { processedOn: number; finishedOn: number }[] = [];
  for (let i = 0; i < jobs.length; i += 200) {
    const chunk = jobs.slice(i, i + 200);
    const got = await Promise.all(
      chunk.map(async (j) => {
        const job = await queues.forShop(j.shop).getJob(j.id);
        return { processedOn: job?.processedOn ?? 0, finishedOn: job?.finishedOn ?? 0 };
      }),
    );
    out.push(...got.filter((t) => t.processedOn && t.finishedOn));
  }
  return out;
}

async function spreadRun(sim: Child, simUrl: string, target: Target, run: number) {
  const prefix = benchPrefix(`cluster-${target.name}`);
  const redis = target.connect();
  await waitForRedis(redis, 10_000);
  const keys = createKeys(prefix);
  const queues = createSyncQueues(redis, keys, DEFAULT_QUEUE_SHARDS);
  const worker = await Child.start('worker-child.ts', {
    name: `worker-${target.name}`,
    env: { ...workerEnv(prefix, simUrl, CONCURRENCY), ...target.env },
  });
  try {
    const perShop = Math.ceil(ORDERS / SHOPS);
    const customers: BenchCustomer[][] = [];
    for (let s = 0; s < SHOPS; s++) {
      const list = await seedCustomers(sim, Math.min(perShop, 20), 10_000_000 * (run + 1) + s * 1000);
      await prelink(redis, keys, list, shopName(s));
      customers.push(list);
    }
    const base = 7_000_000_000 + 10_000_000 * run + (target.name === 'cluster' ? 5_000_000 : 0);
    const jobs = Array.from({ length: ORDERS }, (_, i) => {
      const s = i % SHOPS;
      const list = customers[s]!;
      return orderJob(base + i, list[Math.floor(i / SHOPS) % list.length]!, shopName(s));
    });
    for (let i = 0; i < jobs.length; i += 500) await queues.addBulk(jobs.slice(i, i + 500));
    const done = await waitForJobs(queues, jobs.length, 600_000);
    const t = await times(
      queues,
      jobs.map((j) => ({ shop: j.data.shop, id: j.opts.jobId })),
    );
    const windowMs = Math.max(...t.map((x) => x.finishedOn)) - Math.min(...t.map((x) => x.processedOn));
    const perNode = await keysPerNode(redis, prefix);
    const mean = perNode.reduce((a, b) => a + b, 0) / perNode.length;
    return {
      target: target.name,
      ...done,
      jobsPerSec: round((1000 * done.completed) / windowMs, 1),
      keysPerNode: perNode,
      maxDeviationFromMean: round(Math.max(...perNode.map((n) => Math.abs(n - mean) / mean)), 3),
    };
  } finally {
    await worker.stop();
    await queues.close();
    await dropAll(redis, prefix);
    await redis.quit();
  }
}

/** Quiet shop at 10 orders/s for QUIET_SECONDS; with `backlog`, another shop of the same shard has that many queued. */
async function fairnessRun(sim: Child, simUrl: string, target: Target, backlog: number, run: number) {
  const prefix = benchPrefix(`fair-${backlog ? 'busy' : 'alone'}`);
  const redis = target.connect();
  await waitForRedis(redis, 10_000);
  const keys = createKeys(prefix);
  const queues = createSyncQueues(redis, keys, DEFAULT_QUEUE_SHARDS);
  const quiet = shopName(1000);
  let busy = shopName(2000);
  for (
    let i = 2001;
    shardOfShop(busy, DEFAULT_QUEUE_SHARDS) !== shardOfShop(quiet, DEFAULT_QUEUE_SHARDS);
    i++
  )
    busy = shopName(i);
  const ctx = { redis, keys, queue: queues, timeoutMs: 10_000 };
  const worker = await Child.start('worker-child.ts', {
    name: 'worker-fair',
    env: { ...workerEnv(prefix, simUrl, CONCURRENCY), ...target.env },
  });
  try {
    const offset = 50_000_000 + 1_000_000 * run + (backlog ? 500_000 : 0);
    const quietCustomers = await seedCustomers(sim, 50, offset);
    await prelink(redis, keys, quietCustomers, quiet);
    const busyCustomers = await seedCustomers(sim, 200, offset + 1000);
    await prelink(redis, keys, busyCustomers, busy);
    const enqueue = (job: ReturnType<typeof orderJob>) => enqueueWebhook(ctx, job.data as WebhookJobData);
    let seq = 8_000_000_000 + 10_000_000 * run + (backlog ? 5_000_000 : 0);
    // The backlog arrives as a burst (50 deliveries at a time), as a flash sale or a catch-up would.
    for (let i = 0; i < backlog; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, backlog - i) }, (_, k) =>
          enqueue(orderJob(++seq, busyCustomers[(i + k) % busyCustomers.length]!, busy)),
        ),
      );
    }
    const sent: { id: string; at: number }[] = [];
    for (let i = 0; i < QUIET_SECONDS * 10; i++) {
      const at = Date.now();
      const job = orderJob(++seq, quietCustomers[i % quietCustomers.length]!, quiet);
      // The queue's job id is the delivery's id plus a suffix of its own (see enqueueWebhook).
      const { jobId } = await enqueue(job);
      sent.push({ id: jobId, at });
      await sleep(Math.max(0, at + 100 - Date.now()));
    }
    const q = queues.forShop(quiet);
    await waitUntil(
      'the quiet shop to finish',
      async () => (await Promise.all(sent.map((s) => q.getJobState(s.id)))).every((s) => s === 'completed'),
      120_000,
      200,
    );
    const lat = await Promise.all(sent.map(async (s) => ((await q.getJob(s.id))?.finishedOn ?? 0) - s.at));
    const busyLeft = await queues.forShop(busy).getJobCounts('wait', 'prioritized', 'active', 'delayed');
    return {
      backlog,
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
      busyStillQueuedAtEnd: Object.values(busyLeft).reduce((a, b) => a + b, 0),
    };
  } finally {
    await worker.stop();
    await queues.obliterate({ force: true }).catch(() => undefined);
    await queues.close();
    await dropAll(redis, prefix);
    await redis.quit();
  }
}

async function main() {
  const cluster = await startCluster();
  const seeds = cluster.nodes
    .split(',')
    .map((s) => ({ host: s.split(':')[0]!, port: Number(s.split(':')[1]) }));
  const single: Target = {
    name: 'single',
    env: {},
    connect: () => createRedis(REDIS_URL, 'worker'),
  };
  const onCluster: Target = {
    name: 'cluster',
    env: { REDIS_CLUSTER_NODES: cluster.nodes },
    connect: () => createRedis({ url: REDIS_URL, clusterNodes: seeds }, 'worker'),
  };
  const sim = await Child.start('sim-child.ts', { env: { BENCH_SIM_LATENCY_MS: String(LATENCY_MS) } });
  const simUrl = await sim.call<string>('url');
  try {
    console.log(
      `${SHOPS} shops, ${ORDERS} orders per run, 1 worker process at concurrency ${CONCURRENCY}, IT Retail latency ${LATENCY_MS} ms`,
    );
    const spread: Awaited<ReturnType<typeof spreadRun>>[] = [];
    for (let run = 0; SPREAD && run < RUNS; run++) {
      for (const t of run % 2 === 0 ? [single, onCluster] : [onCluster, single]) {
        const r = await spreadRun(sim, simUrl, t, run);
        console.log(`  ${t.name}: ${JSON.stringify(r)}`);
        spread.push(r);
      }
    }
    const jps = (name: string) => median(spread.filter((r) => r.target === name).map((r) => r.jobsPerSec));
    const clusterRuns = spread.filter((r) => r.target === 'cluster');
    const fair = [];
    for (const backlog of [0, BACKLOG]) {
      const r = await fairnessRun(sim, simUrl, single, backlog, backlog ? 1 : 0);
      console.log(`  fairness ${JSON.stringify(r)}`);
      fair.push(r);
    }
    const result = {
      at: new Date().toISOString(),
      setup: { shops: SHOPS, orders: ORDERS, runs: RUNS, concurrency: CONCURRENCY, latencyMs: LATENCY_MS },
      spread,
      keysPerNodeMaxDeviation: SPREAD ? Math.max(...clusterRuns.map((r) => r.maxDeviationFromMean)) : null,
      jobsPerSec: { single: jps('single'), cluster: jps('cluster') },
      clusterOverSingle: round(jps('cluster') / jps('single'), 2),
      fairness: {
        alone: fair[0],
        withBacklog: fair[1],
        p99Ratio: round(fair[1]!.p99 / Math.max(1, fair[0]!.p99), 2),
      },
    };
    const file = SPREAD ? './results/cluster.json' : './results/fairness.json';
    writeFileSync(new URL(file, import.meta.url), `${JSON.stringify(result, null, 2)}\n`);
    console.log(
      (SPREAD
        ? `keys per master: max deviation from the mean ${round(100 * (result.keysPerNodeMaxDeviation ?? 0), 1)}% (goal ≤ 25%)\n` +
          `jobs/s cluster ÷ single: ${result.jobsPerSec.cluster} ÷ ${result.jobsPerSec.single} = ${result.clusterOverSingle} (goal ≥ 0.9)\n`
        : '') +
        `quiet shop p99 with ${BACKLOG} queued ÷ alone: ${fair[1]!.p99} ÷ ${fair[0]!.p99} ms = ${result.fairness.p99Ratio} (goal ≤ 2)`,
    );
  } finally {
    await sim.stop();
    await cluster.stop();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
