import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const valid = {
  SHOPIFY_API_KEY: 'key',
  SHOPIFY_API_SECRET: 'a-long-secret',
  SHOPIFY_APP_URL: 'https://app.example.com/',
  ENCRYPTION_KEY: 'ab'.repeat(32),
};

function issues(env: Record<string, string>) {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).issues.map((i) => i.variable);
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const c = loadConfig(valid);
    expect(c.redis.url).toBe('redis://127.0.0.1:6379');
    expect(c.shopify.apiVersion).toBe('2026-07');
    expect(c.shopify.appUrl).toBe('https://app.example.com');
    expect(c.itretail.baseUrl).toBe('https://retailnext.itretail.com');
    expect(c.pointsPerDollar).toBe('1');
    expect(c.encryptionKey).toHaveLength(32);
    expect(c.itretail.defaultCredentials).toBeUndefined();
  });

  it('reports every missing or invalid variable together, by name', () => {
    expect(issues({ PORT: 'eighty', REDIS_URL: 'http://x', POINTS_PER_DOLLAR: '1.23456' }).sort()).toEqual(
      [
        'ENCRYPTION_KEY',
        'POINTS_PER_DOLLAR',
        'PORT',
        'REDIS_URL',
        'SHOPIFY_API_KEY',
        'SHOPIFY_API_SECRET',
        'SHOPIFY_APP_URL',
      ].sort(),
    );
  });

  it('reports a half-given pair together with the other problems', () => {
    expect(issues({ ITRETAIL_USERNAME: 'u', PORT: 'x' }).sort()).toEqual(
      [
        'ENCRYPTION_KEY',
        'ITRETAIL_PASSWORD',
        'PORT',
        'SHOPIFY_API_KEY',
        'SHOPIFY_API_SECRET',
        'SHOPIFY_APP_URL',
      ].sort(),
    );
  });

  it('reports half-given credential pairs', () => {
    expect(issues({ ...valid, ITRETAIL_USERNAME: 'u' })).toEqual(['ITRETAIL_PASSWORD']);
    expect(issues({ ...valid, SHOPIFY_SHOP: 'demo.myshopify.com' })).toEqual(['SHOPIFY_ADMIN_ACCESS_TOKEN']);
  });

  it('prefers a static IT Retail token and accepts base64 keys', () => {
    const c = loadConfig({
      ...valid,
      ITRETAIL_API_TOKEN: 'tok',
      ENCRYPTION_KEY: Buffer.alloc(32, 1).toString('base64'),
    });
    expect(c.itretail.defaultCredentials).toEqual({ kind: 'token', token: 'tok' });
  });
});
