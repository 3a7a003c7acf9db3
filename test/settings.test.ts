import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decrypt, encrypt } from '../src/crypto.js';
import { baseUrlProblem, SettingsStore, settingsPatchSchema } from '../src/settings.js';
import { createKeys } from '../src/store/keys.js';
import { dropPrefix, testRedis, uniquePrefix } from './helpers/redis.js';

const key = Buffer.alloc(32, 7);
const prefix = uniquePrefix('settings');
let redis: Redis;
let store: SettingsStore;

beforeAll(() => {
  redis = testRedis();
  store = new SettingsStore(redis, createKeys(prefix), key, { pointsPerDollar: '1' });
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('encryption at rest', () => {
  it('round-trips and refuses a tampered value or a wrong key', () => {
    const sealed = encrypt(key, 'shpat_secret');
    expect(sealed).not.toContain('shpat_secret');
    expect(decrypt(key, sealed)).toBe('shpat_secret');
    expect(encrypt(key, 'same')).not.toBe(encrypt(key, 'same'));
    const parts = sealed.split(':');
    parts[3] = Buffer.from('tampered').toString('base64');
    expect(() => decrypt(key, parts.join(':'))).toThrow(/tampered/);
    expect(() => decrypt(Buffer.alloc(32, 8), sealed)).toThrow(/wrong key/);
  });
});

describe('SettingsStore', () => {
  const shop = 'settings-shop.myshopify.com';

  it('answers defaults for a shop with nothing stored', async () => {
    expect(await store.get(shop)).toMatchObject({
      pointsPerDollar: '1',
      includeTestOrders: false,
      paused: false,
      installed: true,
    });
  });

  it('stores credentials encrypted and never shows the secret in the public view', async () => {
    await store.update(shop, {
      pointsPerDollar: '2.50',
      paused: true,
      itretail: { username: 'owner', password: 'hunter2' },
    });
    const raw = JSON.stringify(await redis.hgetall(createKeys(prefix).shop(shop, 'settings')));
    expect(raw).not.toContain('hunter2');
    const s = await store.get(shop);
    expect(s.pointsPerDollar).toBe('2.5');
    expect(s.itretail?.credentials).toEqual({ kind: 'password', username: 'owner', password: 'hunter2' });
    const view = await store.publicView(shop);
    expect(JSON.stringify(view)).not.toContain('hunter2');
    expect(view.itretail).toEqual({
      configured: true,
      source: 'shop',
      username: 'owner',
      baseUrl: undefined,
    });
    await store.update(shop, { itretail: null });
    expect((await store.publicView(shop)).itretail.source).toBe('none');
  });

  it('rejects bad input with a message per field', () => {
    const r = settingsPatchSchema.safeParse({
      pointsPerDollar: '-1',
      paused: 'yes',
      itretail: { username: 'x' },
      extra: 1,
    });
    expect(r.success).toBe(false);
    const paths = r.error!.issues.map((i) => i.path.join('.') || i.message);
    expect(paths).toEqual(expect.arrayContaining(['pointsPerDollar', 'paused']));
    expect(
      settingsPatchSchema.safeParse({ itretail: { token: 'abcdefghijkl', baseUrl: 'http://evil.example' } })
        .success,
    ).toBe(false);
  });

  it('tracks install state', async () => {
    await store.markUninstalled(shop);
    expect((await store.get(shop)).installed).toBe(false);
    await store.markInstalled(shop);
    expect((await store.get(shop)).installed).toBe(true);
    expect(await store.listShops()).toContain(shop);
    await store.remember('custom-app.myshopify.com');
    expect(await store.listShops()).toContain('custom-app.myshopify.com');
    expect((await store.get('custom-app.myshopify.com')).installed).toBe(true);
    await store.erase(shop);
    expect(await store.listShops()).not.toContain(shop);
  });
});

describe('install state by moment', () => {
  it('an uninstall older than the last install is ignored; only a later webhook reinstalls', async () => {
    const s = 'moments-shop.myshopify.com';
    const t = Date.now();
    await store.markInstalled(s, t);
    expect(await store.markUninstalled(s, t - 1_000)).toBe(false);
    expect((await store.get(s)).installed).toBe(true);
    expect(await store.markUninstalled(s, t + 1_000)).toBe(true);
    expect(await store.get(s)).toMatchObject({
      installed: false,
      uninstalledAt: new Date(t + 1_000).toISOString(),
    });
    await store.markInstalled(s, t + 500, { ifAfterUninstall: true });
    expect((await store.get(s)).installed).toBe(false);
    await store.markInstalled(s, t + 2_000, { ifAfterUninstall: true });
    expect((await store.get(s)).installed).toBe(true);
    // The install moment only moves forward: an uninstall between the two installs stays stale.
    await store.markInstalled(s, t);
    expect(await store.markUninstalled(s, t + 1_500)).toBe(false);
    await store.erase(s);
  });
});

describe('IT Retail base URL policy', () => {
  it('accepts public https addresses only, and loopback only where allowed', () => {
    expect(baseUrlProblem('https://retailnext.itretail.com', false)).toBeUndefined();
    expect(baseUrlProblem('https://app.marktpos.com/', false)).toBeUndefined();
    for (const bad of [
      'http://retailnext.itretail.com',
      'https://10.0.0.5',
      'https://192.168.1.1',
      'https://172.20.0.1',
      'https://169.254.169.254/latest/meta-data',
      'https://[fd00::1]',
      'https://redis',
      'https://printer.local',
      'https://user:pw@retailnext.itretail.com',
      'not a url',
    ])
      expect(baseUrlProblem(bad, true), bad).toBeDefined();
    expect(baseUrlProblem('http://127.0.0.1:4010', false)).toBeDefined();
    expect(baseUrlProblem('http://localhost:4010', true)).toBeUndefined();
  });

  it('a store in production mode refuses a loopback URL and saves nothing', async () => {
    const strict = new SettingsStore(redis, createKeys(prefix), key, { pointsPerDollar: '1' });
    const shop = 'ssrf.myshopify.com';
    await expect(
      strict.update(shop, { itretail: { baseUrl: 'http://127.0.0.1:6379', username: 'u', password: 'p' } }),
    ).rejects.toThrow(/must not point at this server/);
    expect((await strict.get(shop)).itretail).toBeUndefined();
  });
});

describe('environment credentials in single-store mode', () => {
  it('are shown as the source only for the configured shop', async () => {
    const single = new SettingsStore(redis, createKeys(prefix), key, {
      pointsPerDollar: '1',
      environmentCredentials: true,
      environmentCredentialsOnlyFor: 'mine.myshopify.com',
    });
    expect((await single.publicView('mine.myshopify.com')).itretail.source).toBe('environment');
    expect((await single.publicView('other.myshopify.com')).itretail).toMatchObject({
      source: 'none',
      configured: false,
    });
  });
});

describe('readForJob: settings, their digest and the throttle in one read', () => {
  const keys = createKeys(prefix);

  it('the digest follows what is stored, not the order it was written in', async () => {
    const [a, b, c] = ['digest-a', 'digest-b', 'digest-c'].map((s) => `${s}.myshopify.com`);
    await redis.hset(keys.settings(a!), 'pointsPerDollar', '2', 'paused', '0');
    await redis.hset(keys.settings(b!), 'paused', '0', 'pointsPerDollar', '2');
    await redis.hset(keys.settings(c!), 'paused', '0', 'pointsPerDollar', '3');
    await redis.set(keys.itretailThrottle(a!), '1', 'PX', 60_000);
    const [ra, rb, rc] = await Promise.all(
      [a!, b!, c!].map((s) => store.readForJob(s, keys.itretailThrottle(s))),
    );
    expect(ra!.settings.pointsPerDollar).toBe('2');
    expect(ra!.digest).toMatch(/^[0-9a-f]{40}$/);
    expect(rb!.digest).toBe(ra!.digest);
    expect(rc!.digest).not.toBe(ra!.digest);
    expect(ra!.pttl).toBeGreaterThan(50_000);
    expect(rb!.pttl).toBe(-2);
    // Any write changes it, through the store or straight into the hash.
    await store.update(b!, { paused: false });
    expect((await store.readForJob(b!, keys.itretailThrottle(b!))).digest).not.toBe(ra!.digest);
    await redis.hset(keys.settings(a!), 'pointsPerDollar', '2.5');
    expect((await store.readForJob(a!, keys.itretailThrottle(a!))).digest).not.toBe(ra!.digest);
  });
});
