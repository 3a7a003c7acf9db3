/**
 * Benchmark 1 — webhook ingress.
 *
 * Signed `orders/paid` deliveries (the ~8.5 KB fixture, a fresh event id and order id per request, each body
 * signed) are sent with autocannon at 50 connections to
 *   (a) a bare Express 5 route that reads the raw body and answers 200 (the upper bound),
 *   (n) the naive bridge (bench/naive-bridge.ts: raw body, HMAC, JSON.parse, SET NX, queue.add; no logging),
 *   (b) the real `/webhooks` of createApp (HMAC check, dedupe, enqueue into BullMQ, request logging at 'info').
 * Each server runs in its own child process (stdout, where pino writes, goes to /dev/null); autocannon runs
 * in this process. Each run takes the three in turn, in a rotating order (a fresh child and Redis key prefix
 * each); each measured run sends a fixed number of requests sized from a warm-up to last ~5 s, so every
 * answer is counted and the 200s can be compared exactly with the jobs found in the queue.
 * After it, a paced measurement (fixed overall rate) of the same child gives the latency below saturation.
 * CPU per webhook: the server process's own process.cpuUsage() delta plus Redis's INFO cpu
 * (used_cpu_sys + used_cpu_user) delta, over the deliveries it queued. Redis is shared with other work on
 * this machine, so its share is an upper bound. Redis round trips: counted in the server process by
 * wrapping ioredis's sendCommand (one per command sent alone, one per pipeline or MULTI).
 *
 *   npx tsx bench/ingress.ts        (BENCH_RUNS=3, BENCH_RUN_SECONDS=5, BENCH_PACED_RATE=500)
 */

import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { DEFAULT_QUEUE_SHARDS } from '../src/config.js';
import { SYNC_QUEUE } from '../src/queue/names.js';
import { shardOfShop, shardPrefix } from '../src/queue/shards.js';
import { createKeys } from '../src/store/keys.js';
import { Child } from './lib/child.js';
import {
  type BenchResult,
  benchPrefix,
  benchRedis,
  cpuMs,
  dropPrefix,
  envInt,
  type Goal,
  median,
  printGoals,
  printMachine,
  redisCpuSeconds,
  round,
  sleep,
  table,
  writeResult,
} from './lib/common.js';
import { appEnv, BENCH_SHOP, deliveryHeaders, orderPaidBody } from './lib/shopify.js';

const CONNECTIONS = 50;
const RUNS = envInt('BENCH_RUNS', 3, 1, 20);
const RUN_SECONDS = envInt('BENCH_RUN_SECONDS', 5, 1, 60);
const WARMUP_SECONDS = 2;
const PACED_RATE = envInt('BENCH_PACED_RATE', 500, 10, 100_000);

/**
 * Diagnostic variants of (b), run only when named in BENCH_INGRESS_VARIANTS (comma-separated):
 *   quiet   the real app with LOG_LEVEL=warn — what logging costs.
 */
type Mode = 'bare' | 'naive' | 'app' | 'app-quiet';
const VARIANTS = (process.env.BENCH_INGRESS_VARIANTS ?? '')
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean)
  .map((v) => {
    if (v !== 'quiet') throw new Error(`unknown ingress variant ${v} (quiet)`);
    return `app-${v}` as Mode;
  });
/** Modes that queue the deliveries (everything but the bare route). */
const isApp = (m: Mode) => m !== 'bare';
const LABEL: Record<string, string> = {
  bare: '(a) bare Express',
  naive: '(n) naive bridge',
  app: '(b) /webhooks',
};
const label = (m: Mode) => LABEL[m] ?? `(b) ${m}`;

interface Measure {
  mode: Mode;
  requests: number;
  ok: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  seconds: number;
  rps: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Jobs added to the queue during the run (app only). */
  jobs?: number;
  /** Deliveries the app itself counted as queued (its webhooks_received_total{outcome="queued"}). */
  serverQueued?: number;
  redisCommandsPerReq?: Record<string, number>;
  cpu?: { serverMsPerReq: number; generatorMsPerReq: number; redisMsPerReq: number };
}

interface Snapshot {
  server: NodeJS.CpuUsage;
  generator: NodeJS.CpuUsage;
  redisCpu: number;
  jobs: number;
  /** Requests the server took (app: its queued counter; bare: not known, the 200s are used). */
  queued: number;
  redisCounts: Record<string, number>;
}

let bareServed = 0;

async function queuedCounter(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let n = 0;
  for (const m of text.matchAll(/^itrb_webhooks_received_total\{[^}]*outcome="queued"[^}]*\} (\d+)/gm))
    n += Number(m[1]);
  return n;
}

/**
 * The counters before or after a measured run. The app's queued count is read from its /metrics, whose scrape
 * reads the queue's depth from Redis: the round trips are read after that scrape before the run and before it
 * after the run, so the benchmark's own scrape is never counted as the webhooks'.
 */
async function snapshot(
  child: Child,
  queue: Queue,
  mode: Mode,
  port: number,
  phase: 'before' | 'after',
): Promise<Snapshot> {
  const countsAfterRun =
    phase === 'after' && isApp(mode) ? await child.call<Record<string, number>>('redisCounts') : undefined;
  return {
    server: await child.call<NodeJS.CpuUsage>('cpu'),
    generator: process.cpuUsage(),
    redisCpu: await redisCpuSeconds(queue.opts.connection as unknown as Redis),
    jobs: isApp(mode) ? await queue.getJobCountByTypes('waiting', 'prioritized') : 0,
    queued:
      mode === 'naive'
        ? await queue.getJobCountByTypes('waiting', 'prioritized')
        : isApp(mode)
          ? await queuedCounter(port)
          : bareServed,
    redisCounts:
      countsAfterRun ?? (isApp(mode) ? await child.call<Record<string, number>>('redisCounts') : {}),
  };
}

/** Lets requests cut off at the end of a run finish on the server before counting. */
async function settle(queue: Queue, mode: Mode): Promise<void> {
  if (!isApp(mode)) return sleep(300);
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const n = await queue.getJobCountByTypes('waiting', 'prioritized');
    if (n === last) return;
    last = n;
    await sleep(200);
  }
}

let orderSeq = 7_000_000_000_000;

function requests(): autocannon.Request[] {
  return [
    {
      method: 'POST',
      path: '/webhooks',
      setupRequest: (req: autocannon.Request) => {
        const n = ++orderSeq;
        const body = orderPaidBody({
          orderId: n,
          customerId: 9_000_000 + (n % 5000),
          email: `c${n % 5000}@example.com`,
        });
        return { ...req, body, headers: deliveryHeaders(body) };
      },
    },
  ];
}

async function fire(
  mode: Mode,
  port: number,
  load: { amount?: number; duration?: number; overallRate?: number },
): Promise<Measure> {
  const started = process.hrtime.bigint();
  const r = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: CONNECTIONS,
    pipelining: 1,
    timeout: 10,
    requests: requests(),
    ...load,
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const ok = r['2xx'];
  if (mode === 'bare') bareServed += ok;
  return {
    mode,
    requests: r.requests.total,
    ok,
    non2xx: r.non2xx,
    errors: r.errors,
    timeouts: r.timeouts,
    seconds: round(seconds, 3),
    rps: round(ok / seconds, 1),
    p50: r.latency.p50,
    p90: r.latency.p90,
    p99: r.latency.p99,
    max: r.latency.max,
  };
}

async function startServer(mode: Mode, prefix: string): Promise<{ child: Child; port: number }> {
  const child = await Child.start('web-child.ts', {
    name: `web-${mode}`,
    env: {
      ...appEnv(prefix, mode === 'app-quiet' ? { LOG_LEVEL: 'warn' } : {}),
      BENCH_WEB_MODE: mode === 'bare' || mode === 'naive' ? mode : 'app',
    },
  });
  return { child, port: await child.call<number>('port') };
}

async function measureOne(mode: Mode, run: number, amounts: Partial<Record<Mode, number>>) {
  const prefix = benchPrefix(`ingress-${mode}`);
  const { child, port } = await startServer(mode, prefix);
  const redis = benchRedis();
  const keys = createKeys(prefix);
  // The app queues into the bench shop's shard (the app's default shard count); the naive bridge its own.
  const shards = DEFAULT_QUEUE_SHARDS;
  const queuePrefix =
    mode === 'naive' ? keys.bullPrefix : shardPrefix(keys, shardOfShop(BENCH_SHOP, shards), shards);
  const queue = new Queue(SYNC_QUEUE, { connection: redis, prefix: queuePrefix });
  try {
    // Warm-up (JIT, connections, Redis scripts); sizes the measured run on the first round.
    const warm = await fire(mode, port, { duration: WARMUP_SECONDS });
    amounts[mode] ??= Math.max(CONNECTIONS * 10, Math.round(warm.rps * RUN_SECONDS));
    await settle(queue, mode);
    const before = await snapshot(child, queue, mode, port, 'before');
    const m = await fire(mode, port, { amount: amounts[mode] });
    await settle(queue, mode);
    const after = await snapshot(child, queue, mode, port, 'after');
    const served = after.queued - before.queued;
    m.cpu = {
      serverMsPerReq: round(cpuMs(after.server, before.server) / served, 3),
      generatorMsPerReq: round(cpuMs(after.generator, before.generator) / served, 3),
      redisMsPerReq: round((1000 * (after.redisCpu - before.redisCpu)) / served, 3),
    };
    if (isApp(mode)) {
      m.jobs = after.jobs - before.jobs;
      m.serverQueued = served;
      m.redisCommandsPerReq = Object.fromEntries(
        Object.entries(after.redisCounts).map(([k, v]) => [
          k,
          round((v - (before.redisCounts[k] ?? 0)) / served, 2),
        ]),
      );
    }
    const paced = await fire(mode, port, { duration: RUN_SECONDS, overallRate: PACED_RATE });
    console.log(
      `  run ${run + 1} ${mode.padEnd(5)}: ${m.rps} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, 200s ${m.ok}` +
        (m.jobs !== undefined ? `, queued ${m.serverQueued}, jobs ${m.jobs}` : '') +
        (m.non2xx || m.errors ? `, non-2xx ${m.non2xx}, errors ${m.errors}` : '') +
        `; CPU ms/req server ${m.cpu.serverMsPerReq}, Redis ${m.cpu.redisMsPerReq}, load generator ${m.cpu.generatorMsPerReq}` +
        `; paced ${PACED_RATE}/s: p50 ${paced.p50} ms, p99 ${paced.p99} ms` +
        (m.redisCommandsPerReq ? `; Redis round trips/req ${m.redisCommandsPerReq['(round trips)']}` : ''),
    );
    return { m, paced };
  } finally {
    await queue.close();
    await child.stop();
    await dropPrefix(redis, prefix);
    await redis.quit();
  }
}

async function main(): Promise<void> {
  const machine = printMachine('Benchmark 1: webhook ingress');
  const t0 = Date.now();
  const runs: Measure[] = [];
  const paced: Measure[] = [];
  const amounts: Partial<Record<Mode, number>> = {};
  console.log(
    `autocannon in this process, ${CONNECTIONS} connections; servers in child processes; ${RUNS} runs of ~${RUN_SECONDS} s, each taking bare, naive and app in turn (rotating order), then paced at ${PACED_RATE} req/s`,
  );

  const base: Mode[] = ['bare', 'naive', 'app'];
  for (let run = 0; run < RUNS; run++) {
    const order = [...base.slice(run % 3), ...base.slice(0, run % 3), ...VARIANTS];
    for (const mode of order) {
      const r = await measureOne(mode, run, amounts);
      runs.push(r.m);
      paced.push(r.paced);
    }
  }

  const of = (mode: Mode, list = runs) => list.filter((r) => r.mode === mode);
  const med = (mode: Mode, k: keyof Measure, list = runs) => median(of(mode, list).map((r) => Number(r[k])));
  const cpuPerWebhook = (r: Measure) => (r.cpu ? r.cpu.serverMsPerReq + r.cpu.redisMsPerReq : Number.NaN);
  const medCpu = (rs: Measure[]) => ({
    server: median(rs.map((r) => r.cpu?.serverMsPerReq ?? Number.NaN)),
    redis: median(rs.map((r) => r.cpu?.redisMsPerReq ?? Number.NaN)),
    serverPlusRedis: round(median(rs.map(cpuPerWebhook)), 3),
    loadGenerator: median(rs.map((r) => r.cpu?.generatorMsPerReq ?? Number.NaN)),
  });
  /** Median over runs of a per-run ratio of mode x to mode y (both measured in the same run). */
  const perRun = (x: Mode, y: Mode, f: (m: Measure) => number, list = runs) =>
    of(x, list).map((b, i) => f(b) / f(of(y, list)[i]!));
  const ratio = (xs: number[]) => round(median(xs), 3);
  const rpsAppBare = perRun('app', 'bare', (m) => m.rps);
  const rpsAppNaive = perRun('app', 'naive', (m) => m.rps);
  const rpsNaiveBare = perRun('naive', 'bare', (m) => m.rps);
  const cpuAppNaive = perRun('app', 'naive', cpuPerWebhook);
  const p99AppBare = perRun('app', 'bare', (m) => m.p99, paced);
  const p99NaiveBare = perRun('naive', 'bare', (m) => m.p99, paced);

  const accounting = (mode: Mode) => {
    const rs = of(mode);
    const ok200 = rs.reduce((s, r) => s + r.ok, 0);
    const jobs = rs.reduce((s, r) => s + (r.jobs ?? 0), 0);
    const serverQueued = rs.reduce((s, r) => s + (r.serverQueued ?? 0), 0);
    const notOk = rs.reduce((s, r) => s + r.non2xx + r.errors + r.timeouts, 0);
    // Every delivery answered 200 (and counted as queued) must be a job; the client sees at most those.
    return {
      responses200: ok200,
      serverQueued,
      jobsQueued: jobs,
      lost: Math.max(ok200, serverQueued) - jobs,
      notOk,
    };
  };
  const acc = accounting('app');
  const roundTrips = median(of('app').map((r) => r.redisCommandsPerReq?.['(round trips)'] ?? Number.NaN));
  const naiveRoundTrips = median(
    of('naive').map((r) => r.redisCommandsPerReq?.['(round trips)'] ?? Number.NaN),
  );

  const summary = (mode: Mode) => ({
    rps: med(mode, 'rps'),
    p50: med(mode, 'p50'),
    p99: med(mode, 'p99'),
    pacedP50: med(mode, 'p50', paced),
    pacedP99: med(mode, 'p99', paced),
    cpuMsPerWebhook: medCpu(of(mode)),
  });
  const figures = {
    bare: summary('bare'),
    naive: summary('naive'),
    app: summary('app'),
    ratioAppToBare: ratio(rpsAppBare),
    ratioAppToNaive: ratio(rpsAppNaive),
    ratioNaiveToBare: ratio(rpsNaiveBare),
    cpuPerWebhookAppToNaive: ratio(cpuAppNaive),
    pacedP99AppToBare: ratio(p99AppBare),
    pacedP99NaiveToBare: ratio(p99NaiveBare),
    perRun: {
      rpsAppToBare: rpsAppBare.map((r) => round(r, 3)),
      rpsAppToNaive: rpsAppNaive.map((r) => round(r, 3)),
      cpuAppToNaive: cpuAppNaive.map((r) => round(r, 3)),
      pacedP99AppToBare: p99AppBare.map((r) => round(r, 3)),
    },
    redisRoundTripsPerWebhook: { app: roundTrips, naive: naiveRoundTrips },
    redisCommandsPerRequest: {
      app: of('app').at(-1)?.redisCommandsPerReq,
      naive: of('naive').at(-1)?.redisCommandsPerReq,
    },
    accounting: { app: acc, naive: accounting('naive') },
    variants: Object.fromEntries(
      VARIANTS.map((v) => [v, { ...summary(v), ratioToBare: ratio(perRun(v, 'bare', (m) => m.rps)) }]),
    ),
    runs,
    paced,
  };

  console.log(
    `\nsaturated (${CONNECTIONS} connections) and paced (${PACED_RATE} req/s), medians of ${RUNS} runs:`,
  );
  console.log(
    table(
      ['server', 'req/s', 'p50 ms', 'p99 ms', 'paced p99 ms', 'CPU ms/webhook (server + Redis)'],
      (['bare', 'naive', 'app', ...VARIANTS] as Mode[]).map((m) => {
        const f = summary(m);
        return [
          label(m),
          f.rps,
          f.p50,
          f.p99,
          f.pacedP99,
          `${f.cpuMsPerWebhook.serverPlusRedis} (${f.cpuMsPerWebhook.server} + ${f.cpuMsPerWebhook.redis})`,
        ];
      }),
    ),
  );
  console.log(
    `ratios (median of per-run ratios): req/s app÷bare ${figures.ratioAppToBare}, app÷naive ${figures.ratioAppToNaive}, naive÷bare ${figures.ratioNaiveToBare}; ` +
      `CPU/webhook app÷naive ${figures.cpuPerWebhookAppToNaive}; paced p99 app÷bare ${figures.pacedP99AppToBare}, naive÷bare ${figures.pacedP99NaiveToBare}`,
  );
  console.log(`Redis commands per request: ${JSON.stringify(figures.redisCommandsPerRequest)}`);
  console.log(
    `\naccounting (b): ${acc.responses200} answers 200 seen, ${acc.serverQueued} counted as queued by the app, ${acc.jobsQueued} jobs in the queue, lost ${acc.lost}, not-200 ${acc.notOk}`,
  );

  const goals: Goal[] = [
    {
      figure: 'ingress req/s app ÷ bare route',
      goal: '≥ 0.75',
      value: figures.ratioAppToBare,
      met: figures.ratioAppToBare >= 0.75,
    },
    {
      figure: 'ingress req/s app ÷ naive bridge',
      goal: '> 1',
      value: figures.ratioAppToNaive,
      met: figures.ratioAppToNaive > 1,
    },
    {
      figure: 'ingress CPU per webhook (server + Redis) app ÷ naive',
      goal: '≤ 0.8',
      value: figures.cpuPerWebhookAppToNaive,
      met: figures.cpuPerWebhookAppToNaive <= 0.8,
    },
    {
      figure: `ingress p99 paced at ${PACED_RATE} req/s, app ÷ bare`,
      goal: '≤ 1.5',
      value: figures.pacedP99AppToBare,
      met: figures.pacedP99AppToBare <= 1.5,
    },
    { figure: 'Redis round trips per accepted webhook', goal: '1', value: roundTrips, met: roundTrips <= 1 },
    {
      figure: 'ingress 200s without a job',
      goal: '0',
      value: acc.lost,
      met: acc.lost <= 0 && acc.notOk === 0,
    },
  ];
  console.log('');
  printGoals(goals);

  const result: BenchResult = {
    name: VARIANTS.length ? 'ingress-variants' : 'ingress',
    title: 'Webhook ingress: real /webhooks vs the naive bridge vs a bare Express route',
    startedAt: new Date(t0).toISOString(),
    durationS: round((Date.now() - t0) / 1000, 1),
    machine,
    params: {
      connections: CONNECTIONS,
      runs: RUNS,
      runSeconds: RUN_SECONDS,
      requestsPerRun: amounts,
      pacedRate: PACED_RATE,
      bodyBytes: Buffer.byteLength(
        orderPaidBody({ orderId: orderSeq, customerId: 1, email: 'c1@example.com' }),
      ),
      process: 'servers in child processes (tsx), autocannon in the bench process, logs at info to /dev/null',
    },
    figures,
    goals,
    notes: [
      `At saturation with ${CONNECTIONS} connections, latency ≈ connections ÷ throughput (Little's law): p99 there measures the queue in front of one Node process, not the handler.`,
      'Redis CPU is read from INFO cpu of a Redis shared with other work on the machine: an upper bound of what these deliveries cost it.',
    ],
  };
  console.log(`results: ${writeResult(result)}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
