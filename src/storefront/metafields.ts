import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { PermanentJobError } from '../errors.js';
import type { CustomerRecord } from '../itretail/schemas.js';
import type { AdminJobData } from '../queue/jobs.js';
import type { SyncQueues } from '../queue/shards.js';
import type { GraphqlRequest } from '../shopify/graphql.js';
import { LoyaltyAdmin, METAFIELDS_PER_CALL } from '../shopify/loyalty-documents.js';
import type { Keys } from '../store/keys.js';
import type { NewSyncEvent } from '../sync/events.js';
import { ledgerKeys } from '../sync/ledger.js';
import { withLock } from '../sync/locks.js';

/**
 * The customer metafield `$app.loyalty_points` follows the IT Retail balance, in batches per shop:
 *
 *  - every counted points write (orders, refunds, redemptions, register changes given back) marks its Shopify
 *    customer due with the new balance inside the ledger's commit script (`metafield:dirty`, customer →
 *    points; no extra round trip), and then asks for the shop's sync job (`onBalanceChanged`);
 *  - the scheduled customer-list refresh compares every linked customer's LoyaltyPoints with the value last
 *    written to Shopify (`metafield:written`, customer → "points|ms") and marks the differences due — the
 *    register's own changes;
 *  - the shop's `metafield-sync` job drains the due entries, 25 per metafieldsSet call (Shopify's limit),
 *    skips those Shopify already holds, waits out THROTTLED answers, records userErrors (an event naming the
 *    customers, and `metafield:errors`) and drops an entry only if no newer balance replaced it meanwhile.
 *
 * The job is asked for with a short delay and a BullMQ deduplication window of the same length, and each
 * worker asks at most once per window and shop: a burst of 100 orders a second costs a few jobs, each
 * sending 25 metafields per call.
 */

/** Delay of the sync job after the first change of a window; also the window of one job. */
const METAFIELD_SYNC_DELAY_MS = 250;

/** Compare-and-delete of drained entries. KEYS: dirty. ARGV: customer, points, customer, points, … */
const DROP_SENT = `
local n = 0
for i = 1, #ARGV, 2 do
  if redis.call('hget', KEYS[1], ARGV[i]) == ARGV[i + 1] then
    redis.call('hdel', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n`;

/**
 * Marks register changes found by the list refresh, unless a write since its start already set the
 * metafield (then that write knew better) or a write marked it due (HSETNX). KEYS: dirty, written.
 * ARGV: refresh start (ms), customer, points, customer, points, …
 */
const MARK_FROM_LIST = `
local n = 0
local since = tonumber(ARGV[1])
for i = 2, #ARGV, 2 do
  local w = redis.call('hget', KEYS[2], ARGV[i])
  local fresh = false
  if w then
    local sep = string.find(w, '|', 1, true)
    if sep and tonumber(string.sub(w, sep + 1)) >= since then fresh = true end
  end
  if not fresh then n = n + redis.call('hsetnx', KEYS[1], ARGV[i], ARGV[i + 1]) end
end
return n`;

export interface MetafieldWritten {
  points: number;
  writtenAt: string;
}

function parseWritten(v: string | null | undefined): MetafieldWritten | undefined {
  if (!v) return undefined;
  const [p, at] = v.split('|');
  const points = Number(p);
  const ms = Number(at);
  if (!Number.isFinite(points) || !Number.isFinite(ms)) return undefined;
  return { points, writtenAt: new Date(ms).toISOString() };
}

export const metafieldKeys = (keys: Keys, shop: string) => {
  const k = ledgerKeys(keys, shop);
  return {
    dirty: k.metafieldDirty,
    owner: k.metafieldOwner,
    written: keys.metafieldWritten(shop),
    errors: keys.metafieldErrors(shop),
    stats: keys.metafieldStats(shop),
    linkCustomer: k.linkCustomer,
  };
};

export interface MetafieldSyncDeps {
  redis: Redis;
  keys: Keys;
  logger?: Logger;
  /** The shop's Admin API (throws when the shop has no token). */
  graphqlFor(shop: string): Promise<GraphqlRequest>;
  /** Where the shop's sync job goes. */
  queue?: Pick<SyncQueues, 'forShop'>;
  delayMs?: number;
  /** Waiting in THROTTLED answers (tests pass a fast one). */
  sleep?: (ms: number) => Promise<void>;
}

export interface DrainResult {
  /** metafieldsSet calls answered. */
  calls: number;
  /** Metafields sent (the differences). */
  sent: number;
  /** Due entries Shopify already held (nothing sent). */
  unchanged: number;
  /** Metafields Shopify refused (userErrors), by customer. */
  refused: { customerId: string; message: string }[];
  throttled: number;
}

export class MetafieldSync {
  private readonly askedAt = new Map<string, number>();
  /** Shops with an ask due when this process's window closes (see changed). */
  private readonly trailing = new Set<string>();
  private readonly delayMs: number;

  constructor(private readonly d: MetafieldSyncDeps) {
    this.delayMs = d.delayMs ?? METAFIELD_SYNC_DELAY_MS;
  }

  /**
   * Asks for the shop's sync job. Within the window of this process's last ask it makes no Redis call then,
   * but asks once more when the window closes: that last ask may have been folded into a job asked for
   * earlier (by another process, or by a drain that found marks left), which can start before a mark made
   * now. Every mark is thus followed by an ask made after it, so some job starts after it. Never throws: a
   * lost ask is made good by the next change or the scheduled refresh, as the marks stay.
   */
  changed = (shop: string): void => {
    const now = Date.now();
    const last = this.askedAt.get(shop);
    if (last !== undefined && now - last < this.delayMs) {
      if (!this.trailing.has(shop)) {
        this.trailing.add(shop);
        const t = setTimeout(
          () => {
            this.trailing.delete(shop);
            this.changed(shop);
          },
          last + this.delayMs - now,
        );
        t.unref();
      }
      return;
    }
    this.askedAt.set(shop, now);
    if (this.askedAt.size > 10_000) this.askedAt.clear();
    void this.askIfAccess(shop).catch((err: unknown) => {
      this.askedAt.delete(shop);
      this.d.logger?.warn({ shop, err }, 'asking for the metafield sync failed');
    });
  };

  private readonly access = new Map<string, { ok: boolean; at: number }>();

  /**
   * Queues the job only for a shop with Admin API access (a token; checked at most once a minute per
   * shop): a shop that never opened the app keeps its marks until it has one, and the next change or
   * refresh sends them.
   */
  private async askIfAccess(shop: string): Promise<void> {
    const known = this.access.get(shop);
    let ok = known && Date.now() - known.at < 60_000 ? known.ok : undefined;
    if (ok === undefined) {
      ok = await this.d.graphqlFor(shop).then(
        () => true,
        () => false,
      );
      if (this.access.size > 10_000) this.access.clear();
      this.access.set(shop, { ok, at: Date.now() });
    }
    if (ok) await this.ask(shop);
  }

  /** Queues the shop's sync job (deduplicated within its window). */
  async ask(shop: string, delayMs = this.delayMs): Promise<void> {
    const queue = this.d.queue;
    if (!queue) return;
    const data: AdminJobData = { kind: 'metafield-sync', shop, requestedAt: new Date().toISOString() };
    await queue.forShop(shop).add('metafield-sync', data, {
      delay: delayMs,
      deduplication: { id: `metafield-sync|${shop}`, ttl: Math.max(1, delayMs) },
      attempts: 12,
      backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
      removeOnComplete: { age: 3600, count: 1000 },
      removeOnFail: { age: 14 * 24 * 3600 },
    });
  }

  /**
   * Sends every due metafield of the shop that differs from what Shopify holds, 25 per call. One drain per
   * shop at a time (a lock), so two jobs never send the same entry.
   */
  async drain(shop: string, opts: { maxCalls?: number } = {}): Promise<DrainResult> {
    const lockKey = this.d.keys.metafieldSyncLock(shop);
    return withLock(this.d.redis, lockKey, { ttlMs: 60_000, waitMs: 60_000 }, () =>
      this.drainLocked(shop, opts),
    );
  }

  private async drainLocked(shop: string, opts: { maxCalls?: number }): Promise<DrainResult> {
    const { redis } = this.d;
    const k = metafieldKeys(this.d.keys, shop);
    const admin = new LoyaltyAdmin(await this.d.graphqlFor(shop), { sleep: this.d.sleep });
    const out: DrainResult = { calls: 0, sent: 0, unchanged: 0, refused: [], throttled: 0 };
    const maxCalls = opts.maxCalls ?? 1_000;
    let cursor = '0';
    const refusedNow = new Set<string>();
    do {
      const [next, pairs] = await redis.hscan(k.dirty, cursor, 'COUNT', 200);
      cursor = next;
      const due: { customerId: string; points: number; raw: string }[] = [];
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        if (refusedNow.has(pairs[i]!)) continue;
        due.push({ customerId: pairs[i]!, points: Number(pairs[i + 1]), raw: pairs[i + 1]! });
      }
      for (let i = 0; i < due.length; i += METAFIELDS_PER_CALL * 4) {
        const slice = due.slice(i, i + METAFIELDS_PER_CALL * 4);
        const written = await redis.hmget(k.written, ...slice.map((e) => e.customerId));
        const send: typeof slice = [];
        const same: typeof slice = [];
        slice.forEach((e, j) => {
          if (!Number.isFinite(e.points)) same.push(e);
          else if (parseWritten(written[j])?.points === e.points) same.push(e);
          else send.push(e);
        });
        if (same.length) await this.dropSent(k.dirty, same);
        out.unchanged += same.length;
        for (let j = 0; j < send.length; j += METAFIELDS_PER_CALL) {
          let batch = send.slice(j, j + METAFIELDS_PER_CALL);
          // metafieldsSet is all or nothing: refused entries are taken out and the rest sent again.
          while (batch.length) {
            if (out.calls >= maxCalls) return out;
            const before = admin.throttledAnswers;
            const errors = await admin.setLoyaltyPoints(batch);
            out.calls++;
            out.throttled += admin.throttledAnswers - before;
            const bad = new Map<number, string>();
            for (const e of errors) {
              const idx = e.elementIndex ?? (e.field && Number(e.field[1]));
              const at = typeof idx === 'number' && Number.isInteger(idx) ? idx : -1;
              if (at >= 0 && at < batch.length) bad.set(at, e.message);
              else for (let b = 0; b < batch.length; b++) bad.set(b, e.message);
            }
            const now = Date.now();
            const tx = redis.multi();
            tx.hincrby(k.stats, 'calls', 1);
            if (errors.length === 0) {
              for (const e of batch) {
                tx.hset(k.written, e.customerId, `${e.points}|${now}`);
                tx.hdel(k.errors, e.customerId);
              }
              tx.hincrby(k.stats, 'sent', batch.length);
            }
            for (const [b, message] of bad) {
              const e = batch[b]!;
              tx.hset(k.errors, e.customerId, JSON.stringify({ message, points: e.points, at: now }));
            }
            await tx.exec();
            if (errors.length === 0) {
              await this.dropSent(k.dirty, batch);
              out.sent += batch.length;
              break;
            }
            // Refused ones are dropped (a later balance change tries again): nothing loops on them.
            const refused = batch.filter((_, b) => bad.has(b));
            await this.dropSent(k.dirty, refused);
            for (const [b, message] of bad) {
              out.refused.push({ customerId: batch[b]!.customerId, message });
              refusedNow.add(batch[b]!.customerId);
            }
            batch = batch.filter((_, b) => !bad.has(b));
          }
        }
      }
    } while (cursor !== '0');
    // Marks made while this ran (after the scan passed their place) go in the next window's job.
    if ((await redis.hlen(k.dirty)) > refusedNow.size) await this.ask(shop);
    return out;
  }

  private async dropSent(dirty: string, entries: { customerId: string; raw: string }[]) {
    await this.d.redis.eval(DROP_SENT, 1, dirty, ...entries.flatMap((e) => [e.customerId, e.raw]));
  }

  /**
   * For the scheduled customer-list refresh (CustomerMatcher's onRefresh): collects each linked customer's
   * LoyaltyPoints as the list streams by and marks those that differ from the metafield as written.
   */
  refreshObserver = async (shop: string) => {
    const { redis } = this.d;
    const k = metafieldKeys(this.d.keys, shop);
    const startedAt = Date.now();
    // IT Retail id (lower case) → Shopify customers linked to it; read whole, as the list is walked whole.
    const owners = new Map<string, string[]>();
    let cursor = '0';
    do {
      const [next, pairs] = await redis.hscan(k.linkCustomer, cursor, 'COUNT', 1000);
      cursor = next;
      for (let i = 0; i + 1 < pairs.length; i += 2) {
        const itr = pairs[i + 1]!.toLowerCase();
        owners.set(itr, [...(owners.get(itr) ?? []), pairs[i]!]);
      }
    } while (cursor !== '0');
    let batch: string[] = [];
    let marked = 0;
    const flush = async () => {
      if (!batch.length) return;
      const args = batch;
      batch = [];
      const customers = args.filter((_, i) => i % 2 === 0);
      const written = await redis.hmget(k.written, ...customers);
      const diff: string[] = [];
      customers.forEach((c, i) => {
        if (parseWritten(written[i])?.points !== Number(args[2 * i + 1])) diff.push(c, args[2 * i + 1]!);
      });
      if (diff.length) {
        marked += (await redis.eval(
          MARK_FROM_LIST,
          2,
          k.dirty,
          k.written,
          String(startedAt),
          ...diff,
        )) as number;
      }
    };
    return {
      record: async (c: CustomerRecord) => {
        if (c.Deleted) return;
        const linked = owners.get(c.Id.toLowerCase());
        if (!linked) return;
        const points = typeof c.LoyaltyPoints === 'number' ? Math.trunc(c.LoyaltyPoints) : 0;
        for (const customer of linked) batch.push(customer, String(Math.max(0, points)));
        if (batch.length >= 1000) await flush();
      },
      done: async () => {
        await flush();
        if (marked > 0 || (await redis.hlen(k.dirty)) > 0) await this.askIfAccess(shop);
        this.d.logger?.info({ shop, marked }, 'register balances compared with the loyalty metafield');
      },
    };
  };

  /** The sync job: drains; refused metafields fail it, named (under Failures). */
  async runJob(
    shop: string,
  ): Promise<Omit<NewSyncEvent, 'shop' | 'topic' | 'status'> & { status: 'applied'; quiet?: boolean }> {
    let r: DrainResult;
    try {
      r = await this.drain(shop);
    } catch (err) {
      // No token (yet): the marks wait for one, quietly, as the catch-up does.
      if ((err as { code?: string }).code === 'SHOPIFY_TOKEN') {
        return { status: 'applied', reason: (err as Error).message, quiet: true };
      }
      throw err;
    }
    if (r.refused.length) {
      throw new PermanentJobError(
        `Shopify refused the loyalty points metafield of ${r.refused.length} customer(s): ${r.refused
          .slice(0, 3)
          .map((x) => `customer ${x.customerId}: ${x.message}`)
          .join('; ')}`,
        'METAFIELD_REFUSED',
      );
    }
    return {
      status: 'applied',
      reason: `loyalty points metafield set for ${r.sent} customer(s) in ${r.calls} call(s)`,
      quiet: true,
    };
  }
}

/** What the page shows of one customer's metafield: the value and time last written to Shopify. */
export async function metafieldWritten(
  redis: Redis,
  keys: Keys,
  shop: string,
  shopifyCustomerId: string,
): Promise<MetafieldWritten | undefined> {
  return parseWritten(await redis.hget(metafieldKeys(keys, shop).written, shopifyCustomerId));
}
