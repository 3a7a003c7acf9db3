import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { EmailTakenError, WriteOutcomeUnknownError } from '../../src/itretail/errors.js';
import type { CustomerRecord } from '../../src/itretail/schemas.js';
import { createKeys } from '../../src/store/keys.js';
import { CustomerMatcher, type SyncClient } from '../../src/sync/matching.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

/**
 * A burst of creates that IT Retail refuses (email taken) or leaves unconfirmed: one customer-list download
 * started after the creates were sent serves every one of them, instead of one download per create.
 */

const redis = testRedis();
const prefix = uniquePrefix('sync-create-conflicts');
const keys = createKeys(prefix);
afterAll(async () => {
  await dropPrefix(redis, prefix);
  await redis.quit();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** A register whose creates all conflict, each failing only when the test releases it. */
function conflictingRegister(n: number, error: () => Error) {
  const records = new Map<string, CustomerRecord>();
  let downloads = 0;
  let gate: Promise<void> | undefined;
  const sent: { release: () => void }[] = [];
  const allSent = deferred();
  const client: SyncClient = {
    async getCustomer(id) {
      return records.get(id) ?? null;
    },
    async updateCustomer(r) {
      return r;
    },
    async createCustomer() {
      const failure = deferred();
      sent.push({ release: failure.resolve });
      if (sent.length === n) allSent.resolve();
      await failure.promise;
      throw error();
    },
    async forEachCustomer(onCustomer) {
      downloads++;
      if (gate) await gate;
      for (const r of records.values()) await onCustomer({ ...r, Deleted: r.Deleted === true });
      return records.size;
    },
  };
  return {
    client,
    records,
    sent,
    allSent: allSent.promise,
    downloads: () => downloads,
    setGate(p: Promise<void> | undefined) {
      gate = p;
    },
  };
}

describe('conflicting creates in a burst', () => {
  const errors = {
    'email taken': () => new EmailTakenError('email taken', { call: 'CreateCustomer' }),
    'outcome unknown': () => new WriteOutcomeUnknownError('timed out', { call: 'CreateCustomer' }),
  };
  for (const [what, error] of Object.entries(errors)) {
    it(`${what}: one download started after the creates were sent serves them all`, async () => {
      const shop = `conflicts-${what.replace(' ', '-')}.myshopify.com`;
      const n = 5;
      const reg = conflictingRegister(n, error);
      const matcher = new CustomerMatcher(redis, keys, pino({ level: 'silent' }), {
        refreshWaitMs: 20_000,
      });
      // The index is fresh (so the misses do not refresh it) and does not know the register's customers yet.
      await matcher.ensureIndex(shop, reg.client, Date.now());
      expect(reg.downloads()).toBe(1);
      const emails = Array.from({ length: n }, (_, i) => `taken${i}-${what.replace(' ', '')}@example.com`);
      emails.forEach((email, i) => {
        reg.records.set(`R${i}`, {
          Id: `R${i}`,
          Email: email,
          FirstName: 'A',
          LastName: 'B',
        } as CustomerRecord);
      });

      const gate = deferred();
      reg.setGate(gate.promise);
      const results = Promise.all(emails.map((email) => matcher.findOrCreate(shop, reg.client, { email })));
      await reg.allSent;
      // The first refusal starts a download; the others are answered only after it has started.
      reg.sent[0]!.release();
      while (reg.downloads() < 2) await sleep(2);
      await sleep(5);
      for (const s of reg.sent.slice(1)) s.release();
      gate.resolve();

      const found = await results;
      expect(found.map((m) => m.id)).toEqual(emails.map((_, i) => `R${i}`));
      expect(found.every((m) => !m.created)).toBe(true);
      expect(reg.downloads()).toBe(2);
    });
  }
});
