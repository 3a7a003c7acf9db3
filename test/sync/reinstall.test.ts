import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextOrderId, orderPayload } from '../../fakes/shopify/webhooks.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { createHarness, type Harness, JOB_OPTS } from '../helpers/sync-harness.js';

/** Uninstall and reinstall are told apart by when Shopify triggered each webhook, not by arrival order. */

let h: Harness;
let seq = 0;
const ev = (end: { returnvalue: unknown }) => end.returnvalue as SyncEvent;
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  h = await createHarness('sync-reinstall');
  await h.start();
});
afterAll(async () => {
  await h.close();
});

async function deliver(
  shop: string,
  topic: string,
  payload: unknown,
  at: { triggeredAt?: string; receivedAt?: string } = {},
): Promise<SyncEvent> {
  const jobId = `${topic.replace('/', '-')}-${++seq}`;
  await h.queue.add(
    topic,
    {
      kind: 'webhook',
      shop,
      topic,
      webhookId: jobId,
      triggeredAt: at.triggeredAt,
      receivedAt: at.receivedAt ?? new Date().toISOString(),
      payload,
    },
    { ...JOB_OPTS, jobId },
  );
  const [end] = await h.waitFor([jobId]);
  return ev(end!);
}

const paid = (mail: string) => orderPayload({ id: nextOrderId(), email: mail, subtotal: '12.00' });

describe('reinstall after app/uninstalled', () => {
  it('an order triggered after the uninstall marks the shop installed again and earns its points', async () => {
    const shop = 'reinstalled-shop.myshopify.com';
    const t = Date.now();
    const u = await deliver(shop, 'app/uninstalled', {}, { triggeredAt: iso(t - 60_000) });
    expect(u.status).toBe('applied');
    expect((await h.settings.get(shop)).installed).toBe(false);

    // Triggered before the uninstall, delivered after it: skipped.
    const before = await deliver(shop, 'orders/paid', paid(`a${t}@example.com`), {
      triggeredAt: iso(t - 120_000),
    });
    expect(before).toMatchObject({ status: 'skipped', reason: 'app uninstalled' });

    // Triggered after it: the app was installed again, nobody has opened its page yet.
    const mail = `b${t}@example.com`;
    const after = await deliver(shop, 'orders/paid', paid(mail), { triggeredAt: iso(t - 1_000) });
    expect(after).toMatchObject({ status: 'applied', pointsDelta: 12 });
    expect((await h.settings.get(shop)).installed).toBe(true);
    expect(h.sim.findByEmail(mail)).toMatchObject([{ LoyaltyPoints: 12 }]);
  });

  it('without X-Shopify-Triggered-At the received time decides', async () => {
    const shop = 'received-at-shop.myshopify.com';
    const t = Date.now();
    await deliver(shop, 'app/uninstalled', {}, { receivedAt: iso(t - 60_000) });
    expect((await h.settings.get(shop)).installed).toBe(false);
    const mail = `c${t}@example.com`;
    const after = await deliver(shop, 'orders/paid', paid(mail), { receivedAt: iso(t) });
    expect(after).toMatchObject({ status: 'applied', pointsDelta: 12 });
    expect((await h.settings.get(shop)).installed).toBe(true);
  });

  it('an app/uninstalled triggered before the last install is ignored', async () => {
    const shop = 'late-uninstall-shop.myshopify.com';
    await h.settings.markInstalled(shop);
    await h.redis.set(h.keys.session(shop, 'offline'), 'x');
    const late = await deliver(shop, 'app/uninstalled', {}, { triggeredAt: iso(Date.now() - 60_000) });
    expect(late.status).toBe('skipped');
    expect(late.reason).toMatch(/before the app was installed again/);
    expect((await h.settings.get(shop)).installed).toBe(true);
    expect(await h.redis.exists(h.keys.session(shop, 'offline'))).toBe(1);
    const mail = `d${Date.now()}@example.com`;
    expect(await deliver(shop, 'orders/paid', paid(mail))).toMatchObject({ status: 'applied' });
  });
});
