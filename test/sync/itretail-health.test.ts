import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeys } from '../../src/store/keys.js';
import { ITRetailHealthRecorder, newestHealth, readITRetailHealth } from '../../src/sync/itretail-health.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('itr-health');
const keys = createKeys(prefix);
let redis: Redis;
beforeAll(() => {
  redis = testRedis();
});
afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

describe('IT Retail health as the workers see it', () => {
  it('keeps the last good call and the last connection failure, written once per period', async () => {
    const shop = 'h.myshopify.com';
    const rec = new ITRetailHealthRecorder(redis, keys, 60_000);
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    rec.record(shop, { call: 'GetCustomer', status: 200, durationMs: 20 }, t(1));
    rec.record(shop, { call: 'CreateCustomer', status: 400, durationMs: 20 }, t(2)); // about the data: ignored
    rec.record(shop, { call: 'UpdateCustomer', status: 503, durationMs: 20 }, t(3));
    rec.record(shop, { call: 'GetCustomer', status: 200, durationMs: 20 }, t(4));
    expect(await redis.exists(keys.itretailHealth(shop))).toBe(0); // nothing written yet
    await rec.flush();
    expect(await readITRetailHealth(redis, keys, shop)).toEqual({
      lastOkAt: t(4).toISOString(),
      lastError: {
        at: t(3).toISOString(),
        code: 'ITR_UNAVAILABLE',
        message: 'UpdateCustomer: IT Retail answered HTTP 503',
      },
    });
  });

  it('merges two observations by taking the newer of each', () => {
    const a = {
      lastOkAt: '2026-01-01T00:00:05Z',
      lastError: { at: '2026-01-01T00:00:01Z', code: 'x', message: 'old' },
    };
    const b = {
      lastOkAt: '2026-01-01T00:00:02Z',
      lastError: { at: '2026-01-01T00:00:09Z', code: 'y', message: 'new' },
    };
    expect(newestHealth(a, b)).toEqual({ lastOkAt: a.lastOkAt, lastError: b.lastError });
    expect(newestHealth(undefined, {})).toEqual({ lastOkAt: undefined, lastError: undefined });
  });
});
