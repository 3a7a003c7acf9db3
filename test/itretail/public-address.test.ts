import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { ITRetailClient } from '../../src/itretail/client.js';
import { InvalidInputError } from '../../src/itretail/errors.js';
import { isInternalAddress } from '../../src/itretail/public-address.js';

let sim: ITRetailSimulator;
beforeAll(async () => {
  sim = await ITRetailSimulator.start();
});
afterAll(async () => {
  await sim.stop();
});

const fast = { maxAttempts: 2, baseDelayMs: 1, maxDelayMs: 5, maxTotalMs: 2_000 };
const creds = { kind: 'password' as const, username: 'demo', password: 'demo' };

describe('public addresses only (merchant-entered IT Retail URLs)', () => {
  it('knows which addresses are inside private networks', () => {
    for (const a of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.9',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '::1',
      'fd00::1',
      'fe80::1',
      '::ffff:127.0.0.1',
    ])
      expect(isInternalAddress(a), a).toBe(true);
    for (const a of ['8.8.8.8', '104.18.3.4', '2606:4700::1111']) expect(isInternalAddress(a), a).toBe(false);
  });

  it('refuses a host name that resolves to this machine, and an internal IP literal at once', async () => {
    const port = new URL(sim.url).port;
    const guarded = new ITRetailClient({
      baseUrl: `http://localhost:${port}`,
      credentials: creds,
      retry: fast,
      publicAddressesOnly: true,
    });
    const err = await guarded.getCustomer('00000000-0000-0000-0000-000000000000').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError); // permanent: no retry can fix it
    expect(String((err as Error).message)).toMatch(/private network/);
    expect(sim.callCounts().token ?? 0).toBe(0); // nothing reached the server
    await guarded.close();
    expect(
      () => new ITRetailClient({ baseUrl: sim.url, credentials: creds, publicAddressesOnly: true }),
    ).toThrow(InvalidInputError);
    // The same URL without the guard (an operator's own configuration) works.
    const open = new ITRetailClient({ baseUrl: `http://localhost:${port}`, credentials: creds, retry: fast });
    expect(await open.getCustomer('00000000-0000-0000-0000-000000000000')).toBeNull();
    await open.close();
  });
});
