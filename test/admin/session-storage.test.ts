import { randomBytes } from 'node:crypto';
import { Session } from '@shopify/shopify-api';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisSessionStorage } from '../../src/shopify/session-storage.js';
import { createKeys } from '../../src/store/keys.js';
import { dropPrefix, keysMatching, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('session-storage');
const redis = testRedis();
const keys = createKeys(prefix);
const key = randomBytes(32);
const storage = new RedisSessionStorage(redis, keys, key);

afterAll(async () => {
  await dropPrefix(redis, prefix);
  redis.disconnect();
});

const offline = (shop: string, token: string) =>
  new Session({
    id: `offline_${shop}`,
    shop,
    state: '',
    isOnline: false,
    accessToken: token,
    scope: 'read_customers',
  });

describe('Redis session storage', () => {
  it('round-trips an offline session and keeps the access token encrypted at rest', async () => {
    const token = `shpat_${randomBytes(16).toString('hex')}`;
    await storage.storeSession(offline('a-shop.myshopify.com', token));
    const raw = await redis.get(keys.session('a-shop.myshopify.com', 'offline_a-shop.myshopify.com'));
    expect(raw).toBeTruthy();
    expect(raw).not.toContain(token);
    expect(raw).not.toContain(token.slice(6));
    const loaded = await storage.loadSession('offline_a-shop.myshopify.com');
    expect(loaded).toBeInstanceOf(Session);
    expect(loaded?.accessToken).toBe(token);
    expect(loaded?.shop).toBe('a-shop.myshopify.com');
    expect(loaded?.isOnline).toBe(false);
    expect(loaded?.scope).toBe('read_customers');
  });

  it('round-trips an online session with expiry, refresh token and the staff member encrypted', async () => {
    const shop = 'b-shop.myshopify.com';
    const expires = new Date(Date.now() + 3_600_000);
    const s = new Session({
      id: `${shop}_42`,
      shop,
      state: 'st',
      isOnline: true,
      accessToken: 'online-token-value',
      refreshToken: 'refresh-token-value',
      expires,
      onlineAccessInfo: {
        expires_in: 3600,
        associated_user_scope: 'read_customers',
        associated_user: {
          id: 42,
          first_name: 'Ada',
          last_name: 'Lovelace',
          email: 'ada@example.com',
          email_verified: true,
          account_owner: true,
          locale: 'en',
          collaborator: false,
        },
      },
    });
    await storage.storeSession(s);
    const raw = (await redis.get(keys.session(shop, `${shop}_42`))) ?? '';
    for (const secret of ['online-token-value', 'refresh-token-value', 'ada@example.com', 'Lovelace']) {
      expect(raw).not.toContain(secret);
    }
    const loaded = await storage.loadSession(`${shop}_42`);
    expect(loaded?.equals(s)).toBe(true);
    expect(loaded?.expires?.getTime()).toBe(expires.getTime());
    expect(loaded?.onlineAccessInfo?.associated_user.email).toBe('ada@example.com');
  });

  it('finds sessions by shop, deletes one and several, and answers undefined for unknown ids', async () => {
    const shop = 'c-shop.myshopify.com';
    await storage.storeSession(offline(shop, 't1'));
    await storage.storeSession(
      new Session({ id: `${shop}_7`, shop, state: '', isOnline: true, accessToken: 't2' }),
    );
    await storage.storeSession(
      new Session({ id: 'custom-id', shop, state: '', isOnline: false, accessToken: 't3' }),
    );
    expect((await storage.findSessionsByShop(shop)).map((s) => s.id).sort()).toEqual(
      [`${shop}_7`, 'custom-id', `offline_${shop}`].sort(),
    );
    expect((await storage.loadSession('custom-id'))?.accessToken).toBe('t3');
    await storage.deleteSession(`${shop}_7`);
    expect(await storage.loadSession(`${shop}_7`)).toBeUndefined();
    await storage.deleteSessions([`offline_${shop}`, 'custom-id']);
    expect(await storage.findSessionsByShop(shop)).toEqual([]);
    expect(await storage.loadSession('never-stored')).toBeUndefined();
    expect(await storage.findSessionsByShop('other.myshopify.com')).toEqual([]);
  });

  it("forgets sessions removed by a shop-wide delete of keys.shop(shop,'session',*)", async () => {
    const shop = 'd-shop.myshopify.com';
    await storage.storeSession(offline(shop, 'tok'));
    const found = await keysMatching(redis, keys.sessionPattern(shop));
    expect(found.length).toBeGreaterThan(0);
    await redis.del(...found);
    expect(await storage.loadSession(`offline_${shop}`)).toBeUndefined();
    expect(await storage.findSessionsByShop(shop)).toEqual([]);
  });

  it('refuses to decrypt with another key', async () => {
    const shop = 'e-shop.myshopify.com';
    await storage.storeSession(offline(shop, 'tok'));
    const other = new RedisSessionStorage(redis, keys, randomBytes(32));
    await expect(other.loadSession(`offline_${shop}`)).rejects.toThrow(/decrypt/);
  });
});
