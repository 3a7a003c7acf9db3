import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import { ITRetailClient, type ITRetailClientOptions } from '../../src/itretail/client.js';
import {
  AuthenticationError,
  EmailTakenError,
  InvalidInputError,
  NotFoundError,
} from '../../src/itretail/errors.js';
import { type CustomerRecord, expirationDateOf, FULL_RECORD_FIELDS } from '../../src/itretail/schemas.js';

const USER = { username: 'merchant@example.com', password: 'pw-Secret-123' };
const STATIC_TOKEN = 'static-token-pasted-by-merchant-0123456789';

let sim: ITRetailSimulator;
const clients: ITRetailClient[] = [];

function client(over: Partial<ITRetailClientOptions> = {}): ITRetailClient {
  const c = new ITRetailClient({
    baseUrl: sim.url,
    credentials: { kind: 'password', ...USER },
    timeouts: { connectMs: 1000, headersMs: 2000, bodyMs: 2000 },
    retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 20, maxTotalMs: 2000 },
    ...over,
  });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  sim = await ITRetailSimulator.start({ users: [USER], staticTokens: [STATIC_TOKEN], randomSeed: 7 });
});
afterEach(async () => {
  sim.resetFaults();
  sim.clearCalls();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await sim.stop();
});

const RICH = {
  FirstName: 'Theresa',
  LastName: 'Alonzo',
  Email: 'theresa.alonzo@example.com',
  Phone: '6135550101',
  Address1: '12 Bank St',
  Address2: 'Unit 4',
  City: 'Ottawa',
  State: 'ON',
  Zip: 'K1P 5N2',
  BirthDate: '1980-02-03T00:00:00',
  CashBack: 1.25,
  Discount: 10,
  WriteChecks: true,
  Purchases: 320.19,
  NumberOfChecks: 2,
  PointsEarned: 40,
  Balance: 12.5,
  BalanceLimit: 500,
  LoyaltyPoints: 500,
  expiration_date: '2027-03-16T05:00:00',
};

describe('GetOne', () => {
  it("answers null for an unknown id and for a hard-deleted customer (the service's literal null)", async () => {
    const c = client();
    expect(await c.getCustomer('3f2504e0-4f89-11d3-9a0c-0305e82c3301')).toBeNull();
    const [gone] = sim.seedCustomers([{ FirstName: 'Gone', LastName: 'Away', Email: 'gone@example.com' }]);
    expect(await c.getCustomer(gone!.Id)).not.toBeNull();
    sim.hardDelete(gone!.Id);
    expect(await c.getCustomer(gone!.Id)).toBeNull();
  });

  it("a non-GUID id is the service's 400 as InvalidInputError with its Message", async () => {
    const err = await client()
      .getCustomer('not-a-guid')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as InvalidInputError).status).toBe(400);
    expect((err as InvalidInputError).serviceMessage).toBe('The request is invalid.');
  });
});

describe('field casing and nulls', () => {
  it('reads the expiration date as ExpirationDate in the list and expiration_date in the record', async () => {
    const [seeded] = sim.seedCustomers([{ ...RICH, Email: 'casing@example.com' }]);
    const c = client();
    const all = await c.getAllCustomers();
    const summary = all.find((s) => s.Id === seeded!.Id);
    expect(summary).toBeDefined();
    expect(summary!.ExpirationDate).toBe(RICH.expiration_date);
    const rec = await c.getCustomer(seeded!.Id);
    expect(rec!.expiration_date).toBe(RICH.expiration_date);
    expect(expirationDateOf(summary)).toBe(expirationDateOf(rec));
  });

  it('accepts a customer whose every nullable field is null', async () => {
    const [blank] = sim.seedCustomers([
      {
        CardNo: null,
        FirstName: null,
        LastName: null,
        Email: null,
        LoyaltyPoints: null,
        Balance: null,
        BalanceLimit: null,
        expiration_date: null,
        CustomerLoyaltyPointOperations: null,
        CustomerCoupons: null,
      },
    ]);
    const c = client();
    const rec = await c.getCustomer(blank!.Id);
    expect(rec).not.toBeNull();
    expect(rec!.Email).toBeNull();
    expect(rec!.LoyaltyPoints).toBeNull();
    expect(rec!.CustomerLoyaltyPointOperations).toBeNull();
    const seen: string[] = [];
    await c.forEachCustomer((s) => {
      if (s.Id === blank!.Id) seen.push(String(s.LoyaltyPoints));
    });
    expect(seen).toEqual(['null']);
  });
});

describe('UpdateCustomer (Put)', () => {
  it('sends the record back whole: only the points change, nothing is nullified', async () => {
    const [seeded] = sim.seedCustomers([{ ...RICH, Email: 'put@example.com' }]);
    const before = sim.getCustomer(seeded!.Id)!;
    const c = client();
    const rec = await c.getCustomer(seeded!.Id);
    const answer = await c.updateCustomer({ ...rec!, LoyaltyPoints: 650 });
    expect(answer.LoyaltyPoints).toBe(650);
    const ops = answer.CustomerLoyaltyPointOperations ?? [];
    expect(ops.at(-1)).toMatchObject({
      LoyaltyPointsAfterAdd: 650,
      LoyaltyPointsAdded: 150,
      IsManualUpdate: true,
    });

    const after = sim.getCustomer(seeded!.Id)!;
    for (const f of FULL_RECORD_FIELDS) {
      if (f === 'LoyaltyPoints' || f === 'Modified' || f === 'CustomerLoyaltyPointOperations') continue;
      expect({ field: f, value: after[f as keyof typeof after] }).toEqual({
        field: f,
        value: before[f as keyof typeof before],
      });
    }
    expect(after.LoyaltyPoints).toBe(650);
    expect(after.Address1).toBe(RICH.Address1);
    expect(after.expiration_date).toBe(RICH.expiration_date);
  });

  it('refuses to send a partial record (the service would nullify the rest)', async () => {
    const [seeded] = sim.seedCustomers([{ ...RICH, Email: 'partial@example.com' }]);
    const c = client();
    const err = await c
      .updateCustomer({ Id: seeded!.Id, LoyaltyPoints: 1 } as CustomerRecord)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/Address1/);
    expect(sim.callCounts().UpdateCustomer ?? 0).toBe(0);
    expect(sim.getCustomer(seeded!.Id)!.Address1).toBe(RICH.Address1);
  });

  it('a Put of an unknown Id is a NotFoundError', async () => {
    const [seeded] = sim.seedCustomers([{ ...RICH, Email: 'unknown-put@example.com' }]);
    const c = client();
    const rec = await c.getCustomer(seeded!.Id);
    sim.hardDelete(seeded!.Id);
    const err = await c.updateCustomer(rec!).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).serviceMessage).toBe('Customer not found.');
  });
});

describe('unknown fields', () => {
  // The simulator's records have a fixed field set, so a stand-in answers a record with extra fields and
  // records what the Put sent.
  let server: Server;
  let url: string;
  const putBodies: unknown[] = [];
  const record = {
    Id: 'c5b20c93-210c-464d-b533-58186aca4f4e',
    ...Object.fromEntries(FULL_RECORD_FIELDS.filter((f) => f !== 'Id').map((f) => [f, null])),
    CardNo: '0041234500897',
    LoyaltyPoints: 500,
    BalanceLimit: 500,
    CustomerLoyaltyPointOperations: [{ Id: 'op1', LoyaltyPointsAdded: 5, FutureField: 'x' }],
    LoyaltyTier: 'gold',
    Preferences: { sms: true, channels: ['email'] },
  };

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        res.setHeader('content-type', 'application/json; charset=utf-8');
        if (req.url?.startsWith('/api/CustomersData/GetOne/')) return res.end(JSON.stringify(record));
        if (req.url === '/api/CustomersData/Put') {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          putBodies.push(body);
          return res.end(JSON.stringify(body));
        }
        res.statusCode = 404;
        res.end('{"Message":"No HTTP resource was found."}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('are kept from GetOne and sent back by Put field for field', async () => {
    const c = client({ baseUrl: url, credentials: { kind: 'token', token: STATIC_TOKEN } });
    const rec = await c.getCustomer(record.Id);
    expect(rec!.LoyaltyTier).toBe('gold');
    expect(rec!.Preferences).toEqual({ sms: true, channels: ['email'] });
    expect(rec!.CustomerLoyaltyPointOperations![0]!.FutureField).toBe('x');
    await c.updateCustomer({ ...rec!, LoyaltyPoints: 510 });
    expect(putBodies).toHaveLength(1);
    expect(putBodies[0]).toEqual({ ...record, LoyaltyPoints: 510 });
  });
});

describe('CreateCustomer', () => {
  it('creates a customer and answers the full record', async () => {
    const c = client();
    const rec = await c.createCustomer({
      FirstName: 'Fake',
      LastName: 'Customer',
      Email: 'fakecustomer@mail.com',
      Phone: '1235551234',
    });
    expect(rec.Id).toMatch(/^[0-9a-f-]{36}$/);
    expect(rec.CardNo).toMatch(/^\d{13}$/);
    expect(rec.LoyaltyPoints).toBe(0);
    expect(sim.getCustomer(rec.Id)!.Email).toBe('fakecustomer@mail.com');
  });

  it('an email a live customer already has (other case, spaces) is an EmailTakenError', async () => {
    sim.seedCustomers([{ FirstName: 'A', LastName: 'B', Email: 'taken@example.com' }]);
    const err = await client()
      .createCustomer({ FirstName: 'C', LastName: 'D', Email: ' Taken@Example.com ' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EmailTakenError);
    expect((err as EmailTakenError).status).toBe(400);
    expect((err as EmailTakenError).serviceMessage).toBe('A customer with this email already exists.');
    expect(sim.findByEmail('taken@example.com')).toHaveLength(1);
  });

  it('a phone that is not 10 unformatted digits is an InvalidInputError, and nothing is sent', async () => {
    const c = client();
    const err = await c
      .createCustomer({ FirstName: 'P', LastName: 'Q', Email: 'phone@example.com', Phone: '+16135550101' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/Phone/);
    expect((err as Error).message).not.toContain('6135550101');
    expect(sim.callCounts().CreateCustomer ?? 0).toBe(0);
    expect(sim.findByEmail('phone@example.com')).toHaveLength(0);
  });

  it('missing required fields are refused before anything is sent', async () => {
    const c = client();
    const err = await c
      .createCustomer({ FirstName: '', LastName: 'Q', Email: 'x@example.com' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect(sim.callCounts().CreateCustomer ?? 0).toBe(0);
  });
});

describe('GetCustomerProductPurchases', () => {
  it('sends the day as MM/DD/YYYY and reads the purchases of that day', async () => {
    const [a] = sim.seedCustomers([{ FirstName: 'Buy', LastName: 'Er', Email: 'buyer@example.com' }]);
    const day = new Date(2021, 2, 8, 15, 30);
    sim.recordPurchase(a!.Id, ['0038137117501', '0000000000012', '0000000000012'], day);
    sim.recordPurchase(a!.Id, ['0000000000099'], new Date(2021, 2, 9, 10, 0));
    const c = client();
    const got = await c.getCustomerProductPurchases(new Date(2021, 2, 8));
    const mine = got.find((p) => p.Id === a!.Id);
    expect(mine?.ProductsPurchased?.slice().sort()).toEqual([
      '0000000000012',
      '0000000000012',
      '0038137117501',
    ]);
    const entry = sim.calls.find((e) => e.call === 'GetCustomerProductPurchases');
    expect(entry?.path).toContain('date=03/08/2021');
  });

  it('an invalid Date is refused before sending', async () => {
    const c = client();
    await expect(c.getCustomerProductPurchases(new Date('x'))).rejects.toBeInstanceOf(InvalidInputError);
    expect(sim.callCounts().GetCustomerProductPurchases ?? 0).toBe(0);
  });
});

describe('token', () => {
  it('is fetched once on first use and reused by later calls', async () => {
    const c = client();
    expect(c.health().token).toBe('none');
    await c.getCustomer('3f2504e0-4f89-11d3-9a0c-0305e82c3301');
    await c.getAllCustomers();
    await c.getCustomer('3f2504e0-4f89-11d3-9a0c-0305e82c3301');
    expect(sim.callCounts().token).toBe(1);
    const h = c.health();
    expect(h.token).toBe('valid');
    expect(h.lastOkAt).toBeDefined();
    const tokenCall = sim.calls.find((e) => e.call === 'token');
    expect(tokenCall?.method).toBe('POST');
    expect(tokenCall?.path).toBe('/token?accesslevel=0&securityCode=undefined');
  });

  it('is renewed once after a 401 and the call repeated', async () => {
    const c = client();
    await c.getCustomer('3f2504e0-4f89-11d3-9a0c-0305e82c3301');
    sim.expireAllTokens();
    expect(await c.getCustomer('3f2504e0-4f89-11d3-9a0c-0305e82c3301')).toBeNull();
    expect(sim.callCounts().token).toBe(2);
    expect(sim.callCounts().GetCustomer).toBe(3);
  });

  it('bad credentials are an AuthenticationError whose message and health never show the password', async () => {
    const c = client({
      credentials: { kind: 'password', username: USER.username, password: 'wrong-Pass-987' },
    });
    const err = await c.getAllCustomers().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).call).toBe('token');
    expect((err as AuthenticationError).serviceMessage).toBe('The user name or password is incorrect.');
    expect(sim.callCounts().token).toBe(1);
    expect(sim.callCounts().GetAllCustomers ?? 0).toBe(0);
    const text = `${(err as Error).message} ${JSON.stringify(err)} ${JSON.stringify(c.health())}`;
    expect(text).not.toContain('wrong-Pass-987');
    expect(c.health().lastError?.code).toBe('ITR_AUTH');
  });

  it('a static token is used as given, never fetched', async () => {
    const c = client({ credentials: { kind: 'token', token: STATIC_TOKEN } });
    expect(c.health().token).toBe('static');
    await c.getAllCustomers();
    expect(sim.callCounts().token ?? 0).toBe(0);
    expect(sim.callCounts().GetAllCustomers).toBe(1);
  });

  it('a refused static token is an AuthenticationError without a renewal attempt', async () => {
    const c = client({ credentials: { kind: 'token', token: 'not-a-known-token-abcdef' } });
    const err = await c.getAllCustomers().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AuthenticationError);
    expect((err as AuthenticationError).status).toBe(401);
    expect((err as Error).message).not.toContain('not-a-known-token-abcdef');
    expect(sim.callCounts().token ?? 0).toBe(0);
    expect(sim.callCounts().GetAllCustomers).toBe(1);
  });
});
