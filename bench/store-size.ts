/**
 * Benchmark 3 — size of the store.
 *
 * The email index is built from GetAllCustomers at 10,000, 100,000 and 250,000 IT Retail customers. The
 * simulator runs in its own child process (its memory does not count); each build runs in a fresh child
 * process whose peak RSS (process.resourceUsage().maxRSS) is read after the build, so the growth is the
 * build's alone. At each size: build time, peak RSS growth, the time of one index lookup (one email, one
 * Redis round trip, sequential), and — with the real worker processing a batch of orders/paid webhooks
 * for customers already in the index — the GetAllCustomers calls per webhook (steady state: goal 0).
 * Ratios are against the 10,000-customer figures of the same run.
 *
 *   npx tsx bench/store-size.ts     (BENCH_SIZES=10000,100000,250000, BENCH_RUNS=3 below 250,000 else 1)
 */
import { Redis } from 'ioredis';
import { DEFAULT_QUEUE_SHARDS } from '../src/config.js';
import { createSyncQueues } from '../src/queue/shards.js';
import { createKeys } from '../src/store/keys.js';
import { Child } from './lib/child.js';
import {
  type BenchResult,
  benchPrefix,
  benchRedis,
  dropPrefix,
  envInt,
  type Goal,
  median,
  printGoals,
  printMachine,
  REDIS_URL,
  round,
  table,
  writeResult,
} from './lib/common.js';
import {
  addJobs,
  type BenchCustomer,
  itretailCalls,
  orderJob,
  seedCustomers,
  startWorkers,
  waitForJobs,
  workerEnv,
} from './lib/harness.js';
import { BENCH_SHOP } from './lib/shopify.js';

const SIZES = (process.env.BENCH_SIZES ?? '10000,100000,250000').split(',').map(Number);
const SAMPLE = 2000;
const WEBHOOKS = envInt('BENCH_STEADY_WEBHOOKS', 200, 10, 10_000);
const MB = 2 ** 20;

interface BuildRun {
  size: number;
  ms: number;
  count: number;
  emails: number;
  peakGrowthMB: number;
  usPerLookup: number;
  found: number;
}

function runsFor(size: number): number {
  return envInt('BENCH_RUNS', size >= 250_000 ? 1 : 3, 1, 10);
}

function shuffled<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

async function main(): Promise<void> {
  const machine = printMachine('Benchmark 3: size of the store (email index from GetAllCustomers)');
  const t0 = Date.now();
  const redis = benchRedis();
  const sim = await Child.start('sim-child.ts', { env: { BENCH_SIM_LATENCY_MS: '0' } });
  const simUrl = await sim.call<string>('url');
  // Known customers spread through the store: looked up and ordered for at every size.
  const sample = await seedCustomers(sim, SAMPLE);
  const builds: BuildRun[] = [];
  const steady: {
    size: number;
    webhooks: number;
    getAllCalls: number;
    perWebhook: number;
    completed: number;
    failed: number;
    callsPerWebhook: number;
  }[] = [];
  console.log(
    'simulator in its own child process; each index build in a fresh child process (peak RSS from maxRSS)',
  );

  try {
    for (const size of SIZES) {
      const have = await sim.call<number>('count');
      if (size > have) await sim.call('generate', { n: size - have }, 600_000);
      for (let r = 0; r < runsFor(size); r++) {
        const prefix = benchPrefix('store');
        const child = await Child.start('index-child.ts', {
          env: { BENCH_SIM_URL: simUrl, BENCH_PREFIX: prefix, BENCH_SHOP, REDIS_URL },
        });
        try {
          const b = await child.call<{
            ms: number;
            count: number;
            emails: number;
            peakGrowth: number;
          }>('build', undefined, 600_000);
          const l = await child.call<{ usPerLookup: number; found: number }>(
            'lookups',
            shuffled(sample.map((c) => c.email)),
          );
          const run: BuildRun = {
            size,
            ms: round(b.ms, 0),
            count: b.count,
            emails: b.emails,
            peakGrowthMB: round(b.peakGrowth / MB, 1),
            usPerLookup: round(l.usPerLookup, 1),
            found: l.found,
          };
          builds.push(run);
          console.log(
            `  ${size} customers, run ${r + 1}: build ${run.ms} ms, peak RSS +${run.peakGrowthMB} MB, lookup ${run.usPerLookup} µs (${run.found}/${SAMPLE} found)`,
          );
          await child.stop();
          if (r === runsFor(size) - 1)
            steady.push({ size, ...(await steadyState(sim, simUrl, prefix, r, sample)) });
        } finally {
          await child.stop();
          await dropPrefix(redis, prefix);
        }
      }
    }
  } finally {
    await sim.stop();
  }

  const at = (size: number) => builds.filter((b) => b.size === size);
  const base = SIZES[0]!;
  const medOf = (size: number, k: keyof BuildRun) => median(at(size).map((b) => Number(b[k])));
  const rows = SIZES.map((size) => {
    const ms = medOf(size, 'ms');
    const lookup = medOf(size, 'usPerLookup');
    const st = steady.find((s) => s.size === size);
    return {
      size,
      runs: at(size).length,
      buildMs: ms,
      buildUsPerCustomer: round((1000 * ms) / size, 2),
      buildPerCustomerRatio: round(ms / size / (medOf(base, 'ms') / base), 2),
      peakRssGrowthMB: medOf(size, 'peakGrowthMB'),
      lookupUs: lookup,
      lookupRatio: round(lookup / medOf(base, 'usPerLookup'), 2),
      getAllCustomersPerWebhook: st?.perWebhook ?? Number.NaN,
      itretailCallsPerWebhook: st?.callsPerWebhook ?? Number.NaN,
    };
  });

  console.log('');
  console.log(
    table(
      [
        'customers',
        'build s',
        'µs/customer',
        'vs 10k',
        'peak RSS +MB',
        'lookup µs',
        'vs 10k',
        'GetAll/webhook',
      ],
      rows.map((r) => [
        r.size,
        round(r.buildMs / 1000, 2),
        r.buildUsPerCustomer,
        r.buildPerCustomerRatio,
        r.peakRssGrowthMB,
        r.lookupUs,
        r.lookupRatio,
        r.getAllCustomersPerWebhook,
      ]),
    ),
  );

  const largest = rows.at(-1)!;
  const goals: Goal[] = [
    {
      figure: `peak RSS growth of the index build at ${largest.size}`,
      goal: '< 300 MB',
      value: largest.peakRssGrowthMB,
      met: largest.peakRssGrowthMB < 300,
    },
    {
      figure: 'GetAllCustomers calls per webhook (steady state)',
      goal: '0',
      value: Math.max(...rows.map((r) => r.getAllCustomersPerWebhook)),
      met: rows.every((r) => r.getAllCustomersPerWebhook === 0),
    },
    {
      figure: `index lookup time ${largest.size} vs ${base}`,
      goal: 'does not grow (≤ 1.5×)',
      value: largest.lookupRatio,
      met: largest.lookupRatio <= 1.5,
    },
  ];
  console.log('');
  printGoals(goals);

  const result: BenchResult = {
    name: 'store-size',
    title: 'Email index from GetAllCustomers at 10k / 100k / 250k customers',
    startedAt: new Date(t0).toISOString(),
    durationS: round((Date.now() - t0) / 1000, 1),
    machine,
    params: {
      sizes: SIZES,
      sampleCustomers: SAMPLE,
      steadyStateWebhooks: WEBHOOKS,
      simulatorLatencyMs: 0,
      process:
        'simulator in a child process; each build in a fresh child (maxRSS); steady state through the real worker in a child',
    },
    figures: { rows, builds, steady },
    goals,
    notes: [
      'Peak RSS growth = maxRSS after the build − RSS just before it, in a process that did nothing else.',
      'Lookup = one HGET round trip to Redis per email, sequential; it measures Redis latency, so it should stay flat.',
    ],
  };
  console.log(`results: ${writeResult(result)}`);
  await redis.quit();
}

/** A batch of orders/paid for customers already in the index (not linked yet) through the real worker. */
async function steadyState(sim: Child, simUrl: string, prefix: string, run: number, sample: BenchCustomer[]) {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const keys = createKeys(prefix);
  const queue = createSyncQueues(redis, keys, DEFAULT_QUEUE_SHARDS);
  try {
    const jobs = Array.from({ length: WEBHOOKS }, (_, i) =>
      orderJob(6_000_000_000 + run * 100_000 + i, sample[i % sample.length]!),
    );
    await sim.call('clearCalls');
    const [worker] = await startWorkers(1, workerEnv(prefix, simUrl, 10));
    try {
      await addJobs(queue, jobs);
      const done = await waitForJobs(queue, jobs.length, 120_000);
      const counts = await sim.call<Record<string, number>>('callCounts');
      const getAll = counts.GetAllCustomers ?? 0;
      return {
        webhooks: jobs.length,
        getAllCalls: getAll,
        perWebhook: round(getAll / jobs.length, 3),
        callsPerWebhook: round(itretailCalls(counts) / jobs.length, 2),
        ...done,
      };
    } finally {
      await worker!.stop();
    }
  } finally {
    await queue.close();
    await redis.quit();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
