/**
 * Benchmark 2 — worker throughput.
 *
 * N orders/paid jobs (default 2,000) for M customers (default 200, pre-linked by email as after a first
 * order, order i → customer i mod M) through the real worker (workers/sync-worker.ts startWorker, in a child
 * process, concurrency 16, logging at info to /dev/null) against the IT Retail simulator (its own child
 * process) answering every call after 20 ms, while the web process (its own child) takes BENCH_WEB_ORDERS
 * (default N ÷ 5) signed deliveries at BENCH_WEB_RATE (100) per second, which become jobs too.
 * The naive bridge (bench/naive-bridge.ts: its web side and its GetOne + Put worker) runs the same load
 * in turn in the same script, and so does the floor: the naive bridge with the plain steps an exactly-once
 * write cannot do without (lock, ledger check, intent, ledger entry; naiveWorker's `exact`), to show what
 * part of the distance to the naive bridge is exactness itself (BENCH_FLOOR=0 leaves it out).
 * Figures: jobs/s against the bound concurrency ÷ (2 calls × latency), and against the naive bridge; CPU per
 * job (worker process + Redis INFO cpu, over every job of the run) against the naive bridge's; IT Retail
 * calls per job from the simulator's call counts; Redis commands and round trips per job (counted in the
 * worker process by wrapping ioredis's sendCommand). Medians of BENCH_RUNS (3) alternating runs.
 *
 *   npx tsx bench/worker-throughput.ts   (BENCH_ORDERS=2000 BENCH_CUSTOMERS=200 BENCH_CONCURRENCY=16 BENCH_LATENCY_MS=20)
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
import { runThroughput, summarise, type ThroughputRun, type WorkerKind } from './lib/throughput.js';

const ORDERS = envInt('BENCH_ORDERS', 2000, 10, 100_000);
const CUSTOMERS = envInt('BENCH_CUSTOMERS', 200, 1, 100_000);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 16, 1, 1000);
const WEB_ORDERS = envInt('BENCH_WEB_ORDERS', Math.round(ORDERS / 5), 0, 100_000);
const WEB_RATE = envInt('BENCH_WEB_RATE', 100, 1, 10_000);
const LATENCY_MS = envInt('BENCH_LATENCY_MS', 20, 1, 10_000);
const RUNS = envInt('BENCH_RUNS', 3, 1, 20);
const BASELINE = process.env.BENCH_BASELINE !== '0';
const FLOOR = BASELINE && process.env.BENCH_FLOOR !== '0';
const LABEL: Record<WorkerKind, string> = { real: 'worker', raw: 'naive ', floor: 'floor ' };

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
      const all: WorkerKind[] = ['real', 'raw', ...(FLOOR ? (['floor'] as const) : [])];
      const kinds = all.map((_, i) => all[(i + r) % all.length]!);
      for (const kind of kinds) {
        if (kind === 'raw' && !BASELINE) continue;
        const run = await runThroughput(sim, simUrl, {
          kind,
          workers: 1,
          concurrency: CONCURRENCY,
          orders: ORDERS,
          customers: CUSTOMERS,
          run: runNo++,
          webOrders: WEB_ORDERS,
          webRate: WEB_RATE,
        });
        runs.push(run);
        console.log(
          `  run ${r + 1} ${LABEL[kind]}: ${run.jobsPerSec} jobs/s, ${run.callsPerJob} IT Retail calls/job, ` +
            `${run.completed} done ${run.failed} failed, CPU ms/job worker ${run.cpuMsPerJob.workers} sim ${run.cpuMsPerJob.simulator} Redis ${run.cpuMsPerJob.redis}, ` +
            `${run.redisCommandsPerJob} Redis commands/job in ${run.redisRoundTripsPerJob} round trips (${run.redisRoundTripsPerJobPath} on the jobs' path), balances ×${run.balanceRatio}` +
            (run.web
              ? `; web ${run.web.orders} deliveries (${run.web.not200} not 200), ${run.web.cpuMsPerWebhook} CPU ms each`
              : ''),
        );
      }
    }
  } finally {
    await sim.stop();
  }

  const real = summarise(runs.filter((r) => r.kind === 'real'));
  const raw = BASELINE ? summarise(runs.filter((r) => r.kind === 'raw')) : undefined;
  const floor = FLOOR ? summarise(runs.filter((r) => r.kind === 'floor')) : undefined;
  const bound = round(CONCURRENCY / (2 * (LATENCY_MS / 1000)), 1);
  const ofBound = round(real.jobsPerSec / bound, 3);
  const row = (label: string, w: ReturnType<typeof summarise>) => [
    label,
    w.jobsPerSec,
    round(w.jobsPerSec / bound, 3),
    w.callsPerJob,
    `${w.cpuMsPerJob.workersPlusRedis} (${w.cpuMsPerJob.workers} + ${w.cpuMsPerJob.redis})`,
    `${w.redisRoundTripsPerJobPath} (${w.redisRoundTripsPerJob})`,
    w.redisCommandsPerJob,
  ];
  const realRuns = runs.filter((r) => r.kind === 'real');
  const rawRuns = runs.filter((r) => r.kind === 'raw');
  const floorRuns = runs.filter((r) => r.kind === 'floor');
  const ratios = (as: ThroughputRun[], bs: ThroughputRun[], f: (r: ThroughputRun) => number) =>
    bs.length ? round(median(as.map((a, i) => (bs[i] ? f(a) / f(bs[i]) : Number.NaN))), 3) : Number.NaN;
  const cpu = (r: ThroughputRun) => r.cpuMsPerJob.workersPlusRedis;
  const vsNaive = ratios(realRuns, rawRuns, (r) => r.jobsPerSec);
  const cpuVsNaive = ratios(realRuns, rawRuns, cpu);
  const floorCpuVsNaive = ratios(floorRuns, rawRuns, cpu);
  const cpuVsFloor = ratios(realRuns, floorRuns, cpu);

  console.log('');
  console.log(
    table(
      [
        'worker',
        'jobs/s',
        'of bound',
        'calls/job',
        'CPU ms/job worker + Redis',
        'Redis round trips/job: path (all)',
        'commands/job',
      ],
      [
        row('sync worker', real),
        ...(raw ? [row('naive bridge (GetOne + Put)', raw)] : []),
        ...(floor ? [row('floor (naive + lock, intent, ledger)', floor)] : []),
      ],
    ),
  );
  console.log(
    `bound ${CONCURRENCY} ÷ (2 calls × ${LATENCY_MS} ms) = ${bound} jobs/s; sync worker ÷ naive: jobs/s ${vsNaive}, CPU per job ${cpuVsNaive}; ` +
      `web CPU per delivery: app ${real.webCpuMsPerWebhook} ms, naive ${raw?.webCpuMsPerWebhook ?? '-'} ms`,
  );
  if (floor)
    console.log(
      `CPU per job (worker + Redis): floor ÷ naive ${floorCpuVsNaive} (what the plain exactness steps cost), ` +
        `sync worker ÷ floor ${cpuVsFloor}`,
    );
  console.log(
    `sync worker: job time p50 ${real.jobMsP50} ms / p99 ${real.jobMsP99} ms (IT Retail alone ${real.callsPerJob * LATENCY_MS} ms), ` +
      `${real.effectiveConcurrency} jobs in progress on average`,
  );
  console.log(`Redis commands per job (sync worker): ${JSON.stringify(real.redisCommandsByName)}`);

  const goals: Goal[] = [
    {
      figure: `worker jobs/s ÷ bound ${CONCURRENCY} ÷ (2 × ${LATENCY_MS} ms), webhooks arriving`,
      goal: '≥ 0.8',
      value: ofBound,
      met: ofBound >= 0.8,
    },
    {
      figure: 'worker CPU per job (worker + Redis) ÷ naive bridge',
      goal: '≤ 1.0',
      value: cpuVsNaive,
      met: cpuVsNaive <= 1,
    },
    {
      figure: 'Redis round trips per linked order job (on its path; all of the process in brackets)',
      goal: '≤ 5',
      value: `${real.redisRoundTripsPerJobPath} (${real.redisRoundTripsPerJob})`,
      met: real.redisRoundTripsPerJobPath <= 5,
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
    title:
      'Sync worker throughput against the simulator at 20 ms per call, webhooks arriving, vs the naive bridge',
    startedAt: new Date(t0).toISOString(),
    durationS: round((Date.now() - t0) / 1000, 1),
    machine,
    params: {
      orders: ORDERS,
      customers: CUSTOMERS,
      concurrency: CONCURRENCY,
      latencyMs: LATENCY_MS,
      runs: RUNS,
      webOrders: WEB_ORDERS,
      webRate: WEB_RATE,
      process:
        'simulator, web and worker (app or naive bridge) in child processes; logs at info to /dev/null',
    },
    figures: {
      worker: real,
      naive: raw,
      floor,
      floorCpuToNaive: floorCpuVsNaive,
      cpuPerJobWorkerToFloor: cpuVsFloor,
      bound,
      ofBound,
      workerToNaive: vsNaive,
      cpuPerJobWorkerToNaive: cpuVsNaive,
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
