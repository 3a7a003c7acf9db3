import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShopifyAdminFake } from '../../../fakes/shopify/admin.js';

/** The Admin API stand-in answers over HTTP the way Shopify does. */

const TOKEN = 'shpat_fake_test';
let fake: ShopifyAdminFake;

const post = async (body: unknown, token = TOKEN) => {
  const res = await fetch(fake.graphqlUrl, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Shopify-Access-Token': token },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
};

beforeAll(async () => {
  fake = await ShopifyAdminFake.start({ accessTokens: [TOKEN], maximumAvailable: 1000, restoreRate: 50 });
  fake.customers = [1, 2, 3].map((n) => ({
    id: `gid://shopify/Customer/${n}`,
    firstName: `C${n}`,
    email: `c${n}@example.com`,
  }));
});
afterAll(async () => {
  await fake?.close();
});

describe('Shopify Admin API stand-in', () => {
  it('refuses a wrong access token with 401 and Shopify’s body', async () => {
    const res = await post({ query: '{ shop { id } }' }, 'shpat_wrong');
    expect(res.status).toBe(401);
    expect(res.body.errors).toMatch(/Invalid API key or access token/);
  });

  it('answers an invalid document with HTTP 200, errors with locations and a code, and no data', async () => {
    const res = await post({ query: 'query Q {\n  customers(first: 1) { nodes { id nickname } }\n}' });
    expect(res.status).toBe(200);
    expect(res.body.data).toBeUndefined();
    expect(res.body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining('nickname'),
        locations: [{ line: 2, column: 36 }],
        extensions: { code: 'undefinedField' },
      }),
    ]);
  });

  it('pages with cursors and reports the cost and the bucket', async () => {
    const query =
      'query P($after: String) { customers(first: 2, after: $after) { pageInfo { hasNextPage endCursor } nodes { id } } }';
    const first = await post({ query, variables: {} });
    const data = first.body.data as {
      customers: { pageInfo: { hasNextPage: boolean; endCursor: string }; nodes: { id: string }[] };
    };
    expect(data.customers.nodes.map((n) => n.id)).toEqual([
      'gid://shopify/Customer/1',
      'gid://shopify/Customer/2',
    ]);
    expect(data.customers.pageInfo.hasNextPage).toBe(true);
    expect(first.body.extensions).toMatchObject({
      cost: {
        requestedQueryCost: 4,
        actualQueryCost: 4,
        throttleStatus: { maximumAvailable: 1000, restoreRate: 50, currentlyAvailable: expect.any(Number) },
      },
    });
    const second = await post({ query, variables: { after: data.customers.pageInfo.endCursor } });
    const next = (second.body.data as typeof data).customers;
    expect(next.nodes.map((n) => n.id)).toEqual(['gid://shopify/Customer/3']);
    expect(next.pageInfo.hasNextPage).toBe(false);
  });

  it('answers THROTTLED once on demand, then normally', async () => {
    fake.throttleNext(1);
    const query = 'query C { customersCount { count } }';
    const throttled = await post({ query });
    expect(throttled.status).toBe(200);
    expect(throttled.body.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'THROTTLED' }) }),
    ]);
    expect(throttled.body.extensions).toMatchObject({ cost: { actualQueryCost: null } });
    const ok = await post({ query });
    expect(ok.body.data).toEqual({ customersCount: { count: 3 } });
  });

  it('takes further operations through handle(), checked against the schema', async () => {
    const set: unknown[] = [];
    fake.handle(
      'metafieldsSet',
      (args) => {
        set.push(args.metafields);
        return { metafields: [], userErrors: [] };
      },
      'mutation',
    );
    expect(() => fake.handle('noSuchMutation', () => null, 'mutation')).toThrow(/not a mutation field/);
    const res = await post({
      query:
        'mutation M($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) { userErrors { field message } } }',
      variables: {
        m: [
          {
            ownerId: 'gid://shopify/Customer/1',
            namespace: 'loyalty',
            key: 'points',
            type: 'number_integer',
            value: '5',
          },
        ],
      },
    });
    expect(res.body).toMatchObject({ data: { metafieldsSet: { userErrors: [] } } });
    expect(set).toHaveLength(1);
  });
});
