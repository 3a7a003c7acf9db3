/**
 * Benchmark 4 — time to balance.
 *
 * From the webhook's 200 to the new balance in IT Retail, at a sustained BENCH_RATE (100) orders/s for
 * BENCH_SECONDS (60) with 20 ms IT Retail latency. The real web process (createApp) and the real worker run
 * in child processes, the simulator in another; signed orders/paid deliveries are sent open-loop from this
 * process (one every 10 ms, not waiting for answers), each for a different pre-linked customer, so the first
 * Put to that customer is that order's new balance. The moment of each Put comes from the simulator's own
 * call log (start + duration of the UpdateCustomer call, i.e. when it was applied and answered), read by
 * the simulator process itself — nothing polls the simulator per order. Also split into time waiting in the
 * queue (200 → the job's processedOn) and time working (processedOn → Put).
 *
 *   npx tsx bench/time-to-balance.ts   (BENCH_RATE=100 BENCH_SECONDS=60 BENCH_LATENCY_MS=20 BENCH_CONCURRENCY=10)
 */
import { Agent } from 'undici';
import { createKeys } from '../src/store/keys.js';
import type { Child } from './lib/child.js';
import {
  type BenchResult,
  benchPrefix,
  benchRedis,
  dropPrefix,
  envInt,
  type Goal,
  printGoals,
  printMachine,
  round,
  table,
  waitUntil,
  writeResult,
} from './lib/common.js';
import { type BenchCustomer, jobTimes } from './lib/harness.js';
import { deliverOrder, latencyStats, sendOpenLoop, startOrderStack, warmUp } from './lib/open-loop.js';

const RATE = envInt('BENCH_RATE', 100, 1, 5000);
const SECONDS = envInt('BENCH_SECONDS', 60, 1, 600);
const LATENCY_MS = envInt('BENCH_LATENCY_MS', 20, 0, 10_000);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 10, 1, 1000);

interface Sent {
  i: number;
  customer: BenchCustomer;
  eventId: string;
  /** The job id the app answered with. */
  jobId?: string;
  sentAt: number;
  okAt?: number;
  status?: number;
}

async function main(): Promise<void> {
  const machine = printMachine('Benchmark 4: time to balance');
  const t0 = Date.now();
  const total = RATE * SECONDS;
  const prefix = benchPrefix('ttb');
  const redis = benchRedis();
  const keys = createKeys(prefix);
  const children: Child[] = [];
  const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
  try {
    const stack = await startOrderStack(
      { redis, keys, prefix, latencyMs: LATENCY_MS, concurrency: CONCURRENCY, total },
      children,
    );
    const { sim, customers, url } = stack;
    console.log(
      `${RATE} orders/s for ${SECONDS} s (${total} orders, one per pre-linked customer), IT Retail latency ${LATENCY_MS} ms, ` +
        `worker concurrency ${CONCURRENCY}; web, worker and simulator in child processes, sender in this process`,
    );

    await warmUp(stack, redis, keys, dispatcher, 1500);

    const sent: Sent[] = [];
    const sendSeconds = await sendOpenLoop(total, RATE, (i) => {
      const s: Sent = { i, customer: customers[i]!, eventId: '', sentAt: Date.now() };
      sent.push(s);
      return deliverOrder(url, dispatcher, 2_000_000_000 + i, s.customer).then(
        (r) => {
          s.eventId = r.eventId;
          s.jobId = r.jobId;
          s.status = r.status;
          s.okAt = r.at;
        },
        () => {
          s.status = -1;
        },
      );
    });

    // Every order's Put, as the simulator logged it.
    const putAt = new Map<string, number>();
    let missedDrains = 0;
    const want = new Set(customers.map((c) => c.id));
    await waitUntil(
      'every order to reach IT Retail',
      async () => {
        const r = await sim.call<{ puts: { customerId: string; doneAt: number }[]; missedDrains: number }>(
          'puts',
        );
        missedDrains = r.missedDrains;
        for (const p of r.puts)
          if (want.has(p.customerId) && !putAt.has(p.customerId)) putAt.set(p.customerId, p.doneAt);
        return putAt.size >= want.size;
      },
      60_000,
      250,
    ).catch((e: Error) => console.log(`  ${e.message} (${putAt.size}/${want.size})`));

    const ok = sent.filter((s) => s.status === 200);
    const times = await jobTimes(
      redis,
      keys,
      ok.map((s) => s.jobId ?? ''),
    );
    const processedOn = new Map(times.map((t) => [t.id, t.processedOn]));
    const toBalance: number[] = [];
    const waiting: number[] = [];
    const working: number[] = [];
    const ingress: number[] = [];
    for (const s of ok) {
      ingress.push(s.okAt! - s.sentAt);
      const done = putAt.get(s.customer.id);
      if (done === undefined) continue;
      toBalance.push(done - s.okAt!);
      const p = processedOn.get(s.jobId ?? '');
      if (p !== undefined) {
        waiting.push(p - s.okAt!);
        working.push(done - p);
      }
    }
    const ttb = latencyStats(toBalance);
    const figures = {
      ordersSent: total,
      sendSeconds: round(sendSeconds, 2),
      achievedRate: round(total / sendSeconds, 1),
      answered200: ok.length,
      reachedITRetail: toBalance.length,
      missedLogDrains: missedDrains,
      timeToBalanceMs: ttb,
      queueWaitMs: latencyStats(waiting),
      workMs: latencyStats(working),
      webhookResponseMs: latencyStats(ingress),
    };

    console.log('');
    console.log(
      table(['from → to', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'], [
        ['webhook 200 → balance in IT Retail', ...Object.values(ttb)],
        ['  200 → job started (queue wait)', ...Object.values(figures.queueWaitMs)],
        ['  job started → Put applied', ...Object.values(figures.workMs)],
        ['webhook sent → 200', ...Object.values(figures.webhookResponseMs)],
      ] as (string | number)[][]),
    );
    console.log(
      `sent ${total} at ${figures.achievedRate}/s, ${ok.length} answered 200, ${toBalance.length} reached IT Retail`,
    );

    const goals: Goal[] = [
      { figure: 'time to balance p99', goal: '< 300 ms', value: ttb.p99, met: ttb.p99 < 300 },
      {
        figure: 'orders that reached IT Retail',
        goal: `${total}`,
        value: toBalance.length,
        met: toBalance.length === total,
      },
    ];
    console.log('');
    printGoals(goals);
    const result: BenchResult = {
      // A run with another worker concurrency is kept beside the default one.
      name: CONCURRENCY === 10 ? 'time-to-balance' : `time-to-balance-c${CONCURRENCY}`,
      title: 'Webhook 200 → new balance in IT Retail at a sustained rate',
      startedAt: new Date(t0).toISOString(),
      durationS: round((Date.now() - t0) / 1000, 1),
      machine,
      params: {
        rate: RATE,
        seconds: SECONDS,
        latencyMs: LATENCY_MS,
        concurrency: CONCURRENCY,
        process:
          'web (createApp), worker and simulator in child processes; open-loop sender in the bench process',
      },
      figures,
      goals,
      notes: [
        'Each order is for a different pre-linked customer; its balance time is the end of the first UpdateCustomer to that customer in the simulator log.',
      ],
    };
    console.log(`results: ${writeResult(result)}`);
  } finally {
    for (const c of children.reverse()) await c.stop();
    await dispatcher.close();
    await dropPrefix(redis, prefix);
    await redis.quit();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
