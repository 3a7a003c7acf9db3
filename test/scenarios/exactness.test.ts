import { Worker } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { customerPayload, nextOrderId, orderPayload } from '../../fakes/shopify/webhooks.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { Ledger } from '../../src/sync/ledger.js';
import { readOrderState } from '../../src/sync/order-state.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

/**
 * Exactness against the IT Retail the seed describes (GetOne lists no operation history; a Put's answer
 * only its own operation): lost writes decided from evidence or left to a person, identity by Shopify
 * customer, a register change overwritten in the GetOne→Put window given back, a Put answer that disagrees.
 */

let h: Harness;
let ledger: Ledger;
let n = 0;
const mail = () => `exact${++n}-${Date.now()}@example.com`;
const ev = (end: { returnvalue: unknown }) => end.returnvalue as SyncEvent;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  h = await createHarness('sync-exact');
  await h.start();
  ledger = new Ledger(h.redis, h.keys);
});
afterAll(async () => {
  await h.close();
});
beforeEach(() => {
  h.sim.releaseCalls();
  h.sim.resetFaults();
});

async function waitUntil(pred: () => boolean | Promise<boolean>, what: string, ms = 15_000) {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A customer already linked to its Shopify customer by a first, clean order. */
async function linkedCustomer(points: number) {
  const email = mail();
  const shopifyId = String(90_000 + n);
  const [c] = h.sim.seedCustomers([
    { FirstName: 'Ed', LastName: 'Exact', Email: email, LoyaltyPoints: points },
  ]);
  await h.run([
    {
      topic: 'orders/paid',
      payload: orderPayload({ id: nextOrderId(), email, subtotal: '1.00', customerId: shopifyId }),
    },
  ]);
  expect(h.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(points + 1);
  return { email, shopifyId, id: c!.Id, points: points + 1 };
}

const paid = (c: { email: string; shopifyId: string }, subtotal: string, email = c.email) => ({
  topic: 'orders/paid',
  payload: orderPayload({ id: nextOrderId(), email, subtotal, customerId: c.shopifyId }),
});

async function retryAll(jobIds: string[]) {
  for (const id of jobIds) {
    const job = await h.queue.getJob(id);
    if (job && (await job.getState()) === 'failed') {
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
    }
  }
}

describe('a lost write under an empty operation history', () => {
  it('applied, answer lost, register unchanged: found landed from Modified and points, counted once', async () => {
    const c = await linkedCustomer(10);
    h.sim.setFaults({ writeAppliedThenDropRate: 1, calls: ['UpdateCustomer'] });
    const [end] = await h.run([paid(c, '30.00')]);
    expect(ev(end!)).toMatchObject({ status: 'applied', pointsDelta: 30 });
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(c.points + 30);
    expect(await ledger.uncertainCount(SHOP)).toBe(0);
  });

  it('applied, answer lost, then the register writes: uncertain; nothing written until a person says it landed', async () => {
    const c = await linkedCustomer(100);
    // The Put is applied and its answer held until the client gives up; the register adds 20 meanwhile.
    h.sim.holdCalls(['UpdateCustomer'], { applyWritesFirst: true });
    const first = paid(c, '40.00');
    const firstId = await h.add(first.topic, first.payload);
    await waitUntil(() => h.sim.heldCalls.some((x) => x.applied), 'the Put to be applied and held');
    h.sim.adjustPoints(c.id, 20);
    const [end] = await h.waitFor([firstId]);
    h.sim.releaseCalls();
    expect(end!.state).toBe('failed');
    expect(end!.failedReason).toMatch(/may or may not have applied/);
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(c.points + 40 + 20);

    const [u] = await ledger.listUncertain(SHOP);
    expect(u).toMatchObject({
      itrCustomerId: c.id,
      observed: { points: c.points + 60 },
      intent: { before: c.points, after: c.points + 40, kind: 'order' },
    });
    expect(u!.why).toMatch(/neither/);

    // Another order of the same customer waits: the customer is not written until the decision.
    const second = paid(c, '5.00');
    const [held] = await h.run([second]);
    expect(held!.state).toBe('failed');
    expect(held!.failedReason).toMatch(/earlier write to this IT Retail customer is uncertain/);
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(c.points + 60);

    const rerun = await ledger.decide(SHOP, c.id, u!.intent.id, 'landed');
    expect(rerun?.sort()).toEqual([firstId, held!.id].sort());
    // The decision acts once.
    expect(await ledger.decide(SHOP, c.id, u!.intent.id, 'apply')).toBeUndefined();
    await retryAll(rerun!);
    const ends = await h.waitFor(rerun!);
    expect(ends.map((e) => e.state)).toEqual(['completed', 'completed']);
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(c.points + 40 + 20 + 5);
    expect(await ledger.uncertainCount(SHOP)).toBe(0);
  });

  it('not applied, the client gave up, then the register writes: uncertain; "Apply it" applies it once', async () => {
    const c = await linkedCustomer(50);
    h.sim.holdCalls(['UpdateCustomer']);
    const order = paid(c, '12.00');
    const jobId = await h.add(order.topic, order.payload);
    await waitUntil(() => h.sim.heldCalls.length > 0, 'the Put to be held');
    h.sim.adjustPoints(c.id, -7);
    const [end] = await h.waitFor([jobId]);
    // Its client went away: the held Put is dropped without being applied.
    h.sim.releaseCalls();
    expect(end!.state).toBe('failed');
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(c.points - 7);
    const [u] = await ledger.listUncertain(SHOP);
    expect(u!.intent.after).toBe(c.points + 12);
    const rerun = await ledger.decide(SHOP, c.id, u!.intent.id, 'apply');
    expect(rerun).toEqual([jobId]);
    await retryAll(rerun!);
    const [again] = await h.waitFor(rerun!);
    expect(ev(again!)).toMatchObject({ status: 'applied', pointsDelta: 12 });
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(c.points - 7 + 12);
  });

  it('a Put answered 200 with other points than were sent is uncertain, not counted', async () => {
    const c = await linkedCustomer(0);
    h.sim.skewNextPutAnswer(3);
    const order = paid(c, '9.00');
    const [end] = await h.run([order]);
    expect(end!.state).toBe('failed');
    const u = await ledger.getUncertain(SHOP, c.id);
    expect(u?.why).toMatch(/answered the write with 13 points, not the 10 written/);
    const state = await readOrderState(
      h.redis,
      h.keys,
      SHOP,
      (order.payload as { id: number }).id.toString(),
    );
    expect(state.appliedPoints).toBe(0);
    await retryAll((await ledger.decide(SHOP, c.id, u!.intent.id, 'landed'))!);
    await h.waitFor([end!.id]);
    expect(
      (await readOrderState(h.redis, h.keys, SHOP, String((order.payload as { id: number }).id)))
        .appliedPoints,
    ).toBe(9);
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(10);
  });
});

describe('a register change inside the GetOne→Put window', () => {
  it('is given back by a follow-up write, once, recorded as its own event', async () => {
    const c = await linkedCustomer(200);
    // Held before it is applied: the register adds 20 while our Put is on its way, and our Put (based on
    // the value read before) overwrites it. Its answer's operation says by how much.
    h.sim.holdCalls(['UpdateCustomer']);
    const order = paid(c, '25.00');
    const jobId = await h.add(order.topic, order.payload);
    await waitUntil(() => h.sim.heldCalls.length > 0, 'the Put to be held');
    h.sim.adjustPoints(c.id, 20);
    h.sim.releaseCalls();
    const [end] = await h.waitFor([jobId]);
    expect(ev(end!)).toMatchObject({ status: 'applied', pointsDelta: 25 });
    await waitUntil(async () => h.sim.getCustomer(c.id)!.LoyaltyPoints === c.points + 25 + 20, 'the restore');
    const restored = (await h.events.latest(SHOP, 20)).filter(
      (e) => e.topic === 'itretail/register-restore' && e.itretailCustomerId === c.id,
    );
    expect(restored).toHaveLength(1);
    expect(restored[0]).toMatchObject({ reason: 'register change of +20 restored', pointsDelta: 20 });
    // The simulator's own audit agrees: one Put wrote over exactly that change.
    expect(h.sim.calls.filter((x) => x.customerId === c.id && x.overwrote).map((x) => x.overwrote)).toEqual([
      20,
    ]);
    // Nothing is due any more: a later order moves the balance by its own points only.
    await h.run([paid(c, '3.00')]);
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(c.points + 25 + 20 + 3);
    expect(await h.redis.hlen(h.keys.restoreDue(SHOP, c.id))).toBe(0);
  });
  it('a register change of exactly our change is given back too (the Put makes no operation)', async () => {
    const c = await linkedCustomer(200);
    h.sim.holdCalls(['UpdateCustomer']);
    const order = paid(c, '25.00');
    const jobId = await h.add(order.topic, order.payload);
    await waitUntil(() => h.sim.heldCalls.length > 0, 'the Put to be held');
    // The register adds the same 25: our Put then writes the points the record already holds.
    h.sim.adjustPoints(c.id, 25);
    h.sim.releaseCalls();
    const [end] = await h.waitFor([jobId]);
    expect(ev(end!)).toMatchObject({ status: 'applied', pointsDelta: 25 });
    expect(h.sim.calls.filter((x) => x.customerId === c.id && x.overwrote).map((x) => x.overwrote)).toEqual([
      25,
    ]);
    await waitUntil(
      async () => h.sim.getCustomer(c.id)!.LoyaltyPoints === c.points + 25 + 25,
      'the restore',
      5_000,
    );
    expect(await h.redis.hlen(h.keys.restoreDue(SHOP, c.id))).toBe(0);
  });

  it("a change the give-back's own Put writes over is given back too, with no later job for that customer", async () => {
    const c = await linkedCustomer(300);
    // The order's Put overwrites +20 (held before it is applied, as above)…
    h.sim.holdCalls(['UpdateCustomer']);
    const order = paid(c, '25.00');
    const jobId = await h.add(order.topic, order.payload);
    await waitUntil(() => h.sim.heldCalls.length > 0, "the order's Put to be held");
    h.sim.adjustPoints(c.id, 20);
    h.sim.releaseCalls();
    // …and the Put giving those 20 back overwrites another register change, +7.
    h.sim.holdCalls(['UpdateCustomer']);
    await waitUntil(() => h.sim.heldCalls.length > 0, 'the give-back Put to be held');
    h.sim.adjustPoints(c.id, 7);
    h.sim.releaseCalls();
    const [end] = await h.waitFor([jobId]);
    expect(ev(end!)).toMatchObject({ status: 'applied', pointsDelta: 25 });
    expect(h.sim.calls.filter((x) => x.customerId === c.id && x.overwrote).map((x) => x.overwrote)).toEqual([
      20, 7,
    ]);
    await waitUntil(
      async () => (await h.redis.hlen(h.keys.restoreDue(SHOP, c.id))) === 0,
      'nothing left due',
      5_000,
    );
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(c.points + 25 + 20 + 7);
    const restored = (await h.events.latest(SHOP, 20)).filter(
      (e) => e.topic === 'itretail/register-restore' && e.itretailCustomerId === c.id,
    );
    expect(restored.map((e) => e.pointsDelta).sort()).toEqual([20, 7].sort());
  });
});

describe('identity is the Shopify customer', () => {
  it('an email change whose new-email order runs first keeps one IT Retail record with all points and the new email', async () => {
    const c = await linkedCustomer(30);
    const newEmail = mail();
    // The order with the new email is processed before customers/update (still in backoff, say).
    const [o] = await h.run([paid(c, '20.00', newEmail)]);
    expect(ev(o!)).toMatchObject({ status: 'applied', itretailCustomerId: c.id, pointsDelta: 20 });
    expect(h.sim.findByEmail(newEmail)).toEqual([]);
    const [u] = await h.run([
      {
        topic: 'customers/update',
        payload: customerPayload({ id: c.shopifyId, email: newEmail, firstName: 'Ed', lastName: 'Exact' }),
      },
    ]);
    expect(ev(u!).status).toBe('applied');
    const records = h.sim.findByEmail(newEmail);
    expect(records.map((r) => r.Id)).toEqual([c.id]);
    expect(records[0]!.LoyaltyPoints).toBe(c.points + 20);
    expect(h.sim.findByEmail(c.email)).toEqual([]);
  });

  it('an email that another IT Retail customer holds is refused cleanly and shown, not retried', async () => {
    const c = await linkedCustomer(0);
    const taken = mail();
    h.sim.seedCustomers([{ FirstName: 'Other', LastName: 'Person', Email: taken, LoyaltyPoints: 5 }]);
    const [u] = await h.run([
      {
        topic: 'customers/update',
        payload: customerPayload({ id: c.shopifyId, email: taken, firstName: 'Eddie', lastName: 'Exact' }),
      },
    ]);
    expect(u!.state).toBe('failed');
    expect(u!.failedReason).toMatch(/belongs to another IT Retail customer/);
    const job = await h.queue.getJob(u!.id);
    expect(job!.attemptsMade).toBe(1);
    expect(h.sim.getCustomer(c.id)).toMatchObject({ FirstName: 'Eddie', Email: c.email });
    // Its orders still go to its own record.
    await h.run([paid(c, '4.00', taken)]);
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(c.points + 4);
    expect(h.sim.findByEmail(taken)).toHaveLength(1);
  });
});

describe('GetOne null is not proof of deletion', () => {
  it('a bound order whose customer answers null while the list still has it retries, then lands; nothing re-credited', async () => {
    const c = await linkedCustomer(40);
    const order = paid(c, '10.00');
    await h.run([order]);
    const orderId = String((order.payload as { id: number }).id);
    expect((await readOrderState(h.redis, h.keys, SHOP, orderId)).appliedPoints).toBe(10);
    // A moment where GetOne answers null for this customer (a wrong tenant, say) though it exists.
    h.sim.hideFromGetOne(c.id, 3);
    const [end] = await h.run([
      {
        topic: 'orders/cancelled',
        payload: { ...(order.payload as object), cancelled_at: '2026-04-01T10:00:00Z' },
      },
    ]);
    expect(ev(end!)).toMatchObject({ status: 'applied', pointsDelta: -10, itretailCustomerId: c.id });
    expect(h.sim.getCustomer(c.id)!.LoyaltyPoints).toBe(c.points);
    expect((await readOrderState(h.redis, h.keys, SHOP, orderId)).itrCustomerId).toBe(c.id);
    expect(await h.redis.hget(h.keys.linkCustomer(SHOP), c.shopifyId)).toBe(c.id);
    expect(h.sim.findByEmail(c.email)).toHaveLength(1);
  });
});

describe('jobs BullMQ fails as stalled', () => {
  it('are recorded as failures that can be retried', async () => {
    await h.running!.close();
    h.running = undefined;
    const order = paid({ email: mail(), shopifyId: '99999' }, '2.00');
    const jobId = await h.add(order.topic, order.payload);
    // Taken by a consumer that then "dies": no lock renewals, never finishes.
    const shard = h.queue.forShop(SHOP);
    const dead = new Worker(shard.name, null, {
      connection: h.redis.duplicate(),
      prefix: shard.opts.prefix,
      lockDuration: 300,
      autorun: false,
    });
    try {
      const taken = await dead.getNextJob('dead-token');
      expect(taken?.id).toBe(jobId);
    } finally {
      await dead.close();
    }
    await h.start({ workerOptions: { stalledInterval: 200, maxStalledCount: 0, lockDuration: 3000 } });
    await waitUntil(
      async () => (await h.events.failures(SHOP, { limit: 50 })).failures.some((f) => f.jobId === jobId),
      'the stalled failure to be recorded',
    );
    const f = (await h.events.failures(SHOP, { limit: 50 })).failures.find((x) => x.jobId === jobId)!;
    expect(f).toMatchObject({ status: 'failed', errorCode: 'STALLED', topic: 'orders/paid' });
    await retryAll([jobId]);
    const [end] = await h.waitFor([jobId]);
    expect(end!.state).toBe('completed');
  });
});
