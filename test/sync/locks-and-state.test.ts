import { afterAll, describe, expect, it } from 'vitest';
import { cancelledPayload, orderPayload, refundPayload } from '../../fakes/shopify/webhooks.js';
import { createKeys } from '../../src/store/keys.js';
import { acquireLock, LockBusyError, LockLostError, withLock } from '../../src/sync/locks.js';
import {
  factsFromCancelled,
  factsFromPaid,
  factsFromRefund,
  mergeOrderFacts,
  readOrderState,
} from '../../src/sync/order-state.js';
import { parsePayload } from '../../src/sync/payloads.js';
import { emptyOrderState, mergeFacts, type OrderFacts, worth } from '../../src/sync/points.js';
import { seeded, shuffle } from '../helpers/prng.js';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';

const prefix = uniquePrefix('sync-locks');
const keys = createKeys(prefix);
const redis = testRedis();
const SHOP = 's.myshopify.com';

afterAll(async () => {
  await dropPrefix(redis, prefix);
  await redis.quit();
});

describe('locks', () => {
  it('one holder at a time; a second acquire waits, then gets it after release', async () => {
    const key = keys.customerLock(SHOP, 'a');
    const a = await acquireLock(redis, key, { ttlMs: 5000 });
    await expect(acquireLock(redis, key, { waitMs: 100 })).rejects.toBeInstanceOf(LockBusyError);
    const waiting = acquireLock(redis, key, { waitMs: 3000 });
    await a.release();
    const b = await waiting;
    expect(b.token).not.toBe(a.token);
    await b.release();
  });

  it('release and extend never touch a lock someone else now holds', async () => {
    const key = keys.customerLock(SHOP, 'b');
    const a = await acquireLock(redis, key, { ttlMs: 100, autoExtend: false });
    await new Promise((r) => setTimeout(r, 150)); // expired
    const b = await acquireLock(redis, key, { ttlMs: 5000 });
    expect(await a.extend()).toBe(false);
    await expect(a.ensure()).rejects.toBeInstanceOf(LockLostError);
    expect(await a.release()).toBe(false);
    expect(await redis.get(key)).toBe(b.token);
    await b.release();
    expect(await redis.exists(key)).toBe(0);
  });

  it('is renewed in the background while held', async () => {
    const key = keys.customerLock(SHOP, 'c');
    // Held for more than twice its TTL: only the background renewal keeps it. The TTL leaves room for a
    // busy machine's timer delays (renewal every third of it).
    await withLock(redis, key, { ttlMs: 1_500 }, async (lock) => {
      await new Promise((r) => setTimeout(r, 3_500));
      await lock.ensure();
      expect(await redis.pttl(key)).toBeGreaterThan(0);
    });
    expect(await redis.exists(key)).toBe(0);
  });

  it('the error message names the kind of lock, not the key (which may hold an email hash)', async () => {
    const key = keys.emailLock(SHOP, 'abc');
    const a = await acquireLock(redis, key);
    await expect(acquireLock(redis, key, { waitMs: 0 })).rejects.toThrow(/^another job holds the email lock/);
    await a.release();
  });
});

describe('payloads', () => {
  it('accepts numeric and string ids, nullable fields, and parses money once', () => {
    const r = parsePayload('orders/paid', orderPayload({ id: '123', email: ' A@B.co ', subtotal: '12.30' }));
    expect(r).toMatchObject({ ok: true, data: { id: '123', email: 'a@b.co', currentSubtotalCents: 1230 } });
    const refund = parsePayload('refunds/create', refundPayload('123', '5', '1.05'));
    expect(refund).toMatchObject({ ok: true, data: { id: '5', orderId: '123', subtotalCents: 105 } });
  });

  it('takes ids beyond 2^53 exactly from admin_graphql_api_id, and refuses a rounded number id with no gid', () => {
    // As the web process hands it over: JSON.parse has already rounded the numeric ids.
    const raw = `{"id": 9007199254740993, "admin_graphql_api_id": "gid://shopify/Order/9007199254740993",
      "email": "big@ids.test", "current_subtotal_price": "10.00",
      "customer": {"id": 12345678901234567, "admin_graphql_api_id": "gid://shopify/Customer/12345678901234567"}}`;
    const order = parsePayload('orders/paid', JSON.parse(raw));
    expect(order).toMatchObject({
      ok: true,
      data: { id: '9007199254740993', customer: { id: '12345678901234567' } },
    });
    const customer = parsePayload(
      'customers/update',
      JSON.parse(
        '{"id": 9007199254740993, "admin_graphql_api_id": "gid://shopify/Customer/9007199254740993"}',
      ),
    );
    expect(customer).toMatchObject({ ok: true, data: { id: '9007199254740993' } });
    const refund = parsePayload('refunds/create', JSON.parse('{"id": 5, "order_id": 9007199254740993}'));
    expect(refund.ok).toBe(false);
    if (!refund.ok) expect(refund.error).toMatch(/order_id: id is a JSON number beyond 2\^53/);
    const noGid = parsePayload('customers/create', JSON.parse('{"id": 9007199254740993}'));
    expect(noGid.ok).toBe(false);
  });

  it('prefers the shop-money amount of a refund line and sums the lines', () => {
    const r = parsePayload('refunds/create', {
      id: 1,
      order_id: 2,
      refund_line_items: [
        { subtotal: 9.99, subtotal_set: { shop_money: { amount: '10.00' } } },
        { subtotal: '2.50' },
        { subtotal: null },
      ],
    });
    expect(r).toMatchObject({ ok: true, data: { subtotalCents: 1250 } });
  });

  it('takes the email from customer, then email, then contact_email', () => {
    const base = { id: 1, current_subtotal_price: '1.00' };
    const pick = (p: object) => {
      const r = parsePayload('orders/paid', { ...base, ...p });
      return r.ok && r.topic === 'orders/paid' ? r.data.email : 'refused';
    };
    expect(pick({ customer: { id: 1, email: 'C@x.io' }, email: 'e@x.io' })).toBe('c@x.io');
    expect(pick({ customer: null, email: 'e@x.io', contact_email: 'k@x.io' })).toBe('e@x.io');
    expect(pick({ contact_email: 'k@x.io' })).toBe('k@x.io');
    expect(pick({ email: 'not-an-email' })).toBeUndefined();
  });

  it('refuses bad bodies with the field named', () => {
    expect(parsePayload('orders/paid', null)).toMatchObject({
      ok: false,
      error: expect.stringMatching(/invalid orders\/paid payload/),
    });
    expect(parsePayload('orders/paid', { id: 1, current_subtotal_price: '1.234' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/current_subtotal_price has more than 2 decimal places/),
    });
    expect(parsePayload('refunds/create', { order_id: 1 })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/^invalid refunds\/create payload \(id:/),
    });
    expect(parsePayload('customers/update', { id: -1 })).toMatchObject({ ok: false });
    expect(parsePayload('products/create', {})).toMatchObject({
      ok: false,
      error: 'topic products/create is not handled',
    });
  });
});

describe('order state in Redis', () => {
  it('any permutation and repetition of an order’s events merges to the same state and worth as the pure fold', async () => {
    const rnd = seeded(5);
    for (let trial = 0; trial < 40; trial++) {
      const id = String(10_000 + trial);
      const o = {
        id,
        email: 'p@q.r',
        subtotal: `${1 + Math.floor(rnd() * 300)}.${String(Math.floor(rnd() * 100)).padStart(2, '0')}`,
      };
      const payloads: { topic: string; body: unknown }[] = [{ topic: 'orders/paid', body: orderPayload(o) }];
      for (let r = 0; r < Math.floor(rnd() * 3); r++)
        payloads.push({
          topic: 'refunds/create',
          body: refundPayload(id, String(r + 1), `${Math.floor(rnd() * 50)}.00`),
        });
      if (rnd() < 0.3) payloads.push({ topic: 'orders/cancelled', body: cancelledPayload(o) });
      const facts: OrderFacts[] = payloads.map(({ topic, body }) => {
        const p = parsePayload(topic, body);
        if (!p.ok) throw new Error(p.error);
        if (p.topic === 'orders/paid') return factsFromPaid(p.data, 1500);
        if (p.topic === 'orders/cancelled') return factsFromCancelled(p.data);
        if (p.topic === 'refunds/create') return factsFromRefund(p.data);
        throw new Error('unexpected');
      });
      const expected = worth(facts.reduce(mergeFacts, emptyOrderState()), false);
      const delivered = shuffle(
        facts.flatMap((f) => (rnd() < 0.5 ? [f, f] : [f])),
        rnd,
      );
      await Promise.all(delivered.map((f) => mergeOrderFacts(redis, keys, SHOP, id, f)));
      const state = await readOrderState(redis, keys, SHOP, id);
      expect(worth(state, false)).toBe(expected);
      expect(state.email).toBe('p@q.r');
      expect(state.paid?.rateMilli).toBe(1500);
    }
  });

  it('the first paid event fixes the rate; a later one changes nothing', async () => {
    const o = { id: '777', email: 'x@y.z', subtotal: '10.00' };
    const p = parsePayload('orders/paid', orderPayload(o));
    if (!p.ok || p.topic !== 'orders/paid') throw new Error('bad');
    await mergeOrderFacts(redis, keys, SHOP, '777', factsFromPaid(p.data, 2000));
    await mergeOrderFacts(redis, keys, SHOP, '777', factsFromPaid(p.data, 5000));
    expect(worth(await readOrderState(redis, keys, SHOP, '777'), false)).toBe(20);
  });
});

describe('payloads with fields left out', () => {
  it('a refund line without any subtotal counts 0; a customer with only an id parses', () => {
    expect(
      parsePayload('refunds/create', { id: 1, order_id: 2, refund_line_items: [{ line_item_id: 3 }] }),
    ).toMatchObject({
      ok: true,
      data: { subtotalCents: 0 },
    });
    expect(parsePayload('customers/update', { id: 5 })).toMatchObject({
      ok: true,
      data: { id: '5', email: undefined },
    });
    expect(parsePayload('orders/paid', { id: 1, subtotal_price: '3.00' })).toMatchObject({
      ok: true,
      data: { currentSubtotalCents: 300 },
    });
  });
});
