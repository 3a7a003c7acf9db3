import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { ITRetailClient } from '../itretail/client.js';
import {
  EmailTakenError,
  InvalidInputError,
  MalformedResponseError,
  UnavailableError,
  WriteOutcomeUnknownError,
} from '../itretail/errors.js';
import { type CustomerRecord, normalizePhone } from '../itretail/schemas.js';
import type { Keys } from '../store/keys.js';
import { evalScript } from '../store/redis.js';
import { EmailIndex, type IndexMeta, MatchError } from './email-index.js';
import { type LockOptions, withLock } from './locks.js';
import { normalizeEmail } from './payloads.js';

/**
 * Matching Shopify customers to IT Retail customers by email: the links first, then the email index of IT
 * Retail's customers (email-index.ts), refreshed on a miss, else a new IT Retail customer.
 *
 * Links remember what was matched: link:email (email → Id), link:customer (Shopify customer id → Id).
 * findOrCreate runs under a per-email lock and checks again after taking it, so two jobs for one new email
 * (customers/create and orders/paid at the same moment) create one IT Retail customer, not two.
 */

/** The part of the IT Retail client the sync engine uses. */
export type SyncClient = Pick<
  ITRetailClient,
  'getCustomer' | 'updateCustomer' | 'createCustomer' | 'forEachCustomer'
>;

class AbsenceUnconfirmedError extends AppError {
  override readonly code = 'ABSENCE_UNCONFIRMED' as const;
  constructor(readonly itrId: string) {
    super(
      'IT Retail answered that the customer does not exist, but its customer list does not confirm it (a wrong token or address answers the same); trying again',
      { retryable: true },
    );
  }
}

export interface MatcherOptions {
  /** A miss refreshes the index unless it was (re)started less than this ago (default 60 000 ms). */
  missRefreshAfterMs?: number;
  /** Lock settings of the per-email lock (default ttl 60 s, wait 20 s). */
  emailLock?: LockOptions;
  /** TTL of the per-shop index-refresh lock (default 60 000 ms; renewed while the refresh runs). */
  indexLockTtlMs?: number;
  /** How long a caller waits for another worker's index refresh (default 120 000 ms). */
  refreshWaitMs?: number;
  /** Entries written to Redis per round trip while building the index (default 500). */
  batchSize?: number;
  /** Sees every record of each index refresh (the loyalty metafield compares balances with it). */
  onRefresh?(shop: string): Promise<{ record(c: CustomerRecord): Promise<void>; done(): Promise<void> }>;
}

export interface MatchInput {
  email: string;
  firstName?: string;
  lastName?: string;
  phone?: string;
  shopifyCustomerId?: string;
}

type MatchVia = 'link' | 'index' | 'refresh' | 'created' | 'email-taken' | 'write-unknown';

export interface MatchResult {
  id: string;
  record: CustomerRecord;
  via: MatchVia;
  created: boolean;
}

function emailHash(email: string): string {
  return createHash('sha256').update(email).digest('hex').slice(0, 32);
}

/** A record the bridge may link an email to: it exists, is not deleted, and carries that email. */
export function isLiveWithEmail(record: CustomerRecord | null, email: string): record is CustomerRecord {
  return !!record && record.Deleted !== true && normalizeEmail(record.Email) === email;
}

export class CustomerMatcher {
  private readonly missRefreshAfterMs: number;
  private readonly emailLock: LockOptions;
  private readonly index: EmailIndex;

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly logger?: Logger,
    opts: MatcherOptions = {},
  ) {
    this.missRefreshAfterMs = opts.missRefreshAfterMs ?? 60_000;
    this.emailLock = { ttlMs: 60_000, waitMs: 20_000, ...opts.emailLock };
    this.index = new EmailIndex(redis, keys, logger, opts);
  }

  // ----- links ---------------------------------------------------------------------------------------------

  async linkedByEmail(shop: string, email: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.linkEmail(shop), email)) ?? undefined;
  }

  async linkedByCustomer(shop: string, shopifyCustomerId: string): Promise<string | undefined> {
    return (await this.redis.hget(this.keys.linkCustomer(shop), shopifyCustomerId)) ?? undefined;
  }

  async link(
    shop: string,
    itrId: string,
    ids: { email?: string; shopifyCustomerId?: string },
  ): Promise<void> {
    const tx = this.redis.multi();
    if (ids.email) tx.hset(this.keys.linkEmail(shop), ids.email, itrId);
    if (ids.shopifyCustomerId) tx.hset(this.keys.linkCustomer(shop), ids.shopifyCustomerId, itrId);
    await tx.exec();
  }

  /** Drops every link that points at an IT Retail customer that is gone (hard-deleted) or deleted. */
  async unlinkCustomer(
    shop: string,
    itrId: string,
    hints: { email?: string; shopifyCustomerId?: string } = {},
  ) {
    const script = `if redis.call('hget', KEYS[1], ARGV[1]) == ARGV[2] then redis.call('hdel', KEYS[1], ARGV[1]) end`;
    if (hints.email) await evalScript(this.redis, script, 1, this.keys.linkEmail(shop), hints.email, itrId);
    if (hints.shopifyCustomerId) {
      await evalScript(this.redis, script, 1, this.keys.linkCustomer(shop), hints.shopifyCustomerId, itrId);
    }
    // The index may still name it until the next refresh; lookups verify with GetOne anyway.
  }

  /**
   * Whether a customer that GetOne answered `null` for is really gone: IT Retail answers `null` the same way
   * for a wrong token or base URL (another tenant's service knows none of our customers). Confirmed only
   * when a fresh customer list (GetAllCustomers lists deleted records too) does not contain it, yet does
   * contain other customers this shop is linked to, and GetOne still answers for one of those. Without such
   * a known customer nothing can be confirmed. A confirmation is remembered for 10 minutes.
   */
  async confirmAbsent(shop: string, client: SyncClient, itrId: string): Promise<boolean> {
    const key = this.keys.gone(shop, itrId.toLowerCase());
    if ((await this.redis.get(key)) === '1') return true;
    const wanted = itrId.toLowerCase();
    const known = await this.knownCustomerIds(shop, wanted);
    if (known.size === 0) return false;
    let found = false;
    const listedKnown: string[] = [];
    await client.forEachCustomer((c) => {
      const id = c.Id.toLowerCase();
      if (id === wanted) found = true;
      else if (known.has(id) && listedKnown.length < 3) listedKnown.push(c.Id);
    });
    if (found || listedKnown.length === 0) return false;
    if (!(await client.getCustomer(listedKnown[0]!))) return false;
    await this.redis.set(key, '1', 'EX', 600);
    this.logger?.warn({ shop, itretailCustomerId: itrId }, 'IT Retail customer confirmed gone');
    return true;
  }

  /** Up to 20 IT Retail ids this shop is linked to (or indexed), other than `except` (lower case). */
  private async knownCustomerIds(shop: string, except: string): Promise<Set<string>> {
    const out = new Set<string>();
    const [byCustomer, byEmail] = await Promise.all([
      this.redis.hrandfield(this.keys.linkCustomer(shop), 10, 'WITHVALUES'),
      this.redis.hrandfield(this.keys.linkEmail(shop), 10, 'WITHVALUES'),
    ]);
    for (const list of [byCustomer, byEmail] as string[][]) {
      for (let i = 1; i < list.length; i += 2) {
        const id = list[i]!.toLowerCase();
        if (id !== except) out.add(id);
      }
    }
    if (out.size === 0) {
      const idx = (await this.redis.hrandfield(this.keys.emailIndex(shop), 10, 'WITHVALUES')) as string[];
      for (let i = 1; i < idx.length; i += 2) {
        const id = idx[i]!.slice(0, idx[i]!.indexOf('|')).toLowerCase();
        if (id !== except) out.add(id);
      }
    }
    return out;
  }

  // ----- index ---------------------------------------------------------------------------------------------

  indexLookup(shop: string, email: string): Promise<{ id: string; cardNo: string } | undefined> {
    return this.index.lookup(shop, email);
  }

  duplicates(shop: string, email: string): Promise<{ id: string; cardNo: string }[]> {
    return this.index.duplicates(shop, email);
  }

  /** See EmailIndex.ensure. */
  ensureIndex(shop: string, client: SyncClient, notBefore: number): Promise<IndexMeta> {
    return this.index.ensure(shop, client, notBefore);
  }

  // ----- find or create ------------------------------------------------------------------------------------

  /**
   * The IT Retail customer for this email: the linked one, else the index's, else (after a refresh) a new
   * one. Runs under the per-email lock. Errors: MatchError, or the client's retryable errors.
   */
  async findOrCreate(shop: string, client: SyncClient, input: MatchInput): Promise<MatchResult> {
    const email = normalizeEmail(input.email);
    if (!email) throw new MatchError('the email address is not usable', false);
    return withLock(this.redis, this.keys.emailLock(shop, emailHash(email)), this.emailLock, async () => {
      const found = await this.findExisting(shop, client, email, input.shopifyCustomerId);
      if (found) return found;
      return this.create(shop, client, email, input);
    });
  }

  /**
   * The Shopify customer's own link (whatever email it has now), else email link → index → refreshed index;
   * each candidate verified with GetOne. Call under the email lock.
   */
  private async findExisting(
    shop: string,
    client: SyncClient,
    email: string,
    shopifyCustomerId?: string,
  ): Promise<MatchResult | undefined> {
    const own = shopifyCustomerId ? await this.linkedByCustomer(shop, shopifyCustomerId) : undefined;
    if (own) {
      const rec = await this.getOrConfirmGone(shop, client, own);
      if (rec && rec.Deleted !== true) return { id: rec.Id, record: rec, via: 'link', created: false };
      await this.unlinkCustomer(shop, own, { shopifyCustomerId });
    }
    const linked = await this.linkedByEmail(shop, email);
    if (linked) {
      const rec = await this.getOrConfirmGone(shop, client, linked);
      if (isLiveWithEmail(rec, email)) {
        if (shopifyCustomerId) await this.link(shop, rec.Id, { shopifyCustomerId });
        return { id: rec.Id, record: rec, via: 'link', created: false };
      }
      await this.unlinkCustomer(shop, linked, { email });
    }
    const fromIndex = await this.verifiedIndexHit(shop, client, email);
    if (fromIndex) {
      await this.link(shop, fromIndex.Id, { email, shopifyCustomerId });
      return { id: fromIndex.Id, record: fromIndex, via: 'index', created: false };
    }
    await this.index.ensure(shop, client, Date.now() - this.missRefreshAfterMs);
    const refreshed = await this.verifiedIndexHit(shop, client, email);
    if (refreshed) {
      await this.link(shop, refreshed.Id, { email, shopifyCustomerId });
      return { id: refreshed.Id, record: refreshed, via: 'refresh', created: false };
    }
    return undefined;
  }

  /**
   * GetOne of a linked customer: `null` only once the customer list confirms it is gone; an unconfirmed
   * `null` throws a retryable MatchError (see confirmAbsent).
   */
  async getOrConfirmGone(shop: string, client: SyncClient, id: string): Promise<CustomerRecord | null> {
    const rec = await client.getCustomer(id);
    if (rec) return rec;
    if (await this.confirmAbsent(shop, client, id)) return null;
    throw new AbsenceUnconfirmedError(id);
  }

  private async verifiedIndexHit(
    shop: string,
    client: SyncClient,
    email: string,
  ): Promise<CustomerRecord | null> {
    const hit = await this.index.lookup(shop, email);
    if (!hit) return null;
    const rec = await client.getCustomer(hit.id);
    if (isLiveWithEmail(rec, email)) return rec;
    // The index is stale for this email (deleted since, or the email changed at the register).
    await this.redis.hdel(this.keys.emailIndex(shop), email);
    return null;
  }

  private async create(
    shop: string,
    client: SyncClient,
    email: string,
    input: MatchInput,
  ): Promise<MatchResult> {
    const rawEmail = input.email.trim();
    const firstName = input.firstName?.trim() || rawEmail.split('@')[0] || 'Online';
    // IT Retail requires a last name; a Shopify customer may have none.
    const lastName = input.lastName?.trim() || '(online)';
    const phone = normalizePhone(input.phone);
    // When the (last) create was sent: a customer it conflicts with existed, or was made, no earlier.
    let sentAt = Date.now();
    try {
      let rec: CustomerRecord;
      try {
        rec = await client.createCustomer({
          FirstName: firstName,
          LastName: lastName,
          Email: rawEmail,
          Phone: phone,
        });
      } catch (e) {
        // The register's own phone rules may be stricter than ours: a refused phone is left out.
        if (e instanceof InvalidInputError && phone && /phone/i.test(e.serviceMessage ?? e.message)) {
          sentAt = Date.now();
          rec = await client.createCustomer({ FirstName: firstName, LastName: lastName, Email: rawEmail });
        } else throw e;
      }
      await this.link(shop, rec.Id, { email, shopifyCustomerId: input.shopifyCustomerId });
      this.logger?.info({ shop, itretailCustomerId: rec.Id }, 'IT Retail customer created');
      return { id: rec.Id, record: rec, via: 'created', created: true };
    } catch (e) {
      const takenOrUnknown =
        e instanceof EmailTakenError ||
        e instanceof WriteOutcomeUnknownError ||
        e instanceof MalformedResponseError;
      if (!takenOrUnknown) throw e;
      // Someone has this email after all (the register, or our own create whose answer was lost): find it.
      // Any download started after the create was sent will do, so every job of a burst of conflicting
      // creates is served by one refresh instead of each starting its own.
      await this.index.ensure(shop, client, sentAt);
      const rec = await this.verifiedIndexHit(shop, client, email);
      if (rec) {
        await this.link(shop, rec.Id, { email, shopifyCustomerId: input.shopifyCustomerId });
        return {
          id: rec.Id,
          record: rec,
          via: e instanceof EmailTakenError ? 'email-taken' : 'write-unknown',
          created: false,
        };
      }
      if (e instanceof EmailTakenError) {
        throw new MatchError(
          'IT Retail says the email is taken, but no live customer with it was found yet',
          true,
        );
      }
      throw e instanceof MalformedResponseError
        ? new UnavailableError('IT Retail answered a customer create unreadably; will check again', {
            call: 'CreateCustomer',
          })
        : e;
    }
  }
}
