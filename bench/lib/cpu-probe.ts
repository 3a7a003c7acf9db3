/**
 * Diagnostic: CPU per webhook (web process and Redis) of web-child modes at a paced rate, taking turns.
 *
 *   npx tsx bench/lib/cpu-probe.ts naive app 'app:LOG_LEVEL=warn' node bare
 *   RATE=400 SECONDS=6 ROUNDS=3 (SAT=1: saturate instead of pacing); PROF=<dir>: a CPU profile of each
 *   measured window; BENCH_BEFORE=<checkout of an earlier commit>: 'before-app' runs that version's app.
 */
import autocannon from 'autocannon';
import { Redis } from 'ioredis';
import { Child } from './child.js';
import { benchPrefix, cpuMs, dropPrefix, median, REDIS_URL, redisCpuSeconds, round } from './common.js';
import { appEnv, deliveryHeaders, orderPaidBody } from './shopify.js';

const RATE = Number(process.env.RATE ?? 400);
const SECONDS = Number(process.env.SECONDS ?? 6);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SAT = process.env.SAT === '1';
let profSeq = 0;
let seq = 7_100_000_000_000;
const reqs = (): autocannon.Request[] => [
  {
    method: 'POST',
    path: '/webhooks',
    setupRequest: (req: autocannon.Request) => {
      const n = ++seq;
      const body = orderPaidBody({
        orderId: n,
        customerId: 9_000_000 + (n % 5000),
        email: `c${n % 5000}@example.com`,
      });
      return { ...req, body, headers: deliveryHeaders(body) };
    },
  },
];
async function one(spec: string) {
  const [modeSpec, ...kv] = spec.split(':');
  const before = modeSpec!.startsWith('before-');
  const mode = before ? modeSpec!.slice(7) : modeSpec!;
  const extra = Object.fromEntries(
    kv
      .join(':')
      .split(',')
      .filter(Boolean)
      .map((s) => s.split('=') as [string, string]),
  );
  const prefix = benchPrefix(`probe-${mode}`);
  const child = await Child.start(
    before ? `${process.env.BENCH_BEFORE}/bench/lib/web-child.ts` : 'web-child.ts',
    { env: { ...appEnv(prefix, extra), BENCH_WEB_MODE: mode } },
  );
  const port = await child.call<number>('port');
  const redis = new Redis(REDIS_URL);
  const url = `http://127.0.0.1:${port}`;
  await autocannon({ url, connections: 50, duration: 2, requests: reqs() });
  if (process.env.PROF) await child.call('profStart');
  const c0 = await child.call<NodeJS.CpuUsage>('cpu');
  const r0 = await redisCpuSeconds(redis);
  const res = await autocannon({
    url,
    connections: 50,
    duration: SECONDS,
    requests: reqs(),
    ...(SAT ? {} : { overallRate: RATE }),
  });
  const c1 = await child.call<NodeJS.CpuUsage>('cpu');
  const r1 = await redisCpuSeconds(redis);
  const n = res['2xx'];
  if (process.env.PROF)
    await child.call(
      'profStop',
      `${process.env.PROF}/${spec.replace(/[^a-z0-9]+/gi, '_')}-${++profSeq}-${n}.cpuprofile`,
    );
  await child.stop();
  await dropPrefix(redis, prefix);
  await redis.quit();
  return {
    spec,
    n,
    rps: round(n / SECONDS, 0),
    server: round((cpuMs(c1, c0) / n) * 1000, 1),
    redis: round(((r1 - r0) * 1e6) / n, 1),
    p99: res.latency.p99,
    non2xx: res.non2xx,
  };
}
const specs = process.argv.slice(2);
const all: Awaited<ReturnType<typeof one>>[] = [];
for (let r = 0; r < ROUNDS; r++)
  for (const s of specs) {
    const x = await one(s);
    all.push(x);
    console.log(
      `${s.padEnd(40)} ${x.rps} req/s, server ${x.server} µs/req, Redis ${x.redis} µs/req, sum ${round(x.server + x.redis, 1)}, p99 ${x.p99} ms${x.non2xx ? `, non2xx ${x.non2xx}` : ''}`,
    );
  }
console.log('medians:');
for (const s of specs) {
  const xs = all.filter((x) => x.spec === s);
  console.log(
    `${s.padEnd(40)} server ${median(xs.map((x) => x.server))} Redis ${median(xs.map((x) => x.redis))} sum ${median(xs.map((x) => x.server + x.redis))} µs/req`,
  );
}
