/**
 * Benchmark 6 — what Redis keeps per order and per customer, and that it stops growing past the horizon.
 *
 * 100,000 orders of 20,000 customers (5 each; one in five refunded) are merged exactly as the worker
 * merges them — the published orders/paid shape through orderSchema, factsFromOrder and mergeOrderFacts
 * (with the buyer's names), the ledger the reconciliation writes (appliedPoints, itrCustomerId), the
 * customer's links and email-index entry — with a simulated clock of one order every 10 minutes. No IT
 * Retail calls: this measures the store, not the sync. Bytes are Redis's own MEMORY USAGE of every key of
 * the run's prefix (SAMPLES 0: every element counted), grouped by kind.
 *
 * Run A keeps everything (no horizon). Run B compacts after every 10,000 orders with a horizon of 20,000
 * orders' time (about 139 days of simulated time): its total must stop following the orders once the
 * horizon is reached, growing only by the ledger entry of each compacted order.
 *
 *   npx tsx bench/order-retention.ts     (BENCH_RETENTION_ORDERS=100000, BENCH_RETENTION_CUSTOMERS=20000)
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { createKeys, type Keys } from '../src/store/keys.js';
import { factsFromOrder, mergeOrderFacts } from '../src/sync/order-state.js';
import { type OrderPayload, orderSchema, refundSchema } from '../src/sync/payloads.js';
import { compactOrders } from '../src/sync/retention.js';
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
  writeResult,
} from './lib/common.js';

const ORDERS = envInt('BENCH_RETENTION_ORDERS', 100_000, 1000, 1_000_000);
const CUSTOMERS = envInt('BENCH_RETENTION_CUSTOMERS', 20_000, 10, 1_000_000);
const STEP = 10_000;
const SHOP = 'bench-retention.myshopify.com';
const TICK_MS = 10 * 60_000;
const HORIZON_ORDERS = 20_000;
const CONCURRENCY = 200;

const fixture = (name: string) =>
  JSON.parse(readFileSync(new URL(`../test/fixtures/shopify/${name}.json`, import.meta.url), 'utf8'));
const ORDER = orderSchema.parse(fixture('orders-paid'));
const REFUND = refundSchema.parse(fixture('refunds-create'));

/** Bytes by kind of key: order facts, order bookkeeping (by change, ledger), per-customer keys. */
async function measure(redis: Redis, prefix: string) {
  const kinds: Record<string, number> = {};
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
    cursor = next;
    const p = redis.pipeline();
    for (const k of found) p.call('memory', 'usage', k, 'samples', '0');
    const sizes = (await p.exec()) ?? [];
    found.forEach((k, i) => {
      const kind = k.slice(prefix.length + 1).split(':')[2] ?? '?';
      kinds[kind] = (kinds[kind] ?? 0) + Number(sizes[i]?.[1] ?? 0);
    });
  } while (cursor !== '0');
  const total = Object.values(kinds).reduce((a, b) => a + b, 0);
  return { total, kinds };
}

async function mergeOne(redis: Redis, keys: Keys, i: number, t0: number) {
  const c = i % CUSTOMERS;
  const email = `customer-${c}@example.com`;
  const orderId = String(7_000_000_000_000 + i);
  const order: OrderPayload = {
    ...ORDER,
    id: orderId,
    name: `#${1000 + i}`,
    email,
    customer: {
      ...(ORDER.customer as NonNullable<OrderPayload['customer']>),
      id: String(8_000_000_000_000 + c),
      email,
    },
    snapshot: ORDER.snapshot ? { ...ORDER.snapshot, at: t0 + i * TICK_MS } : undefined,
  };
  const now = t0 + i * TICK_MS;
  const facts = factsFromOrder(order, { rateMilli: 1000 }, true);
  const buyer = { firstName: 'Maria', lastName: 'Lopez', phone: '+16135550101' };
  await mergeOrderFacts(redis, keys, SHOP, orderId, facts, buyer, now);
  const itrId = `itr-${c}`;
  const tx = redis.multi().hset(keys.order(SHOP, orderId), 'appliedPoints', '54', 'itrCustomerId', itrId);
  if (i < CUSTOMERS) {
    tx.hset(keys.linkEmail(SHOP), email, itrId);
    tx.hset(keys.linkCustomer(SHOP), order.customer?.id ?? '', itrId);
    tx.hset(keys.emailIndex(SHOP), email, `${itrId}|${100_000 + c}`);
  }
  await tx.exec();
  if (i % 5 === 4) {
    const facts2 = { refunds: { [`${orderId}1`]: REFUND.amounts } };
    await mergeOrderFacts(redis, keys, SHOP, orderId, facts2, undefined, now + TICK_MS / 2);
  }
}

interface Point {
  orders: number;
  totalBytes: number;
  kinds: Record<string, number>;
  compacted: number;
}

async function run(redis: Redis, horizonOrders: number | undefined): Promise<Point[]> {
  const prefix = benchPrefix('retention');
  const keys = createKeys(prefix);
  const t0 = Date.UTC(2026, 0, 1);
  const points: Point[] = [];
  let compacted = 0;
  try {
    for (let from = 0; from < ORDERS; from += STEP) {
      for (let i = from; i < Math.min(ORDERS, from + STEP); i += CONCURRENCY) {
        const batch = [];
        for (let j = i; j < Math.min(ORDERS, from + STEP, i + CONCURRENCY); j++)
          batch.push(mergeOne(redis, keys, j, t0));
        await Promise.all(batch);
      }
      const done = Math.min(ORDERS, from + STEP);
      if (horizonOrders) {
        const r = await compactOrders(redis, keys, SHOP, {
          horizonMs: horizonOrders * TICK_MS,
          nowMs: t0 + done * TICK_MS,
        });
        compacted += r.compacted;
      }
      const m = await measure(redis, prefix);
      points.push({ orders: done, totalBytes: m.total, kinds: m.kinds, compacted });
      console.log(`  ${done} orders: ${round(m.total / 2 ** 20, 1)} MiB, ${compacted} compacted`);
    }
    return points;
  } finally {
    await dropPrefix(redis, prefix);
  }
}

async function main() {
  const started = Date.now();
  const machine = printMachine('6. order retention (Redis bytes per order and per customer)');
  const redis = benchRedis();
  console.log(`run A: ${ORDERS} orders of ${CUSTOMERS} customers, nothing compacted`);
  const a = await run(redis, undefined);
  console.log(
    `run B: the same, compacted after every ${STEP} orders, horizon ${HORIZON_ORDERS} orders' time`,
  );
  const b = await run(redis, HORIZON_ORDERS);
  await redis.quit();

  const endA = a.at(-1)!;
  const customerKinds = ['link', 'idx', 'orders-by-email', 'orders-by-customer'];
  const customerBytes = customerKinds.reduce((s, k) => s + (endA.kinds[k] ?? 0), 0);
  const orderBytesA = endA.totalBytes - customerBytes;
  // Growth per order between the last two points: facts kept (A) against only the ledger (B).
  const slope = (ps: Point[]) => (ps.at(-1)!.totalBytes - ps.at(-2)!.totalBytes) / STEP;
  const endB = b.at(-1)!;
  const ledgerPerOrder = (endB.kinds['order-ledger'] ?? 0) / Math.max(1, endB.compacted);
  const figures = {
    bytesPerOrderKept: round(orderBytesA / ORDERS, 0),
    bytesPerCustomer: round(customerBytes / CUSTOMERS, 0),
    totalMiBKept: round(endA.totalBytes / 2 ** 20, 1),
    totalMiBCompacted: round(endB.totalBytes / 2 ** 20, 1),
    growthPerOrderKept: round(slope(a), 0),
    growthPerOrderPastHorizon: round(slope(b), 0),
    ledgerBytesPerCompactedOrder: round(ledgerPerOrder, 0),
    byKindKept: endA.kinds,
    byKindCompacted: endB.kinds,
    runA: a.map((p) => [p.orders, p.totalBytes]),
    runB: b.map((p) => [p.orders, p.totalBytes, p.compacted]),
  };
  console.log(
    table(
      ['orders', 'kept (MiB)', 'compacted (MiB)', 'orders compacted'],
      a.map((p, i) => [
        p.orders,
        round(p.totalBytes / 2 ** 20, 2),
        round(b[i]!.totalBytes / 2 ** 20, 2),
        b[i]!.compacted,
      ]),
    ),
  );
  const goals: Goal[] = [
    {
      figure: 'growth per order past the horizon ÷ growth per order with everything kept',
      goal: '≤ 0.2',
      value: round(slope(b) / slope(a), 3),
      met: slope(b) / slope(a) <= 0.2,
    },
  ];
  printGoals(goals);
  const result: BenchResult = {
    name: 'order-retention',
    title: 'Redis bytes per order and per customer; growth past the retention horizon',
    startedAt: new Date(started).toISOString(),
    durationS: round((Date.now() - started) / 1000, 1),
    machine,
    params: {
      orders: ORDERS,
      customers: CUSTOMERS,
      step: STEP,
      horizonOrders: HORIZON_ORDERS,
      refundedShare: 0.2,
    },
    figures,
    goals,
    notes: [
      'Bytes are MEMORY USAGE (SAMPLES 0) summed over every key of the run; Redis allocator overhead outside keys is not counted.',
      'Per customer: link:email, link:customer and idx entries plus the orders-by-email/-customer sets.',
    ],
  };
  console.log(`figures: ${JSON.stringify({ ...figures, runA: undefined, runB: undefined })}`);
  console.log(`written: ${writeResult(result)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
