import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createKeys } from '../../src/store/keys.js';
import { SyncEventStore } from '../../src/sync/events.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('events');
let redis: Redis;
let store: SyncEventStore;
const shop = 'a-shop.myshopify.com';
const other = 'b-shop.myshopify.com';

beforeAll(() => {
  redis = testRedis();
  store = new SyncEventStore(redis, createKeys(prefix), { maxEventsPerShop: 50, retentionDays: 1 });
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('SyncEventStore', () => {
  it('lists newest first with server-side paging that visits every event once', async () => {
    for (let i = 0; i < 25; i++)
      await store.record({
        shop,
        topic: i % 2 ? 'orders/paid' : 'customers/create',
        status: 'applied',
        orderName: `#${1000 + i}`,
      });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await store.list(shop, { limit: 10, cursor });
      seen.push(...page.events.map((e) => e.orderName!));
      cursor = page.nextCursor;
    } while (cursor);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => `#${1024 - i}`));
  });

  it('filters by status and topic together and never shows another shop', async () => {
    await store.record({ shop, topic: 'orders/paid', status: 'failed', error: 'boom', jobId: 'j1' });
    await store.record({ shop, topic: 'refunds/create', status: 'failed', error: 'x', jobId: 'j2' });
    await store.record({ shop: other, topic: 'orders/paid', status: 'failed', error: 'other', jobId: 'j3' });
    const page = await store.list(shop, { status: 'failed', topic: 'orders/paid' });
    expect(page.events.map((e) => e.error)).toEqual(['boom']);
    expect((await store.list(other, {})).events.map((e) => e.error)).toEqual(['other']);
  });

  it('keeps a failure until the same job records a later outcome', async () => {
    const f = await store.failures(shop);
    expect(f.total).toBe(2);
    expect(f.failures.map((e) => e.jobId).sort()).toEqual(['j1', 'j2']);
    await store.record({ shop, topic: 'orders/paid', status: 'applied', jobId: 'j1' });
    expect((await store.failures(shop)).failures.map((e) => e.jobId)).toEqual(['j2']);
  });

  it('counts per hour and the points that really moved today', async () => {
    const s = 'counts.myshopify.com';
    await store.record({
      shop: s,
      topic: 'orders/paid',
      status: 'applied',
      pointsBefore: 10,
      pointsDelta: 52,
      pointsAfter: 62,
    });
    await store.record({
      shop: s,
      topic: 'refunds/create',
      status: 'applied',
      pointsBefore: 5,
      pointsDelta: -10,
      pointsAfter: 0,
      shortfall: 5,
    });
    await store.record({ shop: s, topic: 'orders/paid', status: 'skipped', reason: 'order has no email' });
    expect(await store.pointsToday(s)).toEqual({ awarded: 52, deducted: 5 });
    const hours = await store.hourly(s);
    expect(hours).toHaveLength(24);
    expect(hours[23]).toMatchObject({ applied: 2, skipped: 1, failed: 0 });
  });

  it('erases a customer’s personal data but keeps the event', async () => {
    const s = 'erase.myshopify.com';
    await store.record({
      shop: s,
      topic: 'orders/paid',
      status: 'applied',
      shopifyCustomerId: '77',
      customerName: 'Ann Lee',
      cardNo: '123',
      itretailCustomerId: 'itr-1',
    });
    expect((await store.forCustomer(s, { shopifyCustomerId: '77' }))[0]?.customerName).toBe('Ann Lee');
    await store.eraseCustomer(s, '77');
    const [e] = (await store.list(s)).events;
    expect(e?.customerName).toBeUndefined();
    expect(e?.cardNo).toBeUndefined();
    expect(await store.forCustomer(s, { shopifyCustomerId: '77' })).toEqual([]);
  });

  it('trims beyond the count limit and the retention period from every index', async () => {
    const s = 'trim.myshopify.com';
    const old = new Date(Date.now() - 2 * 86_400_000).toISOString();
    for (let i = 0; i < 5; i++)
      await store.record({ shop: s, topic: 'orders/paid', status: 'skipped', at: old });
    for (let i = 0; i < 60; i++) await store.record({ shop: s, topic: 'orders/paid', status: 'applied' });
    const dropped = await store.trim(s);
    expect(dropped).toBe(15);
    expect((await store.list(s, { status: 'skipped' })).events).toEqual([]);
    let n = 0;
    let cursor: string | undefined;
    do {
      const p = await store.list(s, { limit: 200, cursor });
      n += p.events.length;
      cursor = p.nextCursor;
    } while (cursor);
    expect(n).toBe(50);
  });
});

describe('SyncEventStore retention', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  const count = async (s: SyncEventStore, shop: string) => {
    let n = 0;
    let cursor: string | undefined;
    do {
      const p = await s.list(shop, { limit: 200, cursor });
      n += p.events.length;
      cursor = p.nextCursor;
    } while (cursor);
    return n;
  };

  it("trims each shop after its own records, however the shops' records interleave", async () => {
    const s = new SyncEventStore(redis, createKeys(prefix), { maxEventsPerShop: 5, trimEvery: 10 });
    const [x, y] = ['interleave-x.myshopify.com', 'interleave-y.myshopify.com'];
    for (let i = 0; i < 40; i++) {
      await s.record({ shop: x, topic: 'orders/paid', status: 'applied' });
      await s.record({ shop: y, topic: 'orders/paid', status: 'applied' });
    }
    // Each shop's 40th record trims it back to the limit.
    expect(await count(s, x)).toBe(5);
    expect(await count(s, y)).toBe(5);
  });

  it("enforces a quiet shop's retention when it records again an hour later", async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const s = new SyncEventStore(redis, createKeys(prefix), { retentionDays: 1 });
    const q = 'quiet.myshopify.com';
    const old = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await s.record({ shop: q, topic: 'orders/paid', status: 'skipped', at: old });
    await s.record({ shop: q, topic: 'orders/paid', status: 'skipped', at: old });
    expect(await count(s, q)).toBe(2);
    vi.setSystemTime(Date.now() + 3_600_000);
    await s.record({ shop: q, topic: 'orders/paid', status: 'applied' });
    expect((await s.list(q)).events.map((e) => e.status)).toEqual(['applied']);
  });

  it('drops failures older than the retention period, and keeps recent ones', async () => {
    const s = new SyncEventStore(redis, createKeys(prefix), { retentionDays: 1 });
    const f = 'old-failures.myshopify.com';
    const old = new Date(Date.now() - 2 * 86_400_000).toISOString();
    await s.record({ shop: f, topic: 'orders/paid', status: 'failed', jobId: 'gone-job', at: old });
    await s.record({ shop: f, topic: 'orders/paid', status: 'failed', jobId: 'recent-job' });
    expect((await s.failures(f)).total).toBe(2);
    await s.trim(f);
    const left = await s.failures(f);
    expect(left.total).toBe(1);
    expect(left.failures.map((e) => e.jobId)).toEqual(['recent-job']);
    expect(await redis.hkeys(createKeys(prefix).shop(f, 'ev', 'faildata'))).toEqual(['recent-job']);
  });
});
