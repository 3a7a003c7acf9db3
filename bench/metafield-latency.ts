/**
 * Benchmark 8 — time to the loyalty metafield.
 *
 * From a webhook's 200 to the customer's `$app.loyalty_points` metafield holding the new balance in
 * Shopify, at a sustained BENCH_RATE (100) orders/s for BENCH_SECONDS (30), beside the time to the new
 * balance in IT Retail of the same orders (benchmark 4's figure, the baseline: the metafield is written
 * after it). The real web process and worker run in child processes, the IT Retail simulator in another;
 * the Admin API stand-in (fakes/shopify/admin.ts with its metafield operations) runs in this process and
 * notes when each customer's metafield is first set — each order is for a different pre-linked customer,
 * so that is the order's new balance. Also: metafields per metafieldsSet call (the per-shop batch drains up
 * to 25 per call).
 *
 *   npx tsx bench/metafield-latency.ts   (BENCH_RATE=100 BENCH_SECONDS=30 BENCH_LATENCY_MS=20 BENCH_CONCURRENCY=10)
 */
import { Agent } from 'undici';
import { ShopifyAdminFake } from '../fakes/shopify/admin.js';
import { installLoyaltyApi } from '../fakes/shopify/admin-loyalty.js';
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
import { deliverOrder, latencyStats, sendOpenLoop, startOrderStack, warmUp } from './lib/open-loop.js';
import { BENCH_SHOP } from './lib/shopify.js';

const RATE = envInt('BENCH_RATE', 100, 1, 5000);
const SECONDS = envInt('BENCH_SECONDS', 30, 1, 600);
const LATENCY_MS = envInt('BENCH_LATENCY_MS', 20, 0, 10_000);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 10, 1, 1000);
const TOKEN = 'shpat_bench_metafields';

async function main(): Promise<void> {
  const machine = printMachine('Benchmark 8: time to the loyalty metafield');
  const t0 = Date.now();
  const total = RATE * SECONDS;
  const prefix = benchPrefix('mf');
  const redis = benchRedis();
  const keys = createKeys(prefix);
  // Shopify's standard bucket (2,000 points, 100 a second), as a shop has it.
  const fake = await ShopifyAdminFake.start({ accessTokens: [TOKEN] });
  const loyalty = installLoyaltyApi(fake);
  const landed = new Map<string, number>();
  loyalty.onSet = (m) => {
    const id = m.ownerId.replace('gid://shopify/Customer/', '');
    if (!landed.has(id)) landed.set(id, Date.now());
  };
  const children: Child[] = [];
  const dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
  try {
    const stack = await startOrderStack(
      {
        redis,
        keys,
        prefix,
        latencyMs: LATENCY_MS,
        concurrency: CONCURRENCY,
        total,
        env: {
          SHOPIFY_SHOP: BENCH_SHOP,
          SHOPIFY_ADMIN_ACCESS_TOKEN: TOKEN,
          BENCH_SHOPIFY_ORIGIN: fake.origin,
        },
      },
      children,
    );
    const { sim, customers, url } = stack;
    console.log(
      `${RATE} orders/s for ${SECONDS} s (${total} orders, one per pre-linked customer), IT Retail latency ${LATENCY_MS} ms, ` +
        `worker concurrency ${CONCURRENCY}; Admin API stand-in (2,000-point bucket, 100/s) in this process`,
    );

    await warmUp(stack, redis, keys, dispatcher, 2000);
    const callsBefore = loyalty.metafieldCalls.length;

    const okAt = new Map<string, number>();
    const sendSeconds = await sendOpenLoop(total, RATE, (i) => {
      const c = customers[i]!;
      return deliverOrder(url, dispatcher, 2_000_000_000 + i, c).then(
        (r) => {
          if (r.status === 200) okAt.set(String(c.shopifyId), r.at);
        },
        () => undefined,
      );
    });

    const byShopify = new Map(customers.map((c) => [String(c.shopifyId), c.id]));
    await waitUntil(
      'every metafield to land',
      async () => [...okAt.keys()].every((id) => landed.has(id)),
      120_000,
      250,
    ).catch((e: Error) => console.log(`  ${e.message}`));
    const putAt = new Map<string, number>();
    const r = await sim.call<{ puts: { customerId: string; doneAt: number }[] }>('puts');
    for (const p of r.puts) if (!putAt.has(p.customerId)) putAt.set(p.customerId, p.doneAt);

    const toMetafield: number[] = [];
    const toBalance: number[] = [];
    for (const [shopifyId, at] of okAt) {
      const m = landed.get(shopifyId);
      if (m !== undefined) toMetafield.push(m - at);
      const put = putAt.get(byShopify.get(shopifyId) ?? '');
      if (put !== undefined) toBalance.push(put - at);
    }
    const calls = loyalty.metafieldCalls.slice(callsBefore);
    const written = calls.reduce((a, b) => a + b, 0);
    const mf = latencyStats(toMetafield);
    const ttb = latencyStats(toBalance);
    const throttled = fake.received.filter(
      (x) => x.operationName === 'LoyaltyPointsMetafieldsSet' && x.outcome === 'throttled',
    ).length;
    const figures = {
      ordersSent: total,
      achievedRate: round(total / sendSeconds, 1),
      answered200: okAt.size,
      metafieldsLanded: toMetafield.length,
      timeToMetafieldMs: mf,
      timeToBalanceMs: ttb,
      p99Ratio: round(mf.p99 / ttb.p99, 2),
      p50Ratio: round(mf.p50 / ttb.p50, 2),
      metafieldsSetCalls: calls.length,
      metafieldsWritten: written,
      writesPerCall: round(written / Math.max(1, calls.length), 1),
      largestCall: calls.length ? Math.max(...calls) : 0,
      throttledAnswers: throttled,
    };
    console.log('');
    console.log(
      table(['from → to', 'n', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'], [
        ['webhook 200 → metafield holds the new balance', ...Object.values(mf)],
        ['webhook 200 → balance in IT Retail (baseline)', ...Object.values(ttb)],
      ] as (string | number)[][]),
    );
    console.log(
      `metafield p99 ÷ balance p99 = ${figures.p99Ratio}; ${written} metafields in ${calls.length} metafieldsSet calls ` +
        `(${figures.writesPerCall} a call, largest ${figures.largestCall}), ${throttled} THROTTLED answers`,
    );
    const goals: Goal[] = [
      {
        figure: 'metafields that landed',
        goal: `${okAt.size}`,
        value: toMetafield.length,
        met: toMetafield.length === okAt.size,
      },
      {
        figure: 'metafields per metafieldsSet call',
        goal: '> 1 (batched), ≤ 25',
        value: figures.writesPerCall,
        met: figures.writesPerCall > 1 && figures.largestCall <= 25,
      },
    ];
    console.log('');
    printGoals(goals);
    const result: BenchResult = {
      name: 'metafield-latency',
      title: 'Webhook 200 → the loyalty metafield holds the new balance, beside → IT Retail balance',
      startedAt: new Date(t0).toISOString(),
      durationS: round((Date.now() - t0) / 1000, 1),
      machine,
      params: { rate: RATE, seconds: SECONDS, latencyMs: LATENCY_MS, concurrency: CONCURRENCY },
      figures,
      goals,
      notes: [
        'The metafield is written after the IT Retail Put is counted: its time includes the balance time, the per-shop sync window (250 ms) and the metafieldsSet call.',
      ],
    };
    console.log(`results: ${writeResult(result)}`);
  } finally {
    for (const c of children.reverse()) await c.stop();
    await dispatcher.close();
    await fake.close();
    await dropPrefix(redis, prefix);
    await redis.quit();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
