import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_SHOP, type RunningDemo, startDemo } from '../../fakes/demo.js';
import { mintSessionToken } from '../../fakes/shopify/dev-sign-in.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('demo');
let demo: RunningDemo;

beforeAll(async () => {
  demo = await startDemo({ port: 0, keyPrefix: prefix, streamEveryMs: 60_000, seedCustomers: 20 });
}, 60_000);

afterAll(async () => {
  await demo?.stop();
  const r = testRedis();
  await dropPrefix(r, prefix);
  await r.quit();
});

async function api(path: string, init: RequestInit = {}) {
  const token = mintSessionToken(demo.config, DEMO_SHOP);
  const res = await fetch(`${demo.url}${path}`, {
    ...init,
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
  });
  // biome-ignore lint/suspicious/noExplicitAny: the test reads the API's JSON loosely
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

async function until(check: () => Promise<boolean>) {
  while (!(await check())) await new Promise((r) => setTimeout(r, 200));
}

describe('npm run demo', () => {
  it('serves the development sign-in page and fills it with live data, failures included', async () => {
    const page = await fetch(demo.signInUrl);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toBe(
      `frame-ancestors https://${DEMO_SHOP} https://admin.shopify.com;`,
    );
    expect(await page.text()).toContain('/dev/dev-bridge.js');
    await until(async () => (await api('/api/overview')).body.failures >= 1);
    const overview = (await api('/api/overview')).body;
    expect(overview.customersLinked).toBeGreaterThan(0);
    expect(overview.pointsToday.awarded).toBeGreaterThan(0);
    const events = (await api('/api/events?status=skipped')).body.events as { reason?: string }[];
    expect(events.length).toBeGreaterThan(0);
    const failures = (await api('/api/failures')).body;
    expect(failures.failures[0].error).toMatch(/not a decimal amount/);
  }, 60_000);

  it('links the stand-in shop’s existing customers through the GraphQL stand-in', async () => {
    const started = await api('/api/link-existing', { method: 'POST' });
    expect(started.status).toBe(200);
    await until(async () => ['done', 'failed'].includes((await api('/api/link-existing')).body.state));
    const p = (await api('/api/link-existing')).body;
    expect(p).toMatchObject({ state: 'done', skipped: 1, failed: 0 });
    expect(p.done).toBe(p.total);
    expect(p.linked + p.created).toBe(p.done - 1);
  }, 60_000);
});

describe('npm run demo: catch-up', () => {
  it('runs a catch-up against the Shopify stand-in, which finds nothing missed', async () => {
    expect(demo.shopifyOrigin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const started = await api('/api/catch-up', { method: 'POST' });
    expect(started.status).toBe(202);
    expect(started.body.jobId).toEqual(expect.any(String));
    // (The schedule may have run one already: wait for the run asked for here to finish too.)
    await until(async () => {
      const c = (await api('/api/status')).body.catchUp;
      return Boolean(c.lastRunAt) && !c.running;
    });
    expect((await api('/api/status')).body.catchUp).toMatchObject({
      ordersSeen: 0,
      ordersRecovered: 0,
      running: false,
    });
  }, 60_000);
});

describe('npm run demo with NODE_ENV=production', () => {
  it('refuses to start (its sign-in bypasses Shopify) and says why', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'fakes/demo.ts'], {
      cwd: new URL('../../', import.meta.url).pathname,
      env: { PATH: process.env.PATH, NODE_ENV: 'production', PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(out).toMatch(/refused when NODE_ENV=production/);
    // It never got as far as serving: no sign-in address was printed.
    expect(out).not.toContain('/dev/sign-in');
  }, 60_000);
});
