import { describe, expect, it } from 'vitest';
import type { ITRetailClientOptions } from '../../src/itretail/client.js';
import { ClientRegistry, CredentialsMissingError } from '../../src/sync/clients.js';
import type { SyncClient } from '../../src/sync/matching.js';

const env = { kind: 'password' as const, username: 'owner', password: 'env-secret' };

function registry(extra: Partial<ConstructorParameters<typeof ClientRegistry>[0]> = {}) {
  const built: ITRetailClientOptions[] = [];
  const r = new ClientRegistry({
    defaultBaseUrl: 'https://retailnext.itretail.com',
    defaultCredentials: env,
    create: (o) => {
      built.push(o);
      return {} as SyncClient;
    },
    ...extra,
  });
  return { r, built };
}

describe('ClientRegistry', () => {
  it('in single-store mode, the environment’s IT Retail login serves that shop only', () => {
    const { r, built } = registry({ defaultCredentialsOnlyFor: 'mine.myshopify.com' });
    r.clientFor('mine.myshopify.com', {});
    expect(built[0]?.credentials).toEqual(env);
    expect(() => r.clientFor('someone-else.myshopify.com', {})).toThrow(CredentialsMissingError);
    // A shop with its own credentials is served whatever the mode.
    r.clientFor('someone-else.myshopify.com', {
      itretail: { credentials: { kind: 'token', token: 'their-token' } },
    });
    expect(built[1]?.credentials).toEqual({ kind: 'token', token: 'their-token' });
  });

  it('guards merchant-typed base URLs against private networks, not the operator’s own', () => {
    const { r, built } = registry({ guardShopUrls: true });
    r.clientFor('a.myshopify.com', {});
    r.clientFor('b.myshopify.com', {
      itretail: { baseUrl: 'https://pos.example.com', credentials: { kind: 'token', token: 't' } },
    });
    expect(built.map((o) => o.publicAddressesOnly)).toEqual([false, true]);
    const open = registry({ guardShopUrls: false });
    open.r.clientFor('b.myshopify.com', {
      itretail: { baseUrl: 'https://pos.example.com', credentials: { kind: 'token', token: 't' } },
    });
    expect(open.built[0]?.publicAddressesOnly).toBe(false);
  });
});
