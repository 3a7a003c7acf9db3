/**
 * Contract: the simulator's answers carry exactly the field names (and JSON types) of IT Retail's own
 * examples in the "API: Customers" article. Where the article shows null the type is unknown, so any
 * value is accepted there; everywhere else the simulator's non-null value must have the article's type.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';
import {
  SEED_CUSTOMER_PRODUCT_PURCHASES,
  SEED_GET_ALL_CUSTOMERS,
  SEED_GET_ONE,
  SEED_LOYALTY_OPERATION,
  SEED_PUT_RESPONSE,
} from '../fixtures/itretail-seed.js';

type Json = Record<string, unknown>;

function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Same keys in the same order; per key, the article's type wherever both sides are non-null. */
function expectSameShape(actual: unknown, example: Json, what: string): void {
  expect(jsonType(actual), what).toBe('object');
  const a = actual as Json;
  expect(Object.keys(a), `${what}: field names`).toEqual(Object.keys(example));
  const mismatches: string[] = [];
  for (const [key, exampleValue] of Object.entries(example)) {
    if (exampleValue === null || a[key] === null) continue;
    if (jsonType(a[key]) !== jsonType(exampleValue)) {
      mismatches.push(`${key}: ${jsonType(a[key])} where the article has ${jsonType(exampleValue)}`);
    }
  }
  expect(mismatches, `${what}: types`).toEqual([]);
}

/** Every key the article shows non-null must be non-null here too (so its type was really compared). */
function nonNullKeys(example: Json): string[] {
  return Object.entries(example)
    .filter(([, v]) => v !== null)
    .map(([k]) => k);
}

let sim: ITRetailSimulator;
let auth: Record<string, string>;
let theresaId: string;

async function call(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) {
  const res = await request(`${sim.url}${path}`, {
    method,
    headers: { ...auth, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.body.text();
  return { status: res.statusCode, text, json: JSON.parse(text) as unknown };
}

beforeAll(async () => {
  sim = await ITRetailSimulator.start({ randomSeed: 7 });
  const tokenRes = await request(`${sim.url}/token?accesslevel=0&securityCode=undefined`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=password&username=demo&password=demo',
  });
  const token = (await tokenRes.body.json()) as { access_token: string };
  auth = { authorization: `Bearer ${token.access_token}` };
  // The article's two GetAllCustomers customers and its GetOne customer, with every field the article
  // shows as non-null filled in, so every type is compared.
  const [, , theresa] = sim.seedCustomers([
    {
      FirstName: 'Helmut',
      LastName: 'Zimmermann',
      Discount: 10,
      Balance: 0,
      LoyaltyPoints: 658,
      CardNo: '0061234500020',
      expiration_date: '2021-05-04T00:00:00',
    },
    {
      FirstName: 'Stephanie',
      LastName: 'Von Poe',
      Discount: 10,
      Balance: 320.19,
      BalanceLimit: 500,
      LoyaltyPoints: 230,
      expiration_date: '2021-11-19T22:00:00',
    },
    {
      FirstName: 'Theresa',
      LastName: 'Alonzo',
      CashBack: 0,
      Discount: 10,
      WriteChecks: true,
      Purchases: 0,
      NumberOfChecks: 0,
      PointsEarned: 0,
      Created: '2021-03-04T08:27:35.56',
      Modified: '2021-07-26T14:57:37.367',
      ModifiedBy: 1,
      Attributes: 4,
      BalanceLimit: 500,
      LoyaltyPoints: 500,
      expiration_date: '2021-03-16T05:00:00',
    },
  ]);
  theresaId = theresa!.Id;
  sim.recordPurchase(
    theresaId,
    ['0038137117501', '0001300099490', '0001300099490'],
    new Date(2021, 2, 8, 12),
  );
});

afterAll(async () => {
  await sim.stop();
});

describe('IT Retail simulator matches the article examples', () => {
  it('GetAllCustomers summary records have the article fields and types', async () => {
    const { status, json } = await call('GET', '/api/CustomersData/GetAllCustomers');
    expect(status).toBe(200);
    const list = json as Json[];
    expect(list.length).toBe(3);
    const [helmut, stephanie] = list;
    expectSameShape(helmut, SEED_GET_ALL_CUSTOMERS[0], 'summary (Helmut)');
    expectSameShape(stephanie, SEED_GET_ALL_CUSTOMERS[1], 'summary (Stephanie)');
    for (const key of nonNullKeys(SEED_GET_ALL_CUSTOMERS[1])) expect(stephanie![key], key).not.toBeNull();
    expect(stephanie!.InstoreChargeEnabled).toBe(true);
    expect(helmut!.InstoreChargeEnabled).toBe(false);
  });

  it('GetAllCustomers writes money with four decimals, as the article shows', async () => {
    const { text } = await call('GET', '/api/CustomersData/GetAllCustomers');
    expect(text).toContain('"Balance":0.0000');
    expect(text).toContain('"Balance":320.1900');
    expect(text).toContain('"BalanceLimit":500.0000');
  });

  it('GetCustomerProductPurchases entries have the article fields and types', async () => {
    const { status, json } = await call(
      'GET',
      '/api/CustomersData/GetCustomerProductPurchases?date=03/08/2021',
    );
    expect(status).toBe(200);
    const [entry] = json as Json[];
    expectSameShape(entry, SEED_CUSTOMER_PRODUCT_PURCHASES[0], 'purchases entry');
    const upcs = entry!.ProductsPurchased as unknown[];
    expect(upcs.every((u) => typeof u === 'string')).toBe(true);
  });

  it('GetOne answers the full record with the article fields, in the article order and types', async () => {
    const { status, json, text } = await call('GET', `/api/CustomersData/GetOne/?Id=${theresaId}`);
    expect(status).toBe(200);
    expectSameShape(json, SEED_GET_ONE, 'GetOne');
    for (const key of nonNullKeys(SEED_GET_ONE)) expect((json as Json)[key], key).not.toBeNull();
    expect(text).toContain('"CashBack":0.0000');
    expect(text).toContain('"Purchases":0.0000');
    expect(text).toContain('"BalanceLimit":500.0000');
    expect(text).toContain('"expiration_date":"2021-03-16T05:00:00"');
    expect(text).not.toContain('ExpirationDate');
  });

  it('CreateCustomer answers a record of the same shape as GetOne', async () => {
    const { status, json } = await call('POST', '/api/CustomersData/Post', {
      FirstName: 'Fake',
      LastName: 'Customer',
      Email: 'fakecustomer@mail.com',
      Phone: '1235551234',
    });
    expect(status).toBe(200);
    expectSameShape(json, SEED_GET_ONE, 'Post answer');
  });

  it('Put answers the full record with the new loyalty operation, shaped as in the article', async () => {
    const before = (await call('GET', `/api/CustomersData/GetOne/?Id=${theresaId}`)).json as Json;
    const { status, json } = await call('PUT', '/api/CustomersData/Put', { ...before, LoyaltyPoints: 50 });
    expect(status).toBe(200);
    expectSameShape(json, SEED_PUT_RESPONSE, 'Put answer');
    const ops = (json as Json).CustomerLoyaltyPointOperations as Json[];
    expect(ops).toHaveLength(1);
    expectSameShape(ops[0], SEED_LOYALTY_OPERATION, 'loyalty operation');
    for (const key of nonNullKeys(SEED_LOYALTY_OPERATION)) expect(ops[0]![key], key).not.toBeNull();
    expect(ops[0]!.TransactionId).toBeNull();
  });
});
