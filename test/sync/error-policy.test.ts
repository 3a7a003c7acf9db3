import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload } from '../../fakes/shopify/webhooks.js';
import { AuthenticationError } from '../../src/itretail/errors.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { classifyError } from '../../src/sync/jobs/error-policy.js';
import { createHarness, type Harness, SHOP } from '../helpers/sync-harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness('sync-errors');
  await h.start();
});
afterAll(async () => {
  await h.close();
});

describe('error policy', () => {
  it('a 429 asking for a longer pause than the client waits puts the job back without using an attempt', async () => {
    const mail = `slow-${Date.now()}@example.com`;
    const [c] = h.sim.seedCustomers([{ FirstName: 'A', LastName: 'B', Email: mail }]);
    h.sim.setFaults({ throttleRate: 1, retryAfterSeconds: 2, calls: ['GetAllCustomers', 'GetCustomer'] });
    const id = await h.add(
      'orders/paid',
      orderPayload({ id: nextOrderId(), email: mail, subtotal: '4.00' }),
      undefined,
      {
        attempts: 1,
      },
    );
    // With one attempt, anything but a deferral would fail the job; it waits instead.
    const deadline = Date.now() + 10_000;
    while ((await h.queue.getJobState(id)) !== 'delayed' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(await h.queue.getJobState(id)).toBe('delayed');
    h.sim.resetFaults();
    const [end] = await h.waitFor([id]);
    expect(end!.state).toBe('completed');
    expect(h.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(4);
  });

  it('a 429 holds back every job of that shop until Retry-After has passed, without using attempts', async () => {
    const shop = SHOP;
    const mails = Array.from({ length: 6 }, (_, i) => `gate-${i}-${Date.now()}@example.com`);
    h.sim.seedCustomers(mails.map((Email, i) => ({ FirstName: 'G', LastName: String(i), Email })));
    h.sim.setFaults({ throttleRate: 1, retryAfterSeconds: 2, calls: ['GetAllCustomers', 'GetCustomer'] });
    const first = await h.add(
      'orders/paid',
      orderPayload({ id: nextOrderId(), email: mails[0]!, subtotal: '1.00' }),
      undefined,
      {
        attempts: 1,
      },
    );
    const deadline = Date.now() + 10_000;
    while ((await h.queue.getJobState(first)) !== 'delayed' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    expect(await h.redis.pttl(h.keys.itretailThrottle(shop))).toBeGreaterThan(0);
    h.sim.clearCalls();
    const rest = [];
    for (const m of mails.slice(1))
      rest.push(
        await h.add(
          'orders/paid',
          orderPayload({ id: nextOrderId(), email: m, subtotal: '1.00' }),
          undefined,
          { attempts: 1 },
        ),
      );
    // While the gate is up, the new jobs wait without calling IT Retail at all.
    while ((await h.redis.pttl(h.keys.itretailThrottle(shop))) > 300) {
      expect(Object.values(h.sim.callCounts()).reduce((a, b) => a + (b ?? 0), 0)).toBe(0);
      await new Promise((r) => setTimeout(r, 50));
    }
    h.sim.resetFaults();
    const ends = await h.waitFor([first, ...rest]);
    expect(ends.map((e) => e.state)).toEqual(Array(6).fill('completed'));
  });

  it('wrong IT Retail credentials fail the job at once, recorded with a plain reason and no secret', async () => {
    const shop = 'badcreds.myshopify.com';
    await h.settings.update(shop, {
      itretail: { baseUrl: h.sim.url, username: 'demo', password: 'wrong-password-123' },
    });
    await h.queue.add(
      'p',
      {
        kind: 'webhook',
        shop,
        topic: 'orders/paid',
        webhookId: 'bc',
        receivedAt: new Date().toISOString(),
        payload: orderPayload({ id: nextOrderId(), email: 'who@example.com', subtotal: '3.00' }),
      },
      { jobId: 'badcreds-1', attempts: 5, backoff: { type: 'fixed', delay: 10 } },
    );
    const [end] = await h.waitFor(['badcreds-1']);
    expect(end!.state).toBe('failed');
    expect((await h.queue.getJob('badcreds-1'))!.attemptsMade).toBe(1);
    const [ev] = await h.events.latest(shop, 1);
    expect(ev).toMatchObject({
      status: 'failed',
      errorCode: 'ITR_AUTH',
      error: 'IT Retail refused the credentials; check them in Settings',
    } satisfies Partial<SyncEvent>);
    expect(JSON.stringify(ev)).not.toContain('wrong-password-123');
  });

  it('IT Retail down for good: the job fails after its attempts, one failed event, nothing applied', async () => {
    const mail = `down-${Date.now()}@example.com`;
    const [c] = h.sim.seedCustomers([{ FirstName: 'A', LastName: 'B', Email: mail }]);
    h.sim.setFaults({ errorRate: 1 });
    const id = await h.add(
      'orders/paid',
      orderPayload({ id: nextOrderId(), email: mail, subtotal: '4.00' }),
      undefined,
      {
        attempts: 2,
        backoff: { type: 'fixed', delay: 10 },
      },
    );
    const [end] = await h.waitFor([id]);
    h.sim.resetFaults();
    expect(end!.state).toBe('failed');
    const events = (await h.events.latest('test-shop.myshopify.com', 50)).filter((e) => e.jobId === id);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ status: 'failed', errorCode: 'ITR_UNAVAILABLE', attempts: 2 });
    expect(h.sim.getCustomer(c!.Id)!.LoyaltyPoints).toBe(0);
  });

  it('a token refused right after its renewal is retried; refused credentials are not', () => {
    const raced = new AuthenticationError('x', { call: 'GetCustomer', status: 401, retryable: true });
    const refused = new AuthenticationError('y', { call: 'token', status: 400 });
    expect(classifyError(raced).permanent).toBe(false);
    expect(classifyError(refused)).toMatchObject({
      permanent: true,
      message: expect.stringMatching(/Settings/),
    });
  });
});
