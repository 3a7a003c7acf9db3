import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { adminSchema, requestedCost, validationErrors } from '../../fakes/shopify/admin.js';
import { envSchema } from '../../src/config.js';
import { ADMIN_DOCUMENTS } from '../../src/shopify/admin-documents.js';
import { CUSTOMERS_PAGE_SIZE } from '../../src/shopify/graphql.js';
import {
  LINE_ITEMS_PAGE_SIZE,
  ORDERS_PAGE_SIZE,
  REFUND_LINES_PAGE_SIZE,
} from '../../src/shopify/orders-query.js';

/** The Admin API version the app asks for when none is configured. */
const VERSION = envSchema.parse({
  SHOPIFY_API_KEY: 'k',
  SHOPIFY_API_SECRET: 'secret-secret',
  SHOPIFY_APP_URL: 'https://app.example.com',
  ENCRYPTION_KEY: 'a'.repeat(64),
}).SHOPIFY_API_VERSION;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sourceFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('every GraphQL document the app sends', () => {
  const schema = adminSchema(VERSION);

  it.each(Object.entries(ADMIN_DOCUMENTS))('%s is valid against the Admin API schema', (name, doc) => {
    expect(validationErrors(schema, doc)).toEqual([]);
    // Listed under its own operation name, so the list and the documents cannot drift apart.
    const op = parse(doc).definitions[0] as { name?: { value: string } };
    expect(op.name?.value).toBe(name);
  });

  it('is listed in ADMIN_DOCUMENTS: no GraphQL operation in src/ is missing from it', () => {
    const listed = new Set(Object.keys(ADMIN_DOCUMENTS));
    const found: string[] = [];
    for (const file of sourceFiles('src')) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/`\s*(query|mutation|subscription)\s+([A-Za-z_][A-Za-z0-9_]*)\s*[({]/g)) {
        found.push(m[2] as string);
      }
      // Anonymous operations could not be listed by name: there must be none.
      expect(text, `${file} sends an anonymous GraphQL operation`).not.toMatch(/`\s*(query|mutation)\s*[({]/);
    }
    expect(found.length).toBeGreaterThanOrEqual(listed.size);
    for (const name of found) expect(listed, `${name} is not in ADMIN_DOCUMENTS`).toContain(name);
  });

  it("stays within Shopify's 1,000-point limit of one query at the page sizes the app asks", () => {
    const asked: [string, Record<string, unknown>][] = [
      ['LinkExistingCustomers', { first: CUSTOMERS_PAGE_SIZE }],
      ['CatchUpOrders', { first: ORDERS_PAGE_SIZE, query: 'updated_at:>0' }],
      ['CatchUpRefund', { id: 'gid://shopify/Refund/1', first: REFUND_LINES_PAGE_SIZE }],
      ['CatchUpOrderLines', { id: 'gid://shopify/Order/1', first: LINE_ITEMS_PAGE_SIZE }],
    ];
    for (const [name, variables] of asked) {
      const cost = requestedCost(schema, parse(ADMIN_DOCUMENTS[name] as string), variables);
      expect(cost, name).toBeGreaterThan(1);
      expect(cost, name).toBeLessThanOrEqual(1000);
    }
  });

  it('a document Shopify would refuse is caught, with Shopify-style errors', () => {
    const errors = validationErrors(schema, 'query Broken { orders(first: 1) { nodes { id noSuchField } } }');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      message: expect.stringContaining('noSuchField'),
      locations: [{ line: 1, column: 46 }],
      extensions: { code: 'undefinedField' },
    });
    // orders needs first or last at run time, but a missing required argument is a validation error:
    expect(validationErrors(schema, 'query Q { order { id } }')[0]?.extensions.code).toBe(
      'missingRequiredArguments',
    );
  });
});
