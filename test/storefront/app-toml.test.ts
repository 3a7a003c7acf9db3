import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { SHOPIFY_SCOPES_DEFAULT } from '../../src/config.js';
import { PROXY_PATH } from '../../src/storefront/proxy.js';

const root = new URL('../../', import.meta.url);
interface AppToml {
  application_url: string;
  access_scopes: { scopes: string };
  app_proxy: { url: string; prefix: string; subpath: string };
  customer: { metafields: { app: Record<string, unknown> } };
}
const toml = parse(readFileSync(new URL('shopify.app.toml', root), 'utf8')) as unknown as AppToml;

describe('shopify.app.toml', () => {
  it('forwards /apps/loyalty to the route the app serves the proxy on', () => {
    const proxy = toml.app_proxy;
    expect(proxy).toMatchObject({ prefix: 'apps', subpath: 'loyalty' });
    expect(new URL(proxy.url).pathname).toBe(PROXY_PATH);
    expect(new URL(proxy.url).origin).toBe(new URL(toml.application_url).origin);
    // The theme block calls the proxy at the storefront path the toml declares.
    const js = readFileSync(new URL('extensions/loyalty-balance/assets/loyalty-balance.js', root), 'utf8');
    const block = readFileSync(
      new URL('extensions/loyalty-balance/blocks/loyalty-balance.liquid', root),
      'utf8',
    );
    expect(`${js}\n${block}`).toContain(`/${proxy.prefix}/${proxy.subpath}`);
  });

  it('declares the app-owned loyalty_points customer metafield, readable by the theme and customer accounts', () => {
    expect(toml.customer.metafields.app.loyalty_points).toEqual({
      type: 'number_integer',
      name: 'Loyalty points',
      description: expect.any(String),
      access: { admin: 'merchant_read', storefront: 'public_read', customer_account: 'read' },
    });
  });

  it('asks for the scopes the configuration defaults to', () => {
    expect(toml.access_scopes.scopes).toBe(SHOPIFY_SCOPES_DEFAULT);
  });
});
