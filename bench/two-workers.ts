/**
 * Benchmark 5 — two workers.
 *
 * The workload of benchmark 2 (N orders/paid for M pre-linked customers, 20 ms per IT Retail call) through
 * two worker processes (concurrency 10 each) on the same Redis, against one worker process, alternating
 * 1/2 in the same script; medians of BENCH_RUNS (3) runs. The ratio is jobs/s with two ÷ jobs/s with one.
 * Also the CPU per job of each part (workers, simulator, Redis) and the machine's cores, to say what
 * limited it: on 2 cores the simulator, Redis and both workers share them.
 *
 *   npx tsx bench/two-workers.ts   (BENCH_ORDERS=2000 BENCH_CUSTOMERS=200 BENCH_CONCURRENCY=10 BENCH_LATENCY_MS=20)
 */
import os from 'node:os';
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

async function main(): Promise<void> {
  const machine = printMachine('Benchmark 5: two worker processes against one');
  const t0 = Date.now();
  const sim = await Child.start('sim-child.ts', { env: { BENCH_SIM_LATENCY_MS: String(LATENCY_MS) } });
  const simUrl = await sim.call<string>('url');
  console.log(
    `${ORDERS} orders for ${CUSTOMERS} pre-linked customers, concurrency ${CONCURRENCY} per worker, IT Retail latency ${LATENCY_MS} ms`,
  );
  const runs: ThroughputRun[] = [];
  let runNo = 0;
  try {
    for (let r = 0; r < RUNS; r++) {
      for (const workers of r % 2 === 0 ? [1, 2] : [2, 1]) {
        const run = await runThroughput(sim, simUrl, {
          kind: 'real',
          workers,
          concurrency: CONCURRENCY,
          orders: ORDERS,
          customers: CUSTOMERS,
          run: runNo++,
        });
        runs.push(run);
        console.log(
          `  run ${r + 1}, ${workers} worker${workers > 1 ? 's' : ' '}: ${run.jobsPerSec} jobs/s, ${run.completed} done ${run.failed} failed, ` +
            `CPU ms/job workers ${run.cpuMsPerJob.workers} sim ${run.cpuMsPerJob.simulator} Redis ${run.cpuMsPerJob.redis}, balances ×${run.balanceRatio}`,
        );
      }
    }
  } finally {
    await sim.stop();
  }

  const one = summarise(runs.filter((r) => r.workers === 1));
  const two = summarise(runs.filter((r) => r.workers === 2));
  const ones = runs.filter((r) => r.workers === 1);
  const ratios = runs.filter((r) => r.workers === 2).map((r, i) => r.jobsPerSec / ones[i]!.jobsPerSec);
  const ratio = round(median(ratios), 3);
  // CPU the whole system used per second of the two-worker run, against the cores there are.
  const busyCores = round(
    (two.jobsPerSec * (two.cpuMsPerJob.workers + two.cpuMsPerJob.simulator + two.cpuMsPerJob.redis)) / 1000,
    2,
  );
  const bound = (workers: number) => (workers * CONCURRENCY) / (one.callsPerJob * (LATENCY_MS / 1000));

  console.log('');
  console.log(
    table(
      ['workers', 'jobs/s', 'ideal bound', 'of bound', 'CPU ms/job (workers, sim, Redis)'],
      [
        [
          1,
          one.jobsPerSec,
          round(bound(1), 1),
          round(one.jobsPerSec / bound(1), 3),
          `${one.cpuMsPerJob.workers}, ${one.cpuMsPerJob.simulator}, ${one.cpuMsPerJob.redis}`,
        ],
        [
          2,
          two.jobsPerSec,
          round(bound(2), 1),
          round(two.jobsPerSec / bound(2), 3),
          `${two.cpuMsPerJob.workers}, ${two.cpuMsPerJob.simulator}, ${two.cpuMsPerJob.redis}`,
        ],
      ],
    ),
  );
  console.log(
    `ratio two ÷ one: ${ratio} (per run ${ratios.map((r) => round(r, 3)).join(', ')}); ` +
      `CPU busy during the two-worker runs ≈ ${busyCores} of ${os.cpus().length} cores; ` +
      `job time p50 ${one.jobMsP50} → ${two.jobMsP50} ms, jobs in progress ${one.effectiveConcurrency} → ${two.effectiveConcurrency}`,
  );

  const goals: Goal[] = [
    {
      figure: 'two workers ÷ one worker (jobs/s)',
      goal: '≥ 1.7 (where cores allow)',
      value: ratio,
      met: ratio >= 1.7,
    },
    {
      figure: 'balances exact with two workers',
      goal: 'yes',
      value: two.balanceExact ? 'yes' : 'no',
      met: two.balanceExact && two.failed === 0,
    },
  ];
  console.log('');
  printGoals(goals);

  const result: BenchResult = {
    name: 'two-workers',
    title: 'Two worker processes against one, same Redis',
    startedAt: new Date(t0).toISOString(),
    durationS: round((Date.now() - t0) / 1000, 1),
    machine,
    params: {
      orders: ORDERS,
      customers: CUSTOMERS,
      concurrencyPerWorker: CONCURRENCY,
      latencyMs: LATENCY_MS,
      runs: RUNS,
      process: 'simulator and each worker in its own child process',
    },
    figures: { one, two, ratio, ratiosPerRun: ratios.map((r) => round(r, 3)), busyCores, runs },
    goals,
    notes: [],
  };
  console.log(`results: ${writeResult(result)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
