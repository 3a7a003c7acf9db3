import { AppError } from '../errors.js';
import { EmailTakenError } from '../itretail/errors.js';
import { type CustomerRecord, normalizePhone } from '../itretail/schemas.js';
import { evalScript } from '../store/redis.js';
import { giveBackOverwrite, withCustomer } from './customer-writes.js';
import type { Lock } from './locks.js';
import type { SyncClient } from './matching.js';
import { type CustomerPayload, normalizeEmail } from './payloads.js';
import type { ReconcileDeps } from './reconcile.js';

/**
 * customers/create and customers/update: make sure the Shopify customer has its IT Retail customer (found by
 * email, or created), and on update carry Shopify's non-empty names, phone and email over to it. A field
 * Shopify leaves empty is never blanked in IT Retail; nothing but those four fields is changed. A linked
 * Shopify customer stays with its IT Retail record whatever its email becomes: an email IT Retail already
 * gives another customer is refused there, and that is shown to the merchant, not retried.
 */

/** The Shopify customer's new email belongs to another IT Retail customer: a person must sort it out. */
class EmailOfAnotherCustomerError extends AppError {
  override readonly code = 'EMAIL_OF_ANOTHER_CUSTOMER' as const;
  constructor(email: string, changed: string[]) {
    super(
      `The new email ${email} belongs to another IT Retail customer, so it was not copied${
        changed.length ? ` (${changed.join(', ')} ${changed.length > 1 ? 'were' : 'was'} updated)` : ''
      }. Change or merge one of the two in IT Retail, then Retry.`,
    );
  }
}

export type CustomerOutcome =
  | { status: 'applied'; reason: string; itrCustomerId: string; cardNo?: string; changed: string[] }
  | { status: 'skipped'; reason: string; itrCustomerId?: string; cardNo?: string };

/**
 * Shopify's `updated_at` of the newest customers/* payload applied, per Shopify customer (hash field: the
 * Shopify customer id, value: ms). Webhooks may arrive out of order; an older one is skipped, never applied
 * over a newer one.
 */
const OLDER_THAN_APPLIED = 'older than a change already applied';

/** Raises the remembered `updated_at` (never lowers it). */
const RECORD_UPDATED = `
local cur = tonumber(redis.call('hget', KEYS[1], ARGV[1]) or '')
if not cur or tonumber(ARGV[2]) > cur then redis.call('hset', KEYS[1], ARGV[1], ARGV[2]) end
return 1`;

/** True when a payload newer than this one was already applied for the same Shopify customer. */
async function isOlderThanApplied(d: ReconcileDeps, shop: string, c: CustomerPayload): Promise<boolean> {
  if (c.updatedAtMs === undefined) return false;
  const v = await d.redis.hget(d.keys.customerUpdatedAt(shop), c.id);
  return v !== null && c.updatedAtMs < Number(v);
}

async function rememberApplied(d: ReconcileDeps, shop: string, c: CustomerPayload): Promise<void> {
  if (c.updatedAtMs === undefined) return;
  await evalScript(d.redis, RECORD_UPDATED, 1, d.keys.customerUpdatedAt(shop), c.id, String(c.updatedAtMs));
}

type Fields = Partial<Pick<CustomerRecord, 'FirstName' | 'LastName' | 'Phone' | 'Email'>>;

/** The fields of `rec` that differ from Shopify's non-empty values. */
function customerFieldChanges(rec: CustomerRecord, c: CustomerPayload): Fields {
  const out: Fields = {};
  if (c.firstName && c.firstName !== (rec.FirstName ?? '').trim()) out.FirstName = c.firstName;
  if (c.lastName && c.lastName !== (rec.LastName ?? '').trim()) out.LastName = c.lastName;
  const phone = normalizePhone(c.phone);
  if (phone && phone !== (rec.Phone ?? '').replace(/\D/g, '')) out.Phone = phone;
  if (c.email && c.rawEmail && c.email !== normalizeEmail(rec.Email)) out.Email = c.rawEmail;
  return out;
}

export async function syncCustomer(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  c: CustomerPayload,
  mode: 'create' | 'update',
  jobId?: string,
): Promise<CustomerOutcome> {
  if (!c.email) return { status: 'skipped', reason: 'customer has no email' };
  if (await isOlderThanApplied(d, shop, c)) return { status: 'skipped', reason: OLDER_THAN_APPLIED };
  const target = await resolveTarget(d, shop, client, c, c.email, mode);
  await d.matcher.link(shop, target.id, {
    email: target.linkEmail ? c.email : undefined,
    shopifyCustomerId: c.id,
  });

  // 2. Fields (update only: a create that found an existing register customer leaves its data alone).
  const id = target.id;
  if (mode === 'create') {
    await rememberApplied(d, shop, c);
    if (!target.linkEmail) {
      return { status: 'skipped', reason: 'already linked to its IT Retail customer', itrCustomerId: id };
    }
    const rec = target.created ? undefined : await client.getCustomer(id);
    return {
      status: 'applied',
      reason: target.created ? 'customer created in IT Retail' : 'linked to the existing IT Retail customer',
      itrCustomerId: id,
      cardNo: rec?.CardNo ?? undefined,
      changed: [],
    };
  }
  const run = (lock: Lock) => applyFields(d, shop, client, c, target, lock, jobId);
  return withCustomer(d, shop, client, id, run, { jobId });
}

interface Target {
  id: string;
  created: boolean;
  /** The linked record's email before this update changed it (unlinked once the change is applied). */
  oldEmail?: string;
  /** False when the payload's email is not the linked record's (a late create): that email is not linked. */
  linkEmail: boolean;
}

/**
 * 1. Which IT Retail customer: the one this Shopify customer is linked to (it keeps its points when the
 *    email changes), else the one matched or created by email.
 */
async function resolveTarget(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  c: CustomerPayload,
  email: string,
  mode: 'create' | 'update',
): Promise<Target> {
  const linked = await d.matcher.linkedByCustomer(shop, c.id);
  if (linked) {
    const rec = await d.matcher.getOrConfirmGone(shop, client, linked);
    if (rec && rec.Deleted !== true) {
      // The link decides, whatever the email: an email change is carried to this record below.
      const recEmail = normalizeEmail(rec.Email);
      if (recEmail === email) return { id: linked, created: false, linkEmail: true };
      if (mode === 'update') return { id: linked, created: false, oldEmail: recEmail, linkEmail: true };
      // A create delivered after an update that changed the email: the link stays, nothing is created.
      return { id: linked, created: false, linkEmail: false };
    }
    await d.matcher.unlinkCustomer(shop, linked, { shopifyCustomerId: c.id });
  }
  const m = await d.matcher.findOrCreate(shop, client, {
    email: c.rawEmail ?? email,
    firstName: c.firstName,
    lastName: c.lastName,
    phone: c.phone,
    shopifyCustomerId: c.id,
  });
  return { id: m.id, created: m.created, linkEmail: true };
}

/** An update's fields, under the customer's lock: only what differs, never an email another customer has. */
async function applyFields(
  d: ReconcileDeps,
  shop: string,
  client: SyncClient,
  c: CustomerPayload,
  target: Target,
  lock: Lock,
  jobId: string | undefined,
): Promise<CustomerOutcome> {
  const { id, created, oldEmail } = target;
  // Checked again under the customer's lock: a newer update may have been applied while this one waited.
  if (await isOlderThanApplied(d, shop, c)) {
    return { status: 'skipped', reason: OLDER_THAN_APPLIED, itrCustomerId: id };
  }
  const rec = await client.getCustomer(id);
  if (!rec)
    return { status: 'skipped', reason: 'the IT Retail customer no longer exists', itrCustomerId: id };
  const changes = customerFieldChanges(rec, c);
  const changed = Object.keys(changes);
  if (changed.length === 0) {
    await rememberApplied(d, shop, c);
    return created
      ? {
          status: 'applied',
          reason: 'customer created in IT Retail',
          itrCustomerId: id,
          cardNo: rec.CardNo ?? undefined,
          changed,
        }
      : {
          status: 'skipped',
          reason: 'already up to date',
          itrCustomerId: id,
          cardNo: rec.CardNo ?? undefined,
        };
  }
  await lock.ensure();
  try {
    const sent = { ...rec, ...changes };
    await giveBackOverwrite(d, shop, client, id, lock, sent, await client.updateCustomer(sent), jobId);
  } catch (e) {
    if (e instanceof EmailTakenError && changes.Email) {
      // Another live customer holds the new email: take the other fields, and say so instead of retrying.
      const { Email: _drop, ...rest } = changes;
      if (Object.keys(rest).length) {
        await lock.ensure();
        const sent = { ...rec, ...rest };
        await giveBackOverwrite(d, shop, client, id, lock, sent, await client.updateCustomer(sent), jobId);
      }
      await rememberApplied(d, shop, c);
      throw new EmailOfAnotherCustomerError(changes.Email, Object.keys(rest));
    }
    throw e;
  }
  await rememberApplied(d, shop, c);
  if (oldEmail && changes.Email) await d.matcher.unlinkCustomer(shop, id, { email: oldEmail });
  return {
    status: 'applied',
    reason: `updated ${changed.join(', ')}`,
    itrCustomerId: id,
    cardNo: rec.CardNo ?? undefined,
    changed,
  };
}
