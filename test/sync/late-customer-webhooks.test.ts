import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { customerPayload } from '../../fakes/shopify/webhooks.js';
import type { SyncEvent } from '../../src/sync/events.js';
import { createHarness, type Harness } from '../helpers/sync-harness.js';

/** customers/* webhooks arrive in any order; the newest values win and one IT Retail customer results. */

let h: Harness;
let n = 0;
const tag = `${Date.now()}`;
const email = () => `late${++n}-${tag}@example.com`;
let customerSeq = 4_400_000;
const customerId = () => String(++customerSeq);
const ev = (end: { returnvalue: unknown }) => end.returnvalue as SyncEvent;

beforeAll(async () => {
  h = await createHarness('sync-late-customers');
  await h.start();
});
afterAll(async () => {
  await h.close();
});

const payload = (c: Parameters<typeof customerPayload>[0], updatedAt?: string) => ({
  ...customerPayload(c),
  ...(updatedAt ? { updated_at: updatedAt } : {}),
});

/** Every IT Retail customer carrying one of these emails. */
const holders = (...mails: string[]) => mails.flatMap((m) => h.sim.findByEmail(m));

describe('customers/create and customers/update in either order', () => {
  const T1 = '2026-03-01T10:00:00-05:00';
  const T2 = '2026-03-01T10:05:00-05:00';

  for (const order of ['create first', 'update first'] as const) {
    it(`${order}: one IT Retail customer with the update's email and names`, async () => {
      const id = customerId();
      const oldMail = email();
      const newMail = email();
      const create = {
        topic: 'customers/create',
        payload: payload({ id, email: oldMail, firstName: 'Old', lastName: 'Name' }, T1),
      };
      const update = {
        topic: 'customers/update',
        payload: payload({ id, email: newMail, firstName: 'New', lastName: 'Surname' }, T2),
      };
      const [first, second] = order === 'create first' ? [create, update] : [update, create];
      await h.run([first]);
      const [late] = await h.run([second]);
      const found = holders(oldMail, newMail);
      expect(found).toHaveLength(1);
      expect(found[0]).toMatchObject({ Email: newMail, FirstName: 'New', LastName: 'Surname' });
      expect(await h.redis.hget(h.keys.linkCustomer('test-shop.myshopify.com'), id)).toBe(found[0]!.Id);
      if (order === 'update first') {
        expect(ev(late!)).toMatchObject({ status: 'skipped', reason: 'older than a change already applied' });
      }
    });
  }

  it('a late create without updated_at for a linked customer whose email changed creates nothing', async () => {
    const id = customerId();
    const oldMail = email();
    const newMail = email();
    await h.run([{ topic: 'customers/create', payload: payload({ id, email: oldMail }) }]);
    await h.run([{ topic: 'customers/update', payload: payload({ id, email: newMail, firstName: 'Kept' }) }]);
    const [late] = await h.run([
      { topic: 'customers/create', payload: payload({ id, email: oldMail, firstName: 'Gone' }) },
    ]);
    const found = holders(oldMail, newMail);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ Email: newMail, FirstName: 'Kept' });
    expect(ev(late!)).toMatchObject({ status: 'skipped', itretailCustomerId: found[0]!.Id });
    // The old email is not linked to the record that no longer carries it.
    expect(await h.redis.hget(h.keys.linkEmail('test-shop.myshopify.com'), oldMail)).toBeNull();
  });

  it('an older update delivered after a newer one changes nothing', async () => {
    const id = customerId();
    const mail = email();
    const newer = payload({ id, email: mail, firstName: 'Newest', phone: '2125550199' }, T2);
    const older = payload({ id, email: mail, firstName: 'Stale', phone: '2125550100' }, T1);
    await h.run([{ topic: 'customers/update', payload: newer }]);
    const [late] = await h.run([{ topic: 'customers/update', payload: older }]);
    expect(ev(late!)).toMatchObject({ status: 'skipped', reason: 'older than a change already applied' });
    const found = holders(mail);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ FirstName: 'Newest', Phone: '2125550199' });
  });
});
