/**
 * Benchmark 1 — webhook ingress.
 *
 * Signed `orders/paid` deliveries (the ~8.5 KB fixture, a fresh event id and order id per request, each body
 * signed) are sent with autocannon at 50 connections to
 *   (a) a bare Express 5 route that reads the raw body and answers 200 (the baseline), and
 *   (b) the real `/webhooks` of createApp (HMAC check, dedupe, enqueue into BullMQ, request logging at 'info').
 * Each server runs in its own child process (stdout, where pino writes, goes to /dev/null); autocannon runs
 * in this process. Runs alternate a/b (a fresh child and, for b, a fresh Redis key prefix per run); each run
 * sends a fixed number of requests sized from a warm-up to last ~5 s, so every answer is counted and the
 * 200s can be compared exactly with the jobs found in the queue.
 * A second, paced measurement (fixed overall rate) gives the latency at a steady load below saturation.
 *
 *   npx tsx bench/ingress.ts        (BENCH_RUNS=3, BENCH_RUN_SECONDS=5, BENCH_PACED_RATE=500)
 */

import autocannon from 'autocannon';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { SYNC_QUEUE } from '../src/queue/names.js';
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
import { appEnv, deliveryHeaders, orderPaidBody } from './lib/shopify.js';

const CONNECTIONS = 50;
const RUNS = envInt('BENCH_RUNS', 3, 1, 20);
const RUN_SECONDS = envInt('BENCH_RUN_SECONDS', 5, 1, 60);
const WARMUP_SECONDS = 2;
const PACED_RATE = envInt('BENCH_PACED_RATE', 500, 10, 100_000);

/**
 * Diagnostic variants of (b), run only when named in BENCH_INGRESS_VARIANTS (comma-separated):
 *   quiet   the real app with LOG_LEVEL=warn — what logging costs.
 */
type Mode = 'bare' | 'app' | 'app-quiet';
const VARIANTS = (process.env.BENCH_INGRESS_VARIANTS ?? '')
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean)
  .map((v) => {
    if (v !== 'quiet') throw new Error(`unknown ingress variant ${v} (quiet)`);
    return `app-${v}` as Mode;
  });
const isApp = (m: Mode) => m !== 'bare';

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

async function snapshot(child: Child, queue: Queue, mode: Mode, port: number): Promise<Snapshot> {
  return {
    server: await child.call<NodeJS.CpuUsage>('cpu'),
    generator: process.cpuUsage(),
    redisCpu: await redisCpuSeconds(queue.opts.connection as unknown as Redis),
    jobs: isApp(mode) ? await queue.getWaitingCount() : 0,
    queued: isApp(mode) ? await queuedCounter(port) : bareServed,
    redisCounts: isApp(mode) ? await child.call<Record<string, number>>('redisCounts') : {},
  };
}

/** Lets requests cut off at the end of a run finish on the server before counting. */
async function settle(queue: Queue, mode: Mode): Promise<void> {
  if (!isApp(mode)) return sleep(300);
  let last = -1;
  for (let i = 0; i < 50; i++) {
    const n = await queue.getWaitingCount();
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
      BENCH_WEB_MODE: isApp(mode) ? 'app' : 'bare',
    },
  });
  return { child, port: await child.call<number>('port') };
}

async function main(): Promise<void> {
  const machine = printMachine('Benchmark 1: webhook ingress');
  const t0 = Date.now();
  const redis = benchRedis();
  const runs: Measure[] = [];
  const paced: Measure[] = [];
  const amounts: Partial<Record<Mode, number>> = {};
  console.log(
    `autocannon in this process, ${CONNECTIONS} connections; servers in child processes; ${RUNS} alternating runs of ~${RUN_SECONDS} s`,
  );

  for (let run = 0; run < RUNS; run++) {
    const order: Mode[] = run % 2 === 0 ? ['bare', 'app'] : ['app', 'bare'];
    order.push(...VARIANTS);
    for (const mode of order) {
      const prefix = benchPrefix(`ingress-${mode}`);
      const { child, port } = await startServer(mode, prefix);
      const keys = createKeys(prefix);
      const queue = new Queue(SYNC_QUEUE, { connection: redis, prefix: keys.bullPrefix });
      try {
        // Warm-up (JIT, connections, Redis scripts); sizes the measured run on the first round.
        const warm = await fire(mode, port, { duration: WARMUP_SECONDS });
        amounts[mode] ??= Math.max(CONNECTIONS * 10, Math.round(warm.rps * RUN_SECONDS));
        await settle(queue, mode);
        const before = await snapshot(child, queue, mode, port);
        const m = await fire(mode, port, { amount: amounts[mode] });
        await settle(queue, mode);
        const after = await snapshot(child, queue, mode, port);
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
            Object.entries(await child.call<Record<string, number>>('redisCounts')).map(([k, v]) => [
              k,
              round((v - (before.redisCounts[k] ?? 0)) / served, 2),
            ]),
          );
        }
        runs.push(m);
        if (run === 0) paced.push(await fire(mode, port, { duration: RUN_SECONDS, overallRate: PACED_RATE }));
        console.log(
          `  run ${run + 1} ${mode.padEnd(4)}: ${m.rps} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, 200s ${m.ok}` +
            (m.jobs !== undefined ? `, app queued ${m.serverQueued}, jobs ${m.jobs}` : '') +
            (m.non2xx || m.errors ? `, non-2xx ${m.non2xx}, errors ${m.errors}` : '') +
            `; CPU ms/req server ${m.cpu.serverMsPerReq}, load generator ${m.cpu.generatorMsPerReq}, Redis ${m.cpu.redisMsPerReq}`,
        );
      } finally {
        await queue.close();
        await child.stop();
        await dropPrefix(redis, prefix);
      }
    }
  }

  const of = (mode: Mode) => runs.filter((r) => r.mode === mode);
  const med = (mode: Mode, k: keyof Measure) => median(of(mode).map((r) => Number(r[k])));
  const medCpu = (rs: Measure[]) => ({
    server: median(rs.map((r) => r.cpu?.serverMsPerReq ?? Number.NaN)),
    loadGenerator: median(rs.map((r) => r.cpu?.generatorMsPerReq ?? Number.NaN)),
    redis: median(rs.map((r) => r.cpu?.redisMsPerReq ?? Number.NaN)),
  });
  const ratios = of('app').map((b, i) => b.rps / of('bare')[i]!.rps);
  const ratio = round(median(ratios), 3);
  const appRuns = of('app');
  const ok200 = appRuns.reduce((s, r) => s + r.ok, 0);
  const jobs = appRuns.reduce((s, r) => s + (r.jobs ?? 0), 0);
  const serverQueued = appRuns.reduce((s, r) => s + (r.serverQueued ?? 0), 0);
  const failed = appRuns.reduce((s, r) => s + r.non2xx + r.errors + r.timeouts, 0);
  // Every delivery the app answered 200 (and counted as queued) must be a job; the client sees at most those.
  const lost = Math.max(ok200, serverQueued) - jobs;

  const figures = {
    bare: { rps: med('bare', 'rps'), p50: med('bare', 'p50'), p99: med('bare', 'p99') },
    app: { rps: med('app', 'rps'), p50: med('app', 'p50'), p99: med('app', 'p99') },
    ratioAppToBare: ratio,
    ratiosPerRun: ratios.map((r) => round(r, 3)),
    accounting: { responses200: ok200, serverQueued, jobsQueued: jobs, lost, notOk: failed },
    cpuMsPerRequest: {
      bare: medCpu(of('bare')),
      app: medCpu(of('app')),
    },
    redisCommandsPerRequest: of('app').at(-1)?.redisCommandsPerReq,
    variants: Object.fromEntries(
      VARIANTS.map((v) => [
        v,
        {
          rps: med(v, 'rps'),
          p50: med(v, 'p50'),
          p99: med(v, 'p99'),
          ratioToBare: round(median(of(v).map((q, i) => q.rps / of('bare')[i]!.rps)), 3),
          cpu: medCpu(of(v)),
        },
      ]),
    ),
    paced: Object.fromEntries(
      paced.map((p) => [
        p.mode,
        { rateTarget: PACED_RATE, rps: p.rps, p50: p.p50, p90: p.p90, p99: p.p99, max: p.max },
      ]),
    ),
    runs,
  };

  console.log(`\nsaturated (${CONNECTIONS} connections), medians of ${RUNS} runs:`);
  console.log(
    table(
      ['server', 'req/s', 'p50 ms', 'p99 ms'],
      [
        ['(a) bare Express', figures.bare.rps, figures.bare.p50, figures.bare.p99],
        ['(b) /webhooks', figures.app.rps, figures.app.p50, figures.app.p99],
        ['ratio b/a', ratio, '', ''],
      ],
    ),
  );
  console.log(`\npaced at ${PACED_RATE} req/s (${CONNECTIONS} connections), one run each:`);
  console.log(
    table(
      ['server', 'req/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      paced.map((p) => [
        p.mode === 'bare' ? '(a) bare Express' : p.mode === 'app' ? '(b) /webhooks' : `(b) ${p.mode}`,
        p.rps,
        p.p50,
        p.p90,
        p.p99,
        p.max,
      ]),
    ),
  );
  console.log(`\nCPU ms per request (medians):`);
  console.log(
    table(
      ['server', 'server process', 'load generator', 'Redis'],
      (['bare', 'app'] as const).map((k) => [
        k === 'bare' ? '(a) bare Express' : '(b) /webhooks',
        figures.cpuMsPerRequest[k].server,
        figures.cpuMsPerRequest[k].loadGenerator,
        figures.cpuMsPerRequest[k].redis,
      ]),
    ),
  );
  console.log(`Redis commands per request (b): ${JSON.stringify(figures.redisCommandsPerRequest)}`);
  for (const [v, f] of Object.entries(figures.variants))
    console.log(`diagnostic variant ${v}: ${JSON.stringify(f)}`);
  console.log(
    `\naccounting (b): ${ok200} answers 200 seen, ${serverQueued} counted as queued by the app, ${jobs} jobs in the queue, lost ${lost}, not-200 ${failed}`,
  );

  const pacedApp = paced.find((p) => p.mode === 'app');
  const goals: Goal[] = [
    { figure: 'ingress req/s ratio b/a', goal: '≥ 0.75', value: ratio, met: ratio >= 0.75 },
    {
      figure: 'ingress p99 at 50 connections (saturated)',
      goal: '≤ 20 ms',
      value: figures.app.p99,
      met: figures.app.p99 <= 20,
    },
    {
      figure: `ingress p99 paced at ${PACED_RATE} req/s`,
      goal: '≤ 20 ms',
      value: pacedApp?.p99 ?? Number.NaN,
      met: (pacedApp?.p99 ?? Number.POSITIVE_INFINITY) <= 20,
    },
    { figure: 'ingress 200s without a job', goal: '0', value: lost, met: lost <= 0 && failed === 0 },
  ];
  console.log('');
  printGoals(goals);

  const result: BenchResult = {
    name: VARIANTS.length ? 'ingress-variants' : 'ingress',
    title: 'Webhook ingress: real /webhooks vs a bare Express route',
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
    ],
  };
  console.log(`results: ${writeResult(result)}`);
  await redis.quit();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
