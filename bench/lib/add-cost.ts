/**
 * Diagnostic: what one BullMQ add costs the client and Redis (INFO commandstats, INFO cpu) for the app's job
 * shape and simpler ones. N=3000 adds per variant, CONC=50 at a time.  npx tsx bench/lib/add-cost.ts
 */
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { SYNC_JOB_OPTIONS } from '../../src/queue/jobs.js';
import { REDIS_URL } from './common.js';
import { orderPaidBody } from './shopify.js';

const url = REDIS_URL;
const N = Number(process.env.N ?? 3000);
const redis = new Redis(url, { maxRetriesPerRequest: null });
const admin = new Redis(url);

async function stats() {
  const info = await admin.info('commandstats');
  const m = /cmdstat_evalsha:calls=(\d+),usec=(\d+)/.exec(info);
  const cpu = await admin.info('cpu');
  const s = Number(/used_cpu_sys:([\d.]+)/.exec(cpu)![1]) + Number(/used_cpu_user:([\d.]+)/.exec(cpu)![1]);
  return { calls: Number(m?.[1] ?? 0), usec: Number(m?.[2] ?? 0), cpu: s };
}

type V = {
  name: string;
  defaults: object;
  make: (i: number, body: string) => { data: unknown; opts: object };
};
let seq = 0;

/** The app's webhook job data: the body kept as the text that came. */
const webhookData = (i: number, body: string) => ({
  kind: 'webhook',
  shop: 's.myshopify.com',
  topic: 'orders/paid',
  webhookId: `w${i}`,
  eventId: `e${i}`,
  apiVersion: '2026-07',
  triggeredAt: new Date().toISOString(),
  receivedAt: new Date().toISOString(),
  body,
});

/** The app's add options, with the parts a variant leaves out. */
const appOpts = (i: number, parts: { jobId?: boolean; dedup?: boolean; priority?: boolean }) => ({
  ...(parts.jobId ? { jobId: `wh|s.myshopify.com|orders%2Fpaid|e${i}|abcdef${i}` } : {}),
  ...(parts.dedup ? { deduplication: { id: `wh|s.myshopify.com|orders%2Fpaid|e${i}`, ttl: 172800000 } } : {}),
  ...(parts.priority ? { priority: 2 } : {}),
});

const ALL = { jobId: true, dedup: true, priority: true };
const variants: V[] = [
  {
    name: 'app (body string, jobId, dedup, priority 2)',
    defaults: SYNC_JOB_OPTIONS,
    make: (i, body) => ({ data: webhookData(i, body), opts: appOpts(i, ALL) }),
  },
  {
    name: 'app without priority',
    defaults: SYNC_JOB_OPTIONS,
    make: (i, body) => ({ data: webhookData(i, body), opts: appOpts(i, { jobId: true, dedup: true }) }),
  },
  {
    name: 'app without priority, no dedup',
    defaults: SYNC_JOB_OPTIONS,
    make: (i, body) => ({ data: webhookData(i, body), opts: appOpts(i, { jobId: true }) }),
  },
  {
    name: 'app no priority, no dedup, no jobId',
    defaults: SYNC_JOB_OPTIONS,
    make: (i, body) => ({ data: webhookData(i, body), opts: {} }),
  },
  {
    name: 'naive (payload object, naive defaults)',
    defaults: { attempts: 12, backoff: { type: 'exponential', delay: 2_000 }, removeOnComplete: 10_000 },
    make: (i, body) => ({
      data: { shop: 's', topic: 'orders/paid', eventId: `e${i}`, payload: JSON.parse(body) },
      opts: {},
    }),
  },
  {
    name: 'tiny data, app opts',
    defaults: SYNC_JOB_OPTIONS,
    make: (i) => ({ data: { kind: 'webhook', i }, opts: appOpts(i, ALL) }),
  },
];

async function run(v: V) {
  const prefix = `addcost-${++seq}-${process.pid}`;
  const q = new Queue('sync', { connection: redis, prefix, defaultJobOptions: v.defaults as never });
  await q.waitUntilReady();
  const bodies = Array.from({ length: N }, (_, i) =>
    orderPaidBody({ orderId: 7e12 + i, customerId: 9e6 + i, email: `c${i}@example.com` }),
  );
  // warm-up
  for (let i = 0; i < 200; i++) {
    const { data, opts } = v.make(-i - 1, bodies[i]!);
    await q.add('orders/paid', data as never, opts);
  }
  const s0 = await stats();
  const c0 = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: Number(process.env.CONC ?? 50) }, async () => {
      while (next < N) {
        const i = next++;
        const { data, opts } = v.make(i, bodies[i]!);
        await q.add('orders/paid', data as never, opts);
      }
    }),
  );
  const c = process.cpuUsage(c0);
  const s1 = await stats();
  const evals = s1.calls - s0.calls;
  console.log(
    `${v.name.padEnd(48)} client ${((c.user + c.system) / N).toFixed(1)} µs/add; Redis script ${((s1.usec - s0.usec) / evals).toFixed(1)} µs/call, Redis CPU ${((1e6 * (s1.cpu - s0.cpu)) / N).toFixed(1)} µs/add`,
  );
  await q.obliterate({ force: true });
  await q.close();
}

for (let r = 0; r < 2; r++) for (const v of variants) await run(v);
await redis.quit();
await admin.quit();
