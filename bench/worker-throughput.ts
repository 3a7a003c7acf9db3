/**
 * Benchmark 2 — worker throughput.
 *
 * N orders/paid jobs (default 2,000) for M customers (default 200, pre-linked by email as after a first
 * order, order i → customer i mod M) through the real worker (workers/sync-worker.ts startWorker, in a child
 * process, concurrency WORKER_CONCURRENCY = 10, logging at info to /dev/null) against the IT Retail
 * simulator (its own child process) answering every call after 20 ms.
 * Figures: jobs/s against the ideal bound concurrency ÷ (IT Retail calls per job × latency), and against
 * a baseline worker run alternately in the same script (a plain BullMQ worker doing only GetOne + Put);
 * IT Retail calls per job from the simulator's call counts; CPU and Redis commands per job to explain
 * what limits it. Medians of BENCH_RUNS (3) alternating runs.
 *
 *   npx tsx bench/worker-throughput.ts   (BENCH_ORDERS=2000 BENCH_CUSTOMERS=200 BENCH_CONCURRENCY=10 BENCH_LATENCY_MS=20)
 */
import { Child } from './lib/child.js';
import {
  type BenchResult,
  envInt,
  type Goal,
  median,
  printGoals,
  printMachine,
  round,
  table,
  writeResult,
} from './lib/common.js';
import { runThroughput, summarise, type ThroughputRun } from './lib/throughput.js';

const ORDERS = envInt('BENCH_ORDERS', 2000, 10, 100_000);
const CUSTOMERS = envInt('BENCH_CUSTOMERS', 200, 1, 100_000);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 10, 1, 1000);
const LATENCY_MS = envInt('BENCH_LATENCY_MS', 20, 1, 10_000);
const RUNS = envInt('BENCH_RUNS', 3, 1, 20);
const BASELINE = process.env.BENCH_BASELINE !== '0';

async function main(): Promise<void> {
  const machine = printMachine('Benchmark 2: worker throughput');
  const t0 = Date.now();
  const sim = await Child.start('sim-child.ts', { env: { BENCH_SIM_LATENCY_MS: String(LATENCY_MS) } });
  const simUrl = await sim.call<string>('url');
  console.log(
    `${ORDERS} orders for ${CUSTOMERS} pre-linked customers, concurrency ${CONCURRENCY}, IT Retail latency ${LATENCY_MS} ms; ` +
      'simulator and worker in child processes',
  );
  const runs: ThroughputRun[] = [];
  let runNo = 0;
  try {
    for (let r = 0; r < RUNS; r++) {
      const kinds = (r % 2 === 0 ? ['real', 'raw'] : ['raw', 'real']) as ('real' | 'raw')[];
      for (const kind of kinds) {
        if (kind === 'raw' && !BASELINE) continue;
        const run = await runThroughput(sim, simUrl, {
          kind,
          workers: 1,
          concurrency: CONCURRENCY,
          orders: ORDERS,
          customers: CUSTOMERS,
          run: runNo++,
        });
        runs.push(run);
        console.log(
          `  run ${r + 1} ${kind === 'real' ? 'worker  ' : 'baseline'}: ${run.jobsPerSec} jobs/s, ${run.callsPerJob} IT Retail calls/job, ` +
            `${run.completed} done ${run.failed} failed, CPU ms/job worker ${run.cpuMsPerJob.workers} sim ${run.cpuMsPerJob.simulator} Redis ${run.cpuMsPerJob.redis}, ` +
            `${run.redisCommandsPerJob} Redis commands/job, balances ×${run.balanceRatio}`,
        );
      }
    }
  } finally {
    await sim.stop();
  }

  const real = summarise(runs.filter((r) => r.kind === 'real'));
  const raw = BASELINE ? summarise(runs.filter((r) => r.kind === 'raw')) : undefined;
  const bound = (calls: number) => CONCURRENCY / (calls * (LATENCY_MS / 1000));
  const boundMeasured = round(bound(real.callsPerJob), 1);
  const boundTwoCalls = round(bound(2), 1);
  const ofBound = round(real.jobsPerSec / boundMeasured, 3);
  const pairs = runs
    .filter((r) => r.kind === 'real')
    .map((r, i) => {
      const b = runs.filter((x) => x.kind === 'raw')[i];
      return b ? r.jobsPerSec / b.jobsPerSec : Number.NaN;
    });
  const vsBaseline = raw ? round(median(pairs), 3) : Number.NaN;

  console.log('');
  console.log(
    table(
      ['worker', 'jobs/s', 'calls/job', 'ideal bound', 'of bound', 'CPU ms/job', 'Redis cmds/job'],
      [
        [
          'sync worker',
          real.jobsPerSec,
          real.callsPerJob,
          boundMeasured,
          ofBound,
          real.cpuMsPerJob.workers,
          real.redisCommandsPerJob,
        ],
        ...(raw
          ? [
              [
                'baseline (GetOne+Put only)',
                raw.jobsPerSec,
                raw.callsPerJob,
                round(bound(raw.callsPerJob), 1),
                round(raw.jobsPerSec / bound(raw.callsPerJob), 3),
                raw.cpuMsPerJob.workers,
                raw.redisCommandsPerJob,
              ],
            ]
          : []),
      ],
    ),
  );
  console.log(
    `sync worker ÷ baseline: ${vsBaseline}; bound at 2 calls/job would be ${boundTwoCalls} jobs/s (sync worker at ${round(real.jobsPerSec / boundTwoCalls, 3)} of it)`,
  );
  console.log(
    `sync worker: job time p50 ${real.jobMsP50} ms / p99 ${real.jobMsP99} ms (IT Retail alone ${real.callsPerJob * LATENCY_MS} ms), ` +
      `${real.redisRoundTripsPerJob} Redis round trips/job, ${real.effectiveConcurrency} jobs in progress on average`,
  );
  console.log(`Redis commands per job (sync worker): ${JSON.stringify(real.redisCommandsByName)}`);

  const goals: Goal[] = [
    {
      figure: 'worker jobs/s ÷ ideal bound (measured calls/job)',
      goal: '≥ 0.8',
      value: ofBound,
      met: ofBound >= 0.8,
    },
    {
      figure: 'IT Retail calls per order (linked customer)',
      goal: '2',
      value: real.callsPerJob,
      met: real.callsPerJob <= 2,
    },
    {
      figure: 'balances moved by exactly the orders’ worth',
      goal: 'yes',
      value: real.balanceExact ? 'yes' : 'no',
      met: real.balanceExact && real.failed === 0,
    },
  ];
  console.log('');
  printGoals(goals);

  const result: BenchResult = {
    name: 'worker-throughput',
    title: 'Sync worker throughput against the simulator at 20 ms per call',
    startedAt: new Date(t0).toISOString(),
    durationS: round((Date.now() - t0) / 1000, 1),
    machine,
    params: {
      orders: ORDERS,
      customers: CUSTOMERS,
      concurrency: CONCURRENCY,
      latencyMs: LATENCY_MS,
      runs: RUNS,
      process: 'simulator, worker and baseline worker in child processes; logs at info to /dev/null',
    },
    figures: {
      worker: real,
      baseline: raw,
      idealBound: boundMeasured,
      idealBoundAtTwoCalls: boundTwoCalls,
      ofIdealBound: ofBound,
      ofIdealBoundAtTwoCalls: round(real.jobsPerSec / boundTwoCalls, 3),
      workerToBaseline: vsBaseline,
      runs,
    },
    goals,
    notes: [],
  };
  console.log(`results: ${writeResult(result)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
