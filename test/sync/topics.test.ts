import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cancelledPayload,
  customerPayload,
  nextOrderId,
  orderPayload,
  refundPayload,
} from '../../fakes/shopify/webhooks.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { keysMatching } from '../helpers/redis.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

let h: Harness;
let n = 0;
const email = () => `buyer${++n}-${Date.now()}@example.com`;

beforeAll(async () => {
  h = await createHarness('sync-topics');
  await h.start();
});
afterAll(async () => {
  await h.close();
});

const seed = (mail: string, points = 0) =>
  h.sim.seedCustomers([{ FirstName: 'F', LastName: 'L', Email: mail, LoyaltyPoints: points }])[0]!;
const points = (id: string) => h.sim.getCustomer(id)!.LoyaltyPoints;
const ev = (end: { returnvalue: unknown }) => end.returnvalue as SyncEvent;

describe('order topics follow the points table', () => {
  it('paid 52.38 → +52; refund 10.25 → −10; refund 20.00 → −20; cancelled → −22', async () => {
    const mail = email();
    const c = seed(mail, 500);
    const id = nextOrderId();
    const o = { id, email: mail, subtotal: '52.38' };
    const steps: [string, unknown, number, number][] = [
      ['orders/paid', orderPayload(o), 552, 52],
      ['refunds/create', refundPayload(id, '9001', '10.25'), 542, -10],
      ['refunds/create', refundPayload(id, '9002', '20.00'), 522, -20],
      ['orders/cancelled', cancelledPayload(o), 500, -22],
    ];
    for (const [topic, payload, balance, delta] of steps) {
      const [end] = await h.run([{ topic, payload }]);
      expect(ev(end!)).toMatchObject({
        status: 'applied',
        topic,
        pointsDelta: delta,
        itretailCustomerId: c.Id,
      });
      expect(points(c.Id)).toBe(balance);
    }
  });

  it('refund before paid: skipped "waiting for payment", then paid applies 42', async () => {
    const mail = email();
    const c = seed(mail);
    const id = nextOrderId();
    const [r] = await h.run([{ topic: 'refunds/create', payload: refundPayload(id, '9101', '10.25') }]);
    expect(ev(r!)).toMatchObject({ status: 'skipped', reason: 'waiting for payment', shopifyOrderId: id });
    expect(points(c.Id)).toBe(0);
    const [p] = await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id, email: mail, subtotal: '52.38' }) },
    ]);
    expect(ev(p!)).toMatchObject({ status: 'applied', pointsDelta: 42 });
    expect(points(c.Id)).toBe(42);
  });

  it('cancelled before paid: nothing, ever — and no IT Retail customer is created for it', async () => {
    const mail = email();
    const id = nextOrderId();
    const o = { id, email: mail, subtotal: '52.38' };
    const [c1] = await h.run([{ topic: 'orders/cancelled', payload: cancelledPayload(o) }]);
    const [p1] = await h.run([{ topic: 'orders/paid', payload: orderPayload(o) }]);
    expect(ev(c1!).status).toBe('skipped');
    expect(ev(p1!)).toMatchObject({
      status: 'skipped',
      reason: 'order cancelled before any points were applied',
    });
    expect(h.sim.findByEmail(mail)).toEqual([]);
  });

  it('paid delivered three times (distinct webhook ids): +52 once, then "already applied"', async () => {
    const mail = email();
    const c = seed(mail, 7);
    const o = { id: nextOrderId(), email: mail, subtotal: '52.38' };
    const ends = await h.run([1, 2, 3].map(() => ({ topic: 'orders/paid', payload: orderPayload(o) })));
    expect(points(c.Id)).toBe(59);
    const statuses = ends.map((e) => ev(e).status).sort();
    expect(statuses).toEqual(['applied', 'skipped', 'skipped']);
    expect(ends.map((e) => ev(e).reason).filter(Boolean)).toEqual(['already applied', 'already applied']);
  });

  it('the same job processed twice (retried after completion) changes nothing the second time', async () => {
    const mail = email();
    const c = seed(mail, 0);
    const o = { id: nextOrderId(), email: mail, subtotal: '10.00' };
    const [first] = await h.run([{ topic: 'orders/paid', payload: orderPayload(o) }]);
    const job = await h.queue.getJob(first!.id);
    await job!.retry('completed');
    const [again] = await h.waitFor([first!.id]);
    expect(points(c.Id)).toBe(10);
    // The retried job reports the outcome it achieved the first time.
    expect(ev(again!)).toMatchObject({ status: 'applied', pointsDelta: 10 });
  });

  it('paid "0.99": skipped, no IT Retail call', async () => {
    const mail = email();
    h.sim.clearCalls();
    const [end] = await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '0.99' }) },
    ]);
    expect(ev(end!)).toMatchObject({ status: 'skipped', reason: 'order earns no points' });
    expect(h.sim.callCounts()).toEqual({});
  });

  it('rate is fixed at payment: r=2 paid 19.99 → +39; r changed to 5; refund 9.99 → −19', async () => {
    const mail = email();
    const c = seed(mail);
    const id = nextOrderId();
    await h.settings.update(SHOP, { pointsPerDollar: '2' });
    await h.run([{ topic: 'orders/paid', payload: orderPayload({ id, email: mail, subtotal: '19.99' }) }]);
    expect(points(c.Id)).toBe(39);
    await h.settings.update(SHOP, { pointsPerDollar: '5' });
    const [r] = await h.run([{ topic: 'refunds/create', payload: refundPayload(id, '9301', '9.99') }]);
    expect(ev(r!).pointsDelta).toBe(-19);
    expect(points(c.Id)).toBe(20);
    await h.settings.update(SHOP, { pointsPerDollar: '1' });
  });

  it('a deduction below 0 stops at 0 and records the shortfall', async () => {
    const mail = email();
    const c = seed(mail);
    const id = nextOrderId();
    await h.run([{ topic: 'orders/paid', payload: orderPayload({ id, email: mail, subtotal: '30.00' }) }]);
    h.sim.adjustPoints(c.Id, -25); // spent at the register
    const [end] = await h.run([
      { topic: 'orders/cancelled', payload: cancelledPayload({ id, email: mail, subtotal: '30.00' }) },
    ]);
    expect(ev(end!)).toMatchObject({
      status: 'applied',
      pointsBefore: 5,
      pointsDelta: -5,
      pointsAfter: 0,
      shortfall: 25,
    });
    expect(points(c.Id)).toBe(0);
  });

  it('a paid payload that already lists a refund does not subtract it twice', async () => {
    const mail = email();
    const c = seed(mail);
    const id = nextOrderId();
    const payload = orderPayload({
      id,
      email: mail,
      subtotal: '52.38',
      currentSubtotal: '42.13',
      refunds: [{ id: '9401', subtotal: '10.25' }],
    });
    await h.run([
      { topic: 'orders/paid', payload },
      { topic: 'refunds/create', payload: refundPayload(id, '9401', '10.25') },
    ]);
    expect(points(c.Id)).toBe(42);
  });

  it('test orders earn nothing unless the shop includes them', async () => {
    const mail = email();
    const c = seed(mail);
    const [a] = await h.run([
      {
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '10.00', test: true }),
      },
    ]);
    expect(ev(a!)).toMatchObject({ status: 'skipped', reason: 'test order' });
    await h.settings.update(SHOP, { includeTestOrders: true });
    await h.run([
      {
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: mail, subtotal: '10.00', test: true }),
      },
    ]);
    await h.settings.update(SHOP, { includeTestOrders: false });
    expect(points(c.Id)).toBe(10);
  });

  it('a test order paid while test orders counted keeps its points when the setting is switched off', async () => {
    const mail = email();
    const c = seed(mail, 100);
    const id = nextOrderId();
    const o = { id, email: mail, subtotal: '20.00', test: true };
    await h.settings.update(SHOP, { includeTestOrders: true });
    await h.run([{ topic: 'orders/paid', payload: orderPayload(o) }]);
    expect(points(c.Id)).toBe(120);
    await h.settings.update(SHOP, { includeTestOrders: false });
    // The refund takes back what the refunded part earned, not the whole order.
    const [r] = await h.run([{ topic: 'refunds/create', payload: refundPayload(id, '9701', '5.00') }]);
    expect(ev(r!)).toMatchObject({ status: 'applied', pointsDelta: -5 });
    expect(points(c.Id)).toBe(115);
    // And one paid while they did not count earns nothing when the setting is switched on later.
    const id2 = nextOrderId();
    const o2 = { id: id2, email: mail, subtotal: '30.00', test: true };
    await h.run([{ topic: 'orders/paid', payload: orderPayload(o2) }]);
    await h.settings.update(SHOP, { includeTestOrders: true });
    const [r2] = await h.run([{ topic: 'refunds/create', payload: refundPayload(id2, '9702', '5.00') }]);
    await h.settings.update(SHOP, { includeTestOrders: false });
    expect(ev(r2!)).toMatchObject({ status: 'skipped', reason: 'test order' });
    expect(points(c.Id)).toBe(115);
  });

  it('an order without any email is skipped with a reason', async () => {
    const [end] = await h.run([
      { topic: 'orders/paid', payload: orderPayload({ id: nextOrderId(), email: null, subtotal: '10.00' }) },
    ]);
    expect(ev(end!)).toMatchObject({ status: 'skipped', reason: 'order has no email' });
  });

  it('a new buyer gets an IT Retail customer created with the points', async () => {
    const mail = email();
    await h.run([
      {
        topic: 'orders/paid',
        payload: orderPayload({
          id: nextOrderId(),
          email: mail,
          subtotal: '25.00',
          firstName: 'Grace',
          lastName: 'Hopper',
        }),
      },
    ]);
    const found = h.sim.findByEmail(mail);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ FirstName: 'Grace', LastName: 'Hopper', LoyaltyPoints: 25 });
  });

  it("a refund job that gets to create the buyer's customer first uses the order's names, not the email", async () => {
    const mail = email();
    const id = nextOrderId();
    // The paid job cannot create the customer (IT Retail refuses) and gives up; the refund job comes next.
    h.sim.setFaults({ errorRate: 1, calls: ['CreateCustomer'] });
    const [paid] = await h.run(
      [
        {
          topic: 'orders/paid',
          payload: orderPayload({
            id,
            email: mail,
            subtotal: '30.00',
            firstName: 'Katherine',
            lastName: 'Johnson',
          }),
        },
      ],
      { attempts: 1 },
    );
    h.sim.resetFaults();
    expect(paid!.state).toBe('failed');
    expect(h.sim.findByEmail(mail)).toEqual([]);
    await h.run([{ topic: 'refunds/create', payload: refundPayload(id, '9601', '10.00') }]);
    const found = h.sim.findByEmail(mail);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ FirstName: 'Katherine', LastName: 'Johnson', LoyaltyPoints: 20 });
  });

  it('an invalid payload fails at once (no retries) with a plain reason, recorded as failed', async () => {
    const [end] = await h.run([
      { topic: 'orders/paid', payload: { id: 1, name: '#1042', current_subtotal_price: 'twelve' } },
    ]);
    expect(end!.state).toBe('failed');
    const job = await h.queue.getJob(end!.id);
    expect(job!.attemptsMade).toBe(1);
    const failures = await h.events.failures(SHOP, {});
    const f = failures.failures.find((e) => e.jobId === end!.id);
    expect(f?.error).toMatch(/current_subtotal_price is not a decimal amount/);
    expect(f?.errorCode).toBe('INVALID_PAYLOAD');
    // The merchant can still tell which order it was.
    expect(f).toMatchObject({ orderName: '#1042', shopifyOrderId: '1' });
  });
});

describe('customer topics', () => {
  it('customers/create links an existing IT Retail customer by email without changing it', async () => {
    const mail = email();
    const c = seed(mail, 3);
    const before = h.sim.getCustomer(c.Id);
    const [end] = await h.run([
      {
        topic: 'customers/create',
        payload: customerPayload({
          id: '801',
          email: mail.toUpperCase(),
          firstName: 'Other',
          lastName: 'Name',
        }),
      },
    ]);
    expect(ev(end!)).toMatchObject({
      status: 'applied',
      itretailCustomerId: c.Id,
      reason: 'linked to the existing IT Retail customer',
    });
    expect(h.sim.getCustomer(c.Id)).toEqual(before);
  });

  it('customers/create with a new email creates one customer with a 10-digit phone', async () => {
    const mail = email();
    await h.run([
      {
        topic: 'customers/create',
        payload: customerPayload({
          id: '802',
          email: mail,
          firstName: 'Alan',
          lastName: 'Turing',
          phone: '+16135550101',
        }),
      },
    ]);
    expect(h.sim.findByEmail(mail)).toMatchObject([
      { FirstName: 'Alan', LastName: 'Turing', Phone: '6135550101', LoyaltyPoints: 0 },
    ]);
  });

  it('customers/update carries non-empty names and phone over, never blanks, and keeps everything else', async () => {
    const mail = email();
    const [c] = h.sim.seedCustomers([
      {
        FirstName: 'Old',
        LastName: 'Name',
        Email: mail,
        Phone: '2125550000',
        City: 'Paris',
        LoyaltyPoints: 40,
      },
    ]);
    const before = h.sim.getCustomer(c!.Id)!;
    const [end] = await h.run([
      {
        topic: 'customers/update',
        payload: customerPayload({ id: '803', email: mail, firstName: 'New', lastName: null, phone: null }),
      },
    ]);
    expect(ev(end!)).toMatchObject({ status: 'applied', reason: 'updated FirstName' });
    const after = h.sim.getCustomer(c!.Id)!;
    expect(after).toMatchObject({
      FirstName: 'New',
      LastName: 'Name',
      Phone: '2125550000',
      City: 'Paris',
      LoyaltyPoints: 40,
    });
    const { FirstName: _a, Modified: _b, ...restA } = after;
    const { FirstName: _c, Modified: _d, ...restB } = before;
    expect(restA).toEqual(restB);
    const [again] = await h.run([
      { topic: 'customers/update', payload: customerPayload({ id: '803', email: mail, firstName: 'New' }) },
    ]);
    expect(ev(again!)).toMatchObject({ status: 'skipped', reason: 'already up to date' });
  });

  it('customers/update with a changed email moves the linked customer to the new email', async () => {
    const mail = email();
    const next = email();
    const c = seed(mail, 9);
    await h.run([{ topic: 'customers/create', payload: customerPayload({ id: '804', email: mail }) }]);
    await h.run([{ topic: 'customers/update', payload: customerPayload({ id: '804', email: next }) }]);
    expect(h.sim.getCustomer(c.Id)!.Email).toBe(next);
    expect(h.sim.findByEmail(next)).toHaveLength(1);
    // Orders under the new email now land on the same customer.
    await h.run([
      {
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: next, subtotal: '1.00', customerId: '804' }),
      },
    ]);
    expect(points(c.Id)).toBe(10);
  });

  it('a customer without email is skipped', async () => {
    const [end] = await h.run([
      { topic: 'customers/create', payload: customerPayload({ id: '805', email: null }) },
    ]);
    expect(ev(end!)).toMatchObject({ status: 'skipped', reason: 'customer has no email' });
  });
});

describe('shop and privacy topics', () => {
  it('customers/data_request writes a report of what the app holds', async () => {
    const mail = email();
    seed(mail);
    const id = nextOrderId();
    await h.run([
      {
        topic: 'orders/paid',
        payload: orderPayload({ id, email: mail, subtotal: '5.00', customerId: '901' }),
      },
    ]);
    const [end] = await h.run([
      {
        topic: 'customers/data_request',
        payload: {
          shop_id: 1,
          shop_domain: SHOP,
          customer: { id: 901, email: mail },
          orders_requested: [Number(id)],
          data_request: { id: 77 },
        },
      },
    ]);
    expect(ev(end!)).toMatchObject({ status: 'applied', reason: 'data request report prepared' });
    const report = JSON.parse((await h.redis.get(h.keys.dataRequest(SHOP, '77')))!);
    // Listed for the merchant's page.
    expect(await h.redis.zscore(h.keys.dataRequests(SHOP), '77')).not.toBeNull();
    expect(report.orders).toMatchObject([{ orderId: id, pointsApplied: 5, email: mail }]);
  });

  it('customers/redact erases the email, name and links, keeping the points ledger', async () => {
    const mail = email();
    const c = seed(mail);
    const id = nextOrderId();
    const [paid] = await h.run([
      {
        topic: 'orders/paid',
        payload: orderPayload({ id, email: mail, subtotal: '8.00', customerId: '902' }),
      },
    ]);
    const otherPaid = await h.run([
      {
        topic: 'orders/paid',
        payload: orderPayload({ id: nextOrderId(), email: email(), subtotal: '1.00' }),
      },
    ]);
    // The finished job still holds the buyer's email in its payload (kept for its retention period)…
    expect(JSON.stringify((await h.queue.getJob(paid!.id))!.data)).toContain(mail);
    const [end] = await h.run([
      {
        topic: 'customers/redact',
        payload: {
          shop_id: 1,
          shop_domain: SHOP,
          customer: { id: 902, email: mail },
          orders_to_redact: [Number(id)],
        },
      },
    ]);
    expect(ev(end!).status).toBe('applied');
    // …until customers/redact removes it; another customer's finished job stays.
    expect(await h.queue.getJob(paid!.id)).toBeUndefined();
    expect(await h.queue.getJob(otherPaid[0]!.id)).toBeDefined();
    const order = await h.redis.hgetall(h.keys.order(SHOP, id));
    expect(order.email).toBeUndefined();
    expect(order.name).toBeUndefined();
    expect(order.buyerFirstName).toBeUndefined();
    expect(order.buyerLastName).toBeUndefined();
    expect(order.appliedPoints).toBe('8');
    expect(await h.redis.hget(h.keys.linkEmail(SHOP), mail)).toBeNull();
    const evs = await h.events.forCustomer(SHOP, { shopifyCustomerId: '902' });
    expect(evs.every((e) => e.customerName === undefined)).toBe(true);
    // A refund after the redact still reaches the customer that got the points.
    await h.run([{ topic: 'refunds/create', payload: refundPayload(id, '9501', '3.00') }]);
    expect(points(c.Id)).toBe(5);
  });

  it('app/uninstalled stops syncing (jobs skipped) and removes sessions; paused shops hold jobs back', async () => {
    const other = 'other-shop.myshopify.com';
    await h.redis.set(h.keys.session(other, 'offline'), 'x');
    // The order was triggered before the uninstall (a later one would prove the app installed again).
    const uninstalledAt = Date.now();
    const data = (topic: string, payload: unknown) => ({
      kind: 'webhook' as const,
      shop: other,
      topic,
      webhookId: topic,
      triggeredAt: new Date(uninstalledAt - (topic === 'app/uninstalled' ? 0 : 60_000)).toISOString(),
      receivedAt: new Date().toISOString(),
      payload,
    });
    await h.queue.add('u', data('app/uninstalled', {}), { jobId: 'other-uninstalled' });
    const [u] = await h.waitFor(['other-uninstalled']);
    expect(ev(u!)).toMatchObject({ status: 'applied', shop: other });
    expect(await h.redis.exists(h.keys.session(other, 'offline'))).toBe(0);
    await h.queue.add(
      'p',
      data('orders/paid', orderPayload({ id: nextOrderId(), email: email(), subtotal: '1.00' })),
      { jobId: 'other-paid' },
    );
    const [p] = await h.waitFor(['other-paid']);
    expect(ev(p!)).toMatchObject({ status: 'skipped', reason: 'app uninstalled' });

    await h.settings.markInstalled(other);
    await h.settings.update(other, { paused: true });
    await h.queue.add(
      'p2',
      data('orders/paid', orderPayload({ id: nextOrderId(), email: email(), subtotal: '1.00' })),
      { jobId: 'other-paused' },
    );
    const deadline = Date.now() + 10_000;
    let state = '';
    while (Date.now() < deadline && state !== 'delayed') {
      state = await (await h.queue.getJob('other-paused'))!.getState();
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(state).toBe('delayed');
    expect(await h.events.latest(other, 10)).toHaveLength(2);
  });

  it('shop/redact erases every key of the shop', async () => {
    const gone = 'gone-shop.myshopify.com';
    await h.redis.set(h.keys.order(gone, '1'), 'x');
    await h.settings.update(gone, { pointsPerDollar: '3' });
    await h.events.record({
      shop: gone,
      topic: 'orders/paid',
      status: 'skipped',
      reason: 'before the erase',
    });
    await h.queue.add(
      'r',
      {
        kind: 'webhook',
        shop: gone,
        topic: 'shop/redact',
        webhookId: 'r',
        receivedAt: new Date().toISOString(),
        payload: { shop_id: 1, shop_domain: gone },
      },
      { jobId: 'gone-redact' },
    );
    const [end] = await h.waitFor(['gone-redact']);
    expect(ev(end!)).toMatchObject({ status: 'applied', reason: 'shop data erased' });
    const left = await keysMatching(h.redis, `${h.keys.shop(gone)}:*`);
    // Only the record of the erase itself remains (no personal data), and the mark that the shop is erased.
    expect(left.every((k) => k.includes(':ev:') || k === h.keys.settings(gone))).toBe(true);
    expect((await h.events.latest(gone, 10)).map((e) => e.topic)).toEqual(['shop/redact']);
    expect(Object.keys(await h.redis.hgetall(h.keys.settings(gone))).sort()).toEqual([
      'erasedAt',
      'installed',
      'uninstalledAt',
      'uninstalledAtMs',
    ]);
    const settings = await h.settings.get(gone);
    expect(settings).toMatchObject({ installed: false, paused: false });
    expect(settings.erasedAt).toBeDefined();

    // A job queued before the erasure (Shopify triggered it earlier) ends without writing anything.
    const keysBefore = (await keysMatching(h.redis, `${h.keys.shop(gone)}:*`)).sort();
    await h.queue.add(
      'late',
      {
        kind: 'webhook',
        shop: gone,
        topic: 'orders/paid',
        webhookId: 'late',
        triggeredAt: new Date(Date.now() - 60_000).toISOString(),
        receivedAt: new Date(Date.now() - 60_000).toISOString(),
        payload: orderPayload({ id: nextOrderId(), email: 'late@example.com', subtotal: '9.00' }),
      },
      { jobId: 'gone-late' },
    );
    const [late] = await h.waitFor(['gone-late']);
    expect(late!.state).toBe('completed');
    expect(late!.returnvalue ?? undefined).toBeUndefined();
    expect((await keysMatching(h.redis, `${h.keys.shop(gone)}:*`)).sort()).toEqual(keysBefore);
  });
});
