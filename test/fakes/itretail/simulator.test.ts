/**
 * The IT Retail simulator over raw HTTP: every wire rule of shared/itretail/API.md, every fault kind,
 * the /__sim control routes, and clean shutdown with held sockets.
 */
import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  FULL_RECORD_WIRE,
  type FullCustomer,
  ITRetailSimulator,
  SimulatorError,
  type SimulatorOptions,
} from '../../../fakes/itretail/simulator.js';

type Json = Record<string, unknown>;
const LOCAL_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function tokenFor(sim: ITRetailSimulator, username = 'demo', password = 'demo') {
  const res = await request(`${sim.url}/token?accesslevel=0&securityCode=undefined`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'password', username, password }).toString(),
  });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, json: JSON.parse(text) as Json };
}

async function http(
  sim: ITRetailSimulator,
  method: 'GET' | 'POST' | 'PUT',
  path: string,
  opts: { token?: string | null; body?: unknown; raw?: string; signal?: AbortSignal } = {},
) {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | undefined;
  if (opts.raw !== undefined) body = opts.raw;
  else if (opts.body !== undefined) body = JSON.stringify(opts.body);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await request(`${sim.url}${path}`, { method, headers, body, signal: opts.signal });
  const text = await res.body.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

/** A started simulator with a token; stopped in afterAll. */
function useSim(opts: SimulatorOptions = {}) {
  const ctx = {} as { sim: ITRetailSimulator; token: string };
  beforeAll(async () => {
    ctx.sim = await ITRetailSimulator.start({ randomSeed: 11, ...opts });
    const t = await tokenFor(ctx.sim);
    ctx.token = t.json.access_token as string;
  });
  afterEach(() => ctx.sim.resetFaults());
  afterAll(async () => {
    await ctx.sim.stop();
  });
  return ctx;
}

const getOne = (ctx: { sim: ITRetailSimulator; token: string }, id: string) =>
  http(ctx.sim, 'GET', `/api/CustomersData/GetOne/?Id=${id}`, { token: ctx.token });
const post = (ctx: { sim: ITRetailSimulator; token: string }, body: unknown) =>
  http(ctx.sim, 'POST', '/api/CustomersData/Post', { token: ctx.token, body });
const put = (ctx: { sim: ITRetailSimulator; token: string }, body: unknown) =>
  http(ctx.sim, 'PUT', '/api/CustomersData/Put', { token: ctx.token, body });

describe('token endpoint and authorization', () => {
  const ctx = useSim({ staticTokens: ['pasted-merchant-token'] });

  it('issues an opaque bearer token for the right credentials', async () => {
    const t = await tokenFor(ctx.sim);
    expect(t.status).toBe(200);
    expect(t.json.token_type).toBe('bearer');
    expect(t.json.expires_in).toBe(1209599);
    expect(typeof t.json.access_token).toBe('string');
    expect((t.json.access_token as string).split('.').length).toBe(1);
  });

  it('refuses wrong credentials with invalid_grant', async () => {
    const t = await tokenFor(ctx.sim, 'demo', 'wrong');
    expect(t.status).toBe(400);
    expect(t.json).toEqual({
      error: 'invalid_grant',
      error_description: 'The user name or password is incorrect.',
    });
  });

  it('refuses a grant type other than password', async () => {
    const res = await request(`${ctx.sim.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(res.statusCode).toBe(400);
    expect(await res.body.json()).toEqual({ error: 'unsupported_grant_type' });
  });

  it('answers 401 with the .NET message without a token or with an unknown one', async () => {
    for (const token of [null, 'not-a-token']) {
      const r = await http(ctx.sim, 'GET', '/api/CustomersData/GetAllCustomers', { token });
      expect(r.status).toBe(401);
      expect(r.json).toEqual({ Message: 'Authorization has been denied for this request.' });
    }
  });

  it('accepts a static (pasted) token', async () => {
    const r = await http(ctx.sim, 'GET', '/api/CustomersData/GetAllCustomers', {
      token: 'pasted-merchant-token',
    });
    expect(r.status).toBe(200);
  });

  it('expireAllTokens kills issued tokens; a new token works; static tokens survive unless included', async () => {
    const t = (await tokenFor(ctx.sim)).json.access_token as string;
    expect((await http(ctx.sim, 'GET', '/api/CustomersData/GetAllCustomers', { token: t })).status).toBe(200);
    ctx.sim.expireAllTokens();
    expect((await http(ctx.sim, 'GET', '/api/CustomersData/GetAllCustomers', { token: t })).status).toBe(401);
    const fresh = (await tokenFor(ctx.sim)).json.access_token as string;
    expect((await http(ctx.sim, 'GET', '/api/CustomersData/GetAllCustomers', { token: fresh })).status).toBe(
      200,
    );
    const pasted = { token: 'pasted-merchant-token' };
    expect((await http(ctx.sim, 'GET', '/api/CustomersData/GetAllCustomers', pasted)).status).toBe(200);
    ctx.sim.expireAllTokens({ includeStatic: true });
    expect((await http(ctx.sim, 'GET', '/api/CustomersData/GetAllCustomers', pasted)).status).toBe(401);
  });

  it('tokens expire after tokenTtlMs', async () => {
    const sim = await ITRetailSimulator.start({ tokenTtlMs: 0 });
    try {
      const t = await tokenFor(sim);
      expect(t.json.expires_in).toBe(0);
      const r = await http(sim, 'GET', '/api/CustomersData/GetAllCustomers', {
        token: t.json.access_token as string,
      });
      expect(r.status).toBe(401);
    } finally {
      await sim.stop();
    }
  });

  it('answers 404 with a .NET message for an unknown route and 405 for a wrong method', async () => {
    const r = await http(ctx.sim, 'GET', '/api/CustomersData/Nope', { token: ctx.token });
    expect(r.status).toBe(404);
    expect((r.json as Json).Message).toMatch(/No HTTP resource/);
    const m = await http(ctx.sim, 'POST', '/api/CustomersData/GetOne', { token: ctx.token, body: {} });
    expect(m.status).toBe(405);
  });
});

describe('GetOne', () => {
  const ctx = useSim();

  it('answers 200 with a literal null for an unknown id', async () => {
    const r = await getOne(ctx, '00000000-0000-4000-8000-000000000000');
    expect(r.status).toBe(200);
    expect(r.text).toBe('null');
  });

  it('answers 400 for an id that is not a GUID', async () => {
    const r = await getOne(ctx, 'df165306-6401-431e-abd6-136r68c50a31');
    expect(r.status).toBe(400);
    expect(r.json).toEqual({ Message: 'The request is invalid.' });
  });

  it('answers null after a hard delete and Deleted:true after a soft delete', async () => {
    const [a, b] = ctx.sim.seedCustomers([{ FirstName: 'Hard' }, { FirstName: 'Soft' }]);
    ctx.sim.hardDelete(a!.Id);
    ctx.sim.softDelete(b!.Id);
    expect((await getOne(ctx, a!.Id)).text).toBe('null');
    expect(((await getOne(ctx, b!.Id)).json as Json).Deleted).toBe(true);
  });

  it('writes every full-record field in order, money with four decimals, local dates without a zone', async () => {
    const [c] = ctx.sim.seedCustomers([
      { FirstName: 'Theresa', Balance: 320.19, BalanceLimit: 500, CashBack: 1.5, Purchases: 12 },
    ]);
    const r = await getOne(ctx, c!.Id);
    expect(Object.keys(r.json as Json)).toEqual(FULL_RECORD_WIRE.map(([k]) => k));
    expect(r.text).toContain('"Balance":320.1900');
    expect(r.text).toContain('"BalanceLimit":500.0000');
    expect(r.text).toContain('"CashBack":1.5000');
    expect(r.text).toContain('"Purchases":12.0000');
    expect((r.json as Json).Created).toMatch(LOCAL_DATE);
    expect(r.headers['content-type']).toMatch(/application\/json/);
  });

  it('matches the path and the Id parameter case-insensitively, with or without the trailing slash', async () => {
    const [c] = ctx.sim.seedCustomers([{ FirstName: 'Case' }]);
    const r = await http(ctx.sim, 'GET', `/api/customersdata/getone?id=${c!.Id.toUpperCase()}`, {
      token: ctx.token,
    });
    expect(r.status).toBe(200);
    expect((r.json as Json).Id).toBe(c!.Id);
  });
});

describe('GetAllCustomers', () => {
  const ctx = useSim();

  it('answers every customer, deleted ones included, as summary records with ExpirationDate', async () => {
    const seeded = ctx.sim.seedCustomers([
      { FirstName: 'Live', expiration_date: '2021-05-04T00:00:00', BalanceLimit: 500 },
      { FirstName: 'Gone', Deleted: true },
    ]);
    const r = await http(ctx.sim, 'GET', '/api/CustomersData/GetAllCustomers', { token: ctx.token });
    expect(r.status).toBe(200);
    const list = r.json as Json[];
    expect(list.map((c) => c.Id).sort()).toEqual(seeded.map((c) => c.Id).sort());
    const live = list.find((c) => c.FirstName === 'Live')!;
    expect(live.ExpirationDate).toBe('2021-05-04T00:00:00');
    expect(live).not.toHaveProperty('expiration_date');
    expect(live.InstoreChargeEnabled).toBe(true);
    expect(list.find((c) => c.FirstName === 'Gone')!.Deleted).toBe(true);
  });

  it('streams a large answer in chunks without buffering it, waiting for a slow reader', async () => {
    const sim = await ITRetailSimulator.start({ randomSeed: 3 });
    try {
      sim.generateCustomers(60_000);
      const token = (await tokenFor(sim)).json.access_token as string;
      const { port } = new URL(sim.url);
      const socket = connect(Number(port), '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.pause();
      socket.write(
        `GET /api/CustomersData/GetAllCustomers HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nConnection: close\r\n\r\n`,
      );
      // Wait until the server is parked on a full socket (it stops writing until the reader drains).
      while (sim.streamStats().drainWaits === 0) await new Promise((r) => setTimeout(r, 10));
      const parked = sim.streamStats();
      expect(parked.active).toBe(1);
      expect(parked.completed).toBe(0);
      const chunks: Buffer[] = [];
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.resume();
      await new Promise<void>((resolve) => socket.once('end', () => resolve()));
      const raw = Buffer.concat(chunks).toString('utf8');
      const headerEnd = raw.indexOf('\r\n\r\n');
      expect(raw.slice(0, headerEnd)).toMatch(/transfer-encoding: chunked/i);
      const done = sim.streamStats();
      expect(done.completed).toBe(1);
      expect(done.lastChunks).toBeGreaterThan(10);
      // Never more than about one chunk plus the socket's buffer queued in memory.
      expect(done.maxPendingBytes).toBeLessThan(1024 * 1024);
      expect(done.lastBytes).toBeGreaterThan(10 * 1024 * 1024);
      expect(raw.split('"InstoreChargeEnabled"').length - 1).toBe(60_000);
    } finally {
      await sim.stop();
    }
  });

  it('generates 250,000 customers and serves them all', async () => {
    const sim = await ITRetailSimulator.start({ randomSeed: 4 });
    try {
      sim.generateCustomers(250_000, { deletedShare: 0.05, duplicateEmailShare: 0.01 });
      expect(sim.customerCount).toBe(250_000);
      const token = (await tokenFor(sim)).json.access_token as string;
      const res = await request(`${sim.url}/api/CustomersData/GetAllCustomers`, {
        headers: { authorization: `Bearer ${token}` },
      });
      expect(res.statusCode).toBe(200);
      let count = 0;
      let tail = '';
      for await (const chunk of res.body) {
        const text = tail + (chunk as Buffer).toString('utf8');
        const parts = text.split('"InstoreChargeEnabled"');
        count += parts.length - 1;
        tail = parts[parts.length - 1]!.slice(-30);
      }
      expect(count).toBe(250_000);
    } finally {
      await sim.stop();
    }
  });

  it('generated data is deterministic for a seed and realistic', async () => {
    const a = await ITRetailSimulator.start({ randomSeed: 99 });
    const b = await ITRetailSimulator.start({ randomSeed: 99 });
    try {
      a.generateCustomers(200, { duplicateEmailShare: 0.1, deletedShare: 0.1 });
      b.generateCustomers(200, { duplicateEmailShare: 0.1, deletedShare: 0.1 });
      const strip = (c: FullCustomer) => ({ ...c, Created: null, Modified: null });
      expect(a.listCustomers().map(strip)).toEqual(b.listCustomers().map(strip));
      const list = a.listCustomers();
      expect(list.every((c) => GUID.test(c.Id) && /^\d{13}$/.test(c.CardNo ?? ''))).toBe(true);
      expect(list.every((c) => c.Phone === null || /^\d{10}$/.test(c.Phone))).toBe(true);
      expect(list.some((c) => (c.LoyaltyPoints ?? 0) > 0)).toBe(true);
      expect(list.some((c) => c.Deleted)).toBe(true);
      const emails = list.map((c) => c.Email!.trim().toLowerCase());
      expect(new Set(emails).size).toBeLessThan(emails.length);
      const dup = list.find((c) => a.findByEmail(c.Email!).length > 1)!;
      expect(a.findByEmail(` ${dup.Email!.toUpperCase()} `).length).toBeGreaterThan(1);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe('CreateCustomer (Post)', () => {
  const ctx = useSim();

  it('creates a customer: new GUID, new 13-digit card, 0 points, other fields empty', async () => {
    const r = await post(ctx, {
      FirstName: 'Fake',
      LastName: 'Customer',
      Email: 'fake@mail.com',
      Phone: '1235551234',
    });
    expect(r.status).toBe(200);
    const c = r.json as Json;
    expect(c.Id).toMatch(GUID);
    expect(c.CardNo).toMatch(/^\d{13}$/);
    expect(c.LoyaltyPoints).toBe(0);
    expect(c).toMatchObject({
      FirstName: 'Fake',
      LastName: 'Customer',
      Email: 'fake@mail.com',
      Phone: '1235551234',
    });
    expect(c.Address1).toBeNull();
    expect(c.Balance).toBeNull();
    expect(c.CustomerLoyaltyPointOperations).toEqual([]);
    expect(ctx.sim.getCustomer(c.Id as string)?.Email).toBe('fake@mail.com');
    const again = await post(ctx, { FirstName: 'Other', LastName: 'Person', Email: 'other@mail.com' });
    expect((again.json as Json).CardNo).not.toBe(c.CardNo);
  });

  it('refuses an email a live customer has, trimmed and case-insensitively', async () => {
    await post(ctx, { FirstName: 'A', LastName: 'B', Email: 'taken@mail.com' });
    const before = ctx.sim.customerCount;
    for (const Email of ['taken@mail.com', ' TAKEN@Mail.com ']) {
      const r = await post(ctx, { FirstName: 'C', LastName: 'D', Email });
      expect(r.status).toBe(400);
      expect(r.json).toEqual({ Message: 'A customer with this email already exists.' });
    }
    expect(ctx.sim.customerCount).toBe(before);
  });

  it('allows an email only a deleted customer has', async () => {
    ctx.sim.seedCustomers([{ FirstName: 'Old', Email: 'reused@mail.com', Deleted: true }]);
    const r = await post(ctx, { FirstName: 'New', LastName: 'One', Email: 'reused@mail.com' });
    expect(r.status).toBe(200);
  });

  it('requires an unformatted 10-digit phone when a phone is given', async () => {
    for (const Phone of ['+16135551234', '(613) 555-1234', '613555123', 6135551234]) {
      const r = await post(ctx, {
        FirstName: 'P',
        LastName: 'Q',
        Email: `p${String(Phone).length}x@mail.com`,
        Phone,
      });
      expect(r.status, String(Phone)).toBe(400);
    }
    const bad = await post(ctx, {
      FirstName: 'P',
      LastName: 'Q',
      Email: 'phone@mail.com',
      Phone: '613-555-1234',
    });
    expect(bad.json).toEqual({ Message: 'Phone must be an unformatted 10 digit number.' });
    expect(ctx.sim.findByEmail('phone@mail.com')).toEqual([]);
    const ok = await post(ctx, { FirstName: 'P', LastName: 'Q', Email: 'nophone@mail.com' });
    expect(ok.status).toBe(200);
    expect((ok.json as Json).Phone).toBeNull();
  });

  it('requires FirstName, LastName and Email, and a JSON object body', async () => {
    for (const body of [
      { LastName: 'B', Email: 'x1@mail.com' },
      { FirstName: 'A', Email: 'x2@mail.com' },
      { FirstName: 'A', LastName: 'B' },
    ]) {
      const r = await post(ctx, body);
      expect(r.status).toBe(400);
      expect(typeof (r.json as Json).Message).toBe('string');
    }
    const notJson = await http(ctx.sim, 'POST', '/api/CustomersData/Post', { token: ctx.token, raw: '{Fir' });
    expect(notJson.status).toBe(400);
    expect(notJson.json).toEqual({ Message: 'The request is invalid.' });
  });
});

describe('UpdateCustomer (Put)', () => {
  const ctx = useSim();
  const full = (): Partial<FullCustomer> => ({
    FirstName: 'Theresa',
    LastName: 'Alonzo',
    Email: 'theresa@mail.com',
    Address1: '1 Main St',
    City: 'Springfield',
    Phone: '6135551234',
    Balance: 12.5,
    BalanceLimit: 500,
    Discount: 10,
    LoyaltyPoints: 500,
    expiration_date: '2021-03-16T05:00:00',
    CustomerCoupons: [{ Id: 1 }],
  });

  it('replaces the whole record: absent fields become null, lists too, unknown fields ignored', async () => {
    const [c] = ctx.sim.seedCustomers([{ ...full(), Email: 'partial@mail.com' }]);
    const r = await put(ctx, { Id: c!.Id, FirstName: 'Theresa', LoyaltyPoints: 500, Bogus: 'x' });
    expect(r.status).toBe(200);
    const after = ctx.sim.getCustomer(c!.Id)!;
    expect(after.FirstName).toBe('Theresa');
    expect(after.LastName).toBeNull();
    expect(after.Address1).toBeNull();
    expect(after.CardNo).toBeNull();
    expect(after.Balance).toBeNull();
    expect(after.Email).toBeNull();
    expect(after.CustomerCoupons).toBeNull();
    expect(after.Deleted).toBe(false);
    expect(after).not.toHaveProperty('Bogus');
    expect(r.json).toEqual(JSON.parse(JSON.stringify(after)));
  });

  it('a body that spells ExpirationDate (summary casing) loses the expiration date', async () => {
    const [c] = ctx.sim.seedCustomers([{ ...full(), Email: 'exp@mail.com' }]);
    const record = (await getOne(ctx, c!.Id)).json as Json;
    const { expiration_date, ...rest } = record;
    const r = await put(ctx, { ...rest, ExpirationDate: expiration_date });
    expect(r.status).toBe(200);
    expect((r.json as Json).expiration_date).toBeNull();
    expect(ctx.sim.getCustomer(c!.Id)!.expiration_date).toBeNull();
  });

  it('a GetOne → Put round trip keeps every field and records a manual loyalty operation', async () => {
    const [c] = ctx.sim.seedCustomers([{ ...full(), Email: 'roundtrip@mail.com' }]);
    const record = (await getOne(ctx, c!.Id)).json as Json;
    const r = await put(ctx, { ...record, LoyaltyPoints: 650 });
    expect(r.status).toBe(200);
    const answer = r.json as Json;
    for (const [key] of FULL_RECORD_WIRE) {
      if (key === 'LoyaltyPoints' || key === 'Modified' || key === 'CustomerLoyaltyPointOperations') continue;
      expect(answer[key], key).toEqual(record[key]);
    }
    expect(answer.LoyaltyPoints).toBe(650);
    expect(answer.Modified).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    const ops = answer.CustomerLoyaltyPointOperations as Json[];
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({
      CustomerId: c!.Id,
      LoyaltyPointsAdded: 150,
      LoyaltyPointsAfterAdd: 650,
      IsManualUpdate: true,
      TransactionId: null,
      Tenant: null,
      Transaction: null,
    });
    expect(ops[0]!.Id).toMatch(GUID);
    expect(ops[0]!.OperationDate).toMatch(/\+00:00$/);
    expect(r.text).toContain('"Balance":12.5000');
    // No points change → no operation: the answer lists only what this Put did.
    const again = await put(ctx, answer);
    expect((again.json as Json).CustomerLoyaltyPointOperations).toEqual([]);
  });

  it('answers like the seed: GetOne shows no operation history, a Put only its own; Modified moves on every write', async () => {
    const [c] = ctx.sim.seedCustomers([{ ...full(), Email: 'seedlike@mail.com' }]);
    const first = (await getOne(ctx, c!.Id)).json as Json;
    const p1 = (await put(ctx, { ...first, LoyaltyPoints: 600 })).json as Json;
    ctx.sim.adjustPoints(c!.Id, 20);
    const afterRegister = (await getOne(ctx, c!.Id)).json as Json;
    // The register's change and our Put both happened, yet GetOne lists neither.
    expect(afterRegister.CustomerLoyaltyPointOperations).toEqual([]);
    expect(afterRegister.LoyaltyPoints).toBe(620);
    expect(new Set([first.Modified, p1.Modified, afterRegister.Modified]).size).toBe(3);
    const p2 = (await put(ctx, { ...afterRegister, LoyaltyPoints: 700 })).json as Json;
    expect((p2.CustomerLoyaltyPointOperations as Json[]).map((o) => o.LoyaltyPointsAdded)).toEqual([80]);
    // Two writes within one millisecond still leave two different Modified values.
    const p3 = (await put(ctx, { ...p2, LoyaltyPoints: 701 })).json as Json;
    expect(p3.Modified).not.toBe(p2.Modified);
    // The service keeps its history: the kinder mode shows it whole.
    ctx.sim.setOperationHistory('full');
    try {
      const rich = (await getOne(ctx, c!.Id)).json as Json;
      expect((rich.CustomerLoyaltyPointOperations as Json[]).map((o) => o.LoyaltyPointsAdded)).toEqual([
        100, 20, 80, 1,
      ]);
    } finally {
      ctx.sim.setOperationHistory('seed');
    }
  });

  it('skewNextPutAnswer makes one Put answer show other points than were written', async () => {
    const [c] = ctx.sim.seedCustomers([{ ...full(), Email: 'skew@mail.com' }]);
    const rec = (await getOne(ctx, c!.Id)).json as Json;
    ctx.sim.skewNextPutAnswer(20);
    const answer = (await put(ctx, { ...rec, LoyaltyPoints: 600 })).json as Json;
    expect(answer.LoyaltyPoints).toBe(620);
    expect(ctx.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(600);
    const next = (await put(ctx, { ...rec, LoyaltyPoints: 610 })).json as Json;
    expect(next.LoyaltyPoints).toBe(610);
  });

  it('refuses an unknown Id, a non-GUID Id, and a field of the wrong type, changing nothing', async () => {
    const unknown = await put(ctx, { Id: '00000000-0000-4000-8000-000000000000', FirstName: 'X' });
    expect(unknown.status).toBe(400);
    expect(unknown.json).toEqual({ Message: 'Customer not found.' });
    const notGuid = await put(ctx, { Id: 'nope', FirstName: 'X' });
    expect(notGuid.status).toBe(400);
    expect(notGuid.json).toEqual({ Message: 'The request is invalid.' });
    const [c] = ctx.sim.seedCustomers([{ ...full(), Email: 'types@mail.com' }]);
    const record = (await getOne(ctx, c!.Id)).json as Json;
    const bad = await put(ctx, { ...record, LoyaltyPoints: 'lots' });
    expect(bad.status).toBe(400);
    expect(ctx.sim.getCustomer(c!.Id)).toEqual(c);
  });

  it('refuses changing the email to one another live customer has; keeping or freeing one is fine', async () => {
    const [a, b] = ctx.sim.seedCustomers([
      { ...full(), Email: 'first@mail.com' },
      { ...full(), Email: 'second@mail.com' },
    ]);
    const recordB = (await getOne(ctx, b!.Id)).json as Json;
    const clash = await put(ctx, { ...recordB, Email: ' FIRST@mail.com' });
    expect(clash.status).toBe(400);
    expect(clash.json).toEqual({ Message: 'A customer with this email already exists.' });
    expect(ctx.sim.getCustomer(b!.Id)!.Email).toBe('second@mail.com');
    expect((await put(ctx, recordB)).status).toBe(200);
    ctx.sim.softDelete(a!.Id);
    const freed = await put(ctx, { ...recordB, Email: 'first@mail.com' });
    expect(freed.status).toBe(200);
    expect(
      ctx.sim
        .findByEmail('FIRST@mail.com')
        .map((c) => c.Id)
        .sort(),
    ).toEqual([a!.Id, b!.Id].sort());
  });

  it('an in-store change records a register operation and changes Modified', async () => {
    const [c] = ctx.sim.seedCustomers([{ ...full(), Email: 'register@mail.com', Modified: null }]);
    const after = ctx.sim.adjustPoints(c!.Id, -120);
    expect(after.LoyaltyPoints).toBe(380);
    expect(after.Modified).toMatch(LOCAL_DATE);
    const op = after.CustomerLoyaltyPointOperations!.at(-1)!;
    expect(op).toMatchObject({ LoyaltyPointsAdded: -120, LoyaltyPointsAfterAdd: 380, IsManualUpdate: false });
    expect(op.TransactionId).toMatch(GUID);
    expect(((await getOne(ctx, c!.Id)).json as Json).LoyaltyPoints).toBe(380);
    expect(() => ctx.sim.adjustPoints('00000000-0000-4000-8000-000000000000', 1)).toThrow(SimulatorError);
    expect(() => ctx.sim.adjustPoints(c!.Id, 1.5)).toThrow(SimulatorError);
  });
});

describe('GetCustomerProductPurchases', () => {
  const ctx = useSim();

  it('answers the UPCs (unaggregated) bought on the given MM/DD/YYYY day', async () => {
    const [a, b] = ctx.sim.seedCustomers([{ FirstName: 'A' }, { FirstName: 'B' }]);
    ctx.sim.recordPurchase(a!.Id, ['0000000000012', '0000000000012'], new Date(2021, 2, 8, 9));
    ctx.sim.recordPurchase(a!.Id, ['0000000000001'], new Date(2021, 2, 8, 17));
    ctx.sim.recordPurchase(b!.Id, ['0038137117501'], new Date(2021, 2, 9, 9));
    const r = await http(ctx.sim, 'GET', '/api/CustomersData/GetCustomerProductPurchases?date=03/08/2021', {
      token: ctx.token,
    });
    expect(r.status).toBe(200);
    expect(r.json).toEqual([
      {
        Id: a!.Id,
        CardNumber: a!.CardNo,
        ProductsPurchased: ['0000000000012', '0000000000012', '0000000000001'],
      },
    ]);
    const empty = await http(
      ctx.sim,
      'GET',
      '/api/CustomersData/GetCustomerProductPurchases?date=01/01/2020',
      {
        token: ctx.token,
      },
    );
    expect(empty.json).toEqual([]);
  });

  it('refuses a malformed or missing date', async () => {
    for (const q of ['?date=2021-03-08', '?date=13/01/2021', '?date=02/30/2021', '']) {
      const r = await http(ctx.sim, 'GET', `/api/CustomersData/GetCustomerProductPurchases${q}`, {
        token: ctx.token,
      });
      expect(r.status, q).toBe(400);
    }
  });
});

describe('fault injection', () => {
  const ctx = useSim({ randomSeed: 5 });
  const newCustomer = (n: string) => ({ FirstName: 'F', LastName: 'L', Email: `${n}@faults.test` });

  it('errorRate answers 500 without doing anything', async () => {
    ctx.sim.setFaults({ errorRate: 1 });
    const r = await post(ctx, newCustomer('err'));
    expect(r.status).toBe(500);
    expect(r.json).toEqual({ Message: 'An error has occurred.' });
    expect(ctx.sim.findByEmail('err@faults.test')).toEqual([]);
    expect(ctx.sim.calls.at(-1)).toMatchObject({ call: 'CreateCustomer', status: 500, fault: 'error' });
  });

  it('throttleRate answers 429 with Retry-After without doing anything', async () => {
    ctx.sim.setFaults({ throttleRate: 1, retryAfterSeconds: 7 });
    const r = await post(ctx, newCustomer('throttle'));
    expect(r.status).toBe(429);
    expect(r.headers['retry-after']).toBe('7');
    expect(typeof (r.json as Json).Message).toBe('string');
    expect(ctx.sim.findByEmail('throttle@faults.test')).toEqual([]);
    const t = await tokenFor(ctx.sim);
    expect(t.status).toBe(429);
  });

  it('hangRate holds the request until the client gives up; nothing is applied', async () => {
    ctx.sim.setFaults({ hangRate: 1 });
    const ac = new AbortController();
    const pending = post(ctx, newCustomer('hang')).catch((e: unknown) => e);
    const aborted = http(ctx.sim, 'GET', '/api/CustomersData/GetAllCustomers', {
      token: ctx.token,
      signal: ac.signal,
    }).catch((e: unknown) => e);
    while (ctx.sim.calls.filter((c) => c.status === 'hang').length < 2)
      await new Promise((r) => setTimeout(r, 5));
    ac.abort();
    expect(await aborted).toBeInstanceOf(Error);
    ctx.sim.resetFaults();
    expect(ctx.sim.findByEmail('hang@faults.test')).toEqual([]);
    expect((await getOne(ctx, '00000000-0000-4000-8000-000000000000')).status).toBe(200);
    // The still-held Post is released when the simulator stops (afterAll); don't wait for it here.
    void pending;
  });

  it('writeAppliedThenErrorRate applies a write, then answers 500', async () => {
    ctx.sim.setFaults({ writeAppliedThenErrorRate: 1 });
    const r = await post(ctx, newCustomer('applied500'));
    expect(r.status).toBe(500);
    const [created] = ctx.sim.findByEmail('applied500@faults.test');
    expect(created).toBeDefined();
    const record = (await getOne(ctx, created!.Id)).json as Json;
    const u = await put(ctx, { ...record, LoyaltyPoints: 77 });
    expect(u.status).toBe(500);
    expect(ctx.sim.getCustomer(created!.Id)!.LoyaltyPoints).toBe(77);
    expect(ctx.sim.calls.at(-1)).toMatchObject({
      call: 'UpdateCustomer',
      status: 500,
      fault: 'applied-then-error',
    });
  });

  it('writeAppliedThenDropRate applies a write, then drops the connection', async () => {
    ctx.sim.setFaults({ writeAppliedThenDropRate: 1 });
    const err = await post(ctx, newCustomer('dropped')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect(ctx.sim.findByEmail('dropped@faults.test')).toHaveLength(1);
    expect(ctx.sim.calls.at(-1)).toMatchObject({
      call: 'CreateCustomer',
      status: 'drop',
      fault: 'applied-then-drop',
    });
  });

  it('writes refused for a rule are not turned into applied-then faults', async () => {
    ctx.sim.setFaults({ writeAppliedThenErrorRate: 1 });
    const r = await post(ctx, { FirstName: 'F', LastName: 'L', Email: 'bad@faults.test', Phone: '12' });
    expect(r.status).toBe(400);
  });

  it('calls restricts faults to the named calls', async () => {
    const [c] = ctx.sim.seedCustomers([{ FirstName: 'Only', LoyaltyPoints: 3 }]);
    ctx.sim.setFaults({ errorRate: 1, calls: ['UpdateCustomer'] });
    const got = await getOne(ctx, c!.Id);
    expect(got.status).toBe(200);
    const r = await put(ctx, { ...(got.json as Json), LoyaltyPoints: 4 });
    expect(r.status).toBe(500);
    expect(ctx.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(3);
  });

  it('latency delays the answer by at least latencyMs', async () => {
    ctx.sim.setFaults({ latencyMs: 40, jitterMs: 10 });
    const r = await getOne(ctx, '00000000-0000-4000-8000-000000000000');
    expect(r.status).toBe(200);
    expect(ctx.sim.calls.at(-1)!.durationMs).toBeGreaterThanOrEqual(38);
  });

  it('the same seed gives the same fault sequence', async () => {
    const run = async () => {
      const sim = await ITRetailSimulator.start({
        randomSeed: 1234,
        faults: { errorRate: 0.3, throttleRate: 0.2 },
      });
      const statuses: number[] = [];
      try {
        for (let i = 0; i < 30; i++) {
          const r = await http(sim, 'GET', '/api/CustomersData/GetAllCustomers');
          statuses.push(r.status);
        }
      } finally {
        await sim.stop();
      }
      return statuses;
    };
    const first = await run();
    expect(await run()).toEqual(first);
    expect(new Set(first)).toEqual(new Set([401, 500, 429]));
  });

  it('refuses invalid fault settings with a typed error', () => {
    expect(() => ctx.sim.setFaults({ errorRate: 2 })).toThrow(SimulatorError);
    expect(() => ctx.sim.setFaults({ latencyMs: -1 })).toThrow(SimulatorError);
    expect(() => ctx.sim.setFaults({ retryAfterSeconds: 1.5 })).toThrow(SimulatorError);
    expect(() => ctx.sim.setFaults({ errorRate: 0.6, throttleRate: 0.6 })).toThrow(SimulatorError);
    expect(() => ctx.sim.setFaults({ calls: ['Nope' as never] })).toThrow(SimulatorError);
    expect(ctx.sim.faults.errorRate).toBe(0);
  });

  it('stop() closes held (hanging) sockets so callers are released', async () => {
    const sim = await ITRetailSimulator.start({ faults: { hangRate: 1 } });
    const pending = request(`${sim.url}/api/CustomersData/GetAllCustomers`).then(
      () => 'answered',
      () => 'closed',
    );
    while (!sim.calls.some((c) => c.status === 'hang')) await new Promise((r) => setTimeout(r, 5));
    await sim.stop();
    expect(await pending).toBe('closed');
  });
});

describe('held calls (holdCalls / releaseCalls)', () => {
  const ctx = useSim({ randomSeed: 6 });
  const waitHeld = async (k: number) => {
    while (ctx.sim.heldCalls.length < k) await new Promise((r) => setTimeout(r, 5));
  };

  it('holds a Put unapplied until released, then carries it out', async () => {
    const [c] = ctx.sim.seedCustomers([
      { FirstName: 'H', LastName: 'C', Email: 'held1@x.test', LoyaltyPoints: 5 },
    ]);
    const rec = (await getOne(ctx, c!.Id)).json as Json;
    ctx.sim.holdCalls(['UpdateCustomer']);
    const answer = put(ctx, { ...rec, LoyaltyPoints: 9 });
    await waitHeld(1);
    expect(ctx.sim.heldCalls).toEqual([{ call: 'UpdateCustomer', customerId: c!.Id, applied: false }]);
    expect(ctx.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(5);
    // Other calls are not held.
    expect((await getOne(ctx, c!.Id)).status).toBe(200);
    ctx.sim.releaseCalls();
    expect((await answer).status).toBe(200);
    expect(ctx.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(9);
    expect(ctx.sim.heldCalls).toEqual([]);
  });

  it('applies a write first when asked and holds only its answer; a held unapplied write whose client left is dropped', async () => {
    const [a, b] = ctx.sim.seedCustomers([
      { FirstName: 'H', LastName: 'A', Email: 'helda@x.test', LoyaltyPoints: 1 },
      { FirstName: 'H', LastName: 'B', Email: 'heldb@x.test', LoyaltyPoints: 2 },
    ]);
    const recA = (await getOne(ctx, a!.Id)).json as Json;
    const recB = (await getOne(ctx, b!.Id)).json as Json;
    ctx.sim.holdCalls(['UpdateCustomer'], { applyWritesFirst: (id) => id === a!.Id });
    const acA = new AbortController();
    const acB = new AbortController();
    const pa = http(ctx.sim, 'PUT', '/api/CustomersData/Put', {
      token: ctx.token,
      body: { ...recA, LoyaltyPoints: 11 },
      signal: acA.signal,
    }).catch((e: unknown) => e);
    const pb = http(ctx.sim, 'PUT', '/api/CustomersData/Put', {
      token: ctx.token,
      body: { ...recB, LoyaltyPoints: 22 },
      signal: acB.signal,
    }).catch((e: unknown) => e);
    await waitHeld(2);
    expect(ctx.sim.heldCalls.map((x) => [x.customerId, x.applied]).sort()).toEqual(
      [
        [a!.Id, true],
        [b!.Id, false],
      ].sort(),
    );
    expect(ctx.sim.getCustomer(a!.Id)!.LoyaltyPoints).toBe(11);
    acA.abort();
    acB.abort();
    expect(await pa).toBeInstanceOf(Error);
    expect(await pb).toBeInstanceOf(Error);
    while (ctx.sim.heldCalls.length > 0) await new Promise((r) => setTimeout(r, 5));
    ctx.sim.releaseCalls();
    expect(ctx.sim.getCustomer(a!.Id)!.LoyaltyPoints).toBe(11);
    expect(ctx.sim.getCustomer(b!.Id)!.LoyaltyPoints).toBe(2);
  });
});

describe('call log', () => {
  const ctx = useSim();

  it('logs every call with its status and customer, and counts calls by name', async () => {
    ctx.sim.clearCalls();
    const [c] = ctx.sim.seedCustomers([{ FirstName: 'Logged' }]);
    await getOne(ctx, c!.Id);
    await getOne(ctx, c!.Id);
    await http(ctx.sim, 'GET', '/api/CustomersData/GetAllCustomers');
    await tokenFor(ctx.sim);
    expect(ctx.sim.callCounts()).toEqual({ GetCustomer: 2, GetAllCustomers: 1, token: 1 });
    expect(ctx.sim.calls[0]).toMatchObject({
      call: 'GetCustomer',
      method: 'GET',
      status: 200,
      customerId: c!.Id,
    });
    expect(ctx.sim.calls[2]).toMatchObject({ call: 'GetAllCustomers', status: 401 });
    ctx.sim.clearCalls();
    expect(ctx.sim.calls).toEqual([]);
    expect(ctx.sim.callCounts()).toEqual({});
  });
});

describe('/__sim control routes', () => {
  const ctx = useSim();
  const ctl = (method: 'GET' | 'POST', path: string, body?: unknown) =>
    http(ctx.sim, method, `/__sim${path}`, { body });

  it('seeds, reads, adjusts points and reports state', async () => {
    const seeded = await ctl('POST', '/seed', {
      customers: [{ FirstName: 'Ctl', Email: 'ctl@mail.com', LoyaltyPoints: 10, Balance: 1.25 }],
    });
    expect(seeded.status).toBe(200);
    expect(seeded.text).toContain('"Balance":1.2500');
    const id = (seeded.json as Json[])[0]!.Id as string;
    const gen = await ctl('POST', '/seed', { generate: 5 });
    expect(gen.json).toEqual({ customers: 6 });
    expect(((await ctl('GET', `/customers/${id}`)).json as Json).FirstName).toBe('Ctl');
    expect((await ctl('GET', '/customers/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    const byEmail = await ctl('GET', `/customers?email=${encodeURIComponent(' CTL@mail.com ')}`);
    expect((byEmail.json as Json[]).map((c) => c.Id)).toEqual([id]);
    const pts = await ctl('POST', `/customers/${id}/points`, { delta: 5 });
    expect((pts.json as Json).LoyaltyPoints).toBe(15);
    expect((await ctl('POST', `/customers/${id}/points`, { delta: 'x' })).status).toBe(400);
    const state = (await ctl('GET', '/state')).json as Json;
    expect(state).toMatchObject({ customers: 6, url: ctx.sim.url });
    expect(state.faults).toMatchObject({ errorRate: 0 });
  });

  it('sets and resets faults, expires tokens, reads and clears call counts', async () => {
    const set = await ctl('POST', '/faults', { errorRate: 1, calls: ['GetCustomer'] });
    expect(set.status).toBe(200);
    expect(ctx.sim.faults).toMatchObject({ errorRate: 1, calls: ['GetCustomer'] });
    expect((await getOne(ctx, '00000000-0000-4000-8000-000000000000')).status).toBe(500);
    expect((await ctl('POST', '/faults', { errorRate: 5 })).status).toBe(400);
    await ctl('POST', '/faults/reset');
    expect(ctx.sim.faults.errorRate).toBe(0);
    expect((await getOne(ctx, '00000000-0000-4000-8000-000000000000')).status).toBe(200);
    const calls = await ctl('GET', '/calls');
    expect((calls.json as Json).GetCustomer).toBe(2);
    await ctl('POST', '/calls/clear');
    expect((await ctl('GET', '/calls')).json).toEqual({});
    await ctl('POST', '/expire-tokens');
    expect((await getOne(ctx, '00000000-0000-4000-8000-000000000000')).status).toBe(401);
  });

  it('records purchases and deletes customers', async () => {
    const [c, d] = ctx.sim.seedCustomers([{ FirstName: 'Buyer' }, { FirstName: 'Leaver' }]);
    const bought = await ctl('POST', `/customers/${c!.Id}/purchases`, {
      upcs: ['0000000004015'],
      date: '2021-03-08T12:00:00',
    });
    expect(bought.status).toBe(200);
    const r = await http(ctx.sim, 'GET', '/api/CustomersData/GetCustomerProductPurchases?date=03/08/2021', {
      token: (await tokenFor(ctx.sim)).json.access_token as string,
    });
    expect(r.json).toEqual([{ Id: c!.Id, CardNumber: c!.CardNo, ProductsPurchased: ['0000000004015'] }]);
    await ctl('POST', `/customers/${d!.Id}/delete`);
    expect(ctx.sim.getCustomer(d!.Id)!.Deleted).toBe(true);
    await ctl('POST', `/customers/${d!.Id}/delete`, { hard: true });
    expect(ctx.sim.getCustomer(d!.Id)).toBeUndefined();
    expect((await ctl('POST', `/customers/${d!.Id}/delete`)).status).toBe(404);
  });

  it('refuses bad bodies and unknown routes', async () => {
    expect((await http(ctx.sim, 'POST', '/__sim/faults', { raw: '{nope' })).status).toBe(400);
    expect((await ctl('POST', '/seed', { something: 1 })).status).toBe(400);
    expect((await ctl('GET', '/nothing')).status).toBe(404);
  });
});

describe('npm run simulator', () => {
  it('starts with generated customers, prints the URL and demo credentials, and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'fakes/itretail/simulator-cli.ts'], {
      env: { ...process.env, SIMULATOR_PORT: '0', SIMULATOR_SEED_CUSTOMERS: '12' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const m = /listening on (http:\/\/\S+)/.exec(out);
        if (m && out.includes('demo')) resolve(m[1]!);
      });
      child.once('exit', () => reject(new Error(`simulator exited early: ${out}`)));
    });
    try {
      expect(out).toMatch(/username "demo" \/ password "demo"/);
      const state = (await (await request(`${url}/__sim/state`)).body.json()) as Json;
      expect(state.customers).toBe(12);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
