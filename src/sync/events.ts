import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import { evalScript, scanKeys } from '../store/redis.js';
import { pooledRandomBytes } from './entropy.js';
import type { WriteSink } from './staged-writes.js';

/**
 * Sync events: one per finished job, what the admin page shows. Stored per shop as
 *   ev:data   hash  id → JSON
 *   ev:idx    zset  every id (all scores 0; ids sort by time lexically, so paging is ZRANGE BYLEX REV)
 *   ev:st:<status>, ev:tp:<topic>, ev:cust:<shopify customer id>, ev:itr:<IT Retail id>  — the same, filtered
 *   ev:fail   zset  jobId → time of its latest failure; ev:faildata hash jobId → JSON (jobs still failed)
 *   ev:hour:<YYYYMMDDHH> / ev:day:<YYYYMMDD>  hashes of counters (UTC), expiring on their own
 * Retention is bounded by count and age (failures too, by the time of the failure). A shop is trimmed
 * every `trimEvery` of its own records, or at its first record TRIM_INTERVAL_MS after its last trim (or
 * its first record in this process), so a quiet shop's old events go as surely as a busy shop's.
 */
export type SyncStatus = 'applied' | 'skipped' | 'failed';
export const SYNC_STATUSES: readonly SyncStatus[] = ['applied', 'skipped', 'failed'];

export interface SyncEvent {
  id: string;
  at: string;
  shop: string;
  topic: string;
  status: SyncStatus;
  reason?: string;
  error?: string;
  errorCode?: string;
  jobId?: string;
  attempts?: number;
  shopifyCustomerId?: string;
  shopifyOrderId?: string;
  orderName?: string;
  customerName?: string;
  itretailCustomerId?: string;
  cardNo?: string;
  pointsBefore?: number;
  pointsDelta?: number;
  pointsAfter?: number;
  shortfall?: number;
}

export type NewSyncEvent = Omit<SyncEvent, 'id' | 'at'> & { at?: string };

export interface SyncEventStoreOptions {
  /** Events kept per shop (default 10,000). */
  maxEventsPerShop?: number;
  /** Events older than this are dropped (default 30 days). */
  retentionDays?: number;
  /** A shop is trimmed after this many of its records (default 200). */
  trimEvery?: number;
}

const TRIM_EVERY = 200;
const TRIM_INTERVAL_MS = 3_600_000;
/** Drops up to 1,000 failures scored (failed) before ARGV[1] from ev:fail and ev:faildata. */
const DROP_OLD_FAILURES = `
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 1000)
if #ids > 0 then
  redis.call('ZREM', KEYS[1], unpack(ids))
  redis.call('HDEL', KEYS[2], unpack(ids))
end
return #ids
`;
/** Beyond this many shops, the per-shop trim counters start over. */
const MAX_TRACKED_SHOPS = 10_000;
const MAX_SCAN_PER_PAGE = 5_000;
let seq = 0;

function newId(atMs: number): string {
  seq = (seq + 1) % 1_679_616; // 36^4
  return `${String(atMs).padStart(13, '0')}-${seq.toString(36).padStart(4, '0')}${pooledRandomBytes(3).toString('hex')}`;
}

const hourKey = (d: Date) => d.toISOString().slice(0, 13).replace(/[-T]/g, '');
const dayKey = (d: Date) => d.toISOString().slice(0, 10).replace(/-/g, '');

export class SyncEventStore {
  private readonly maxEvents: number;
  private readonly retentionMs: number;
  private readonly trimEvery: number;
  /** Per shop: records since its last trim, and when that was (ms). */
  private readonly trimState = new Map<string, { records: number; at: number }>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    opts: SyncEventStoreOptions = {},
  ) {
    this.maxEvents = opts.maxEventsPerShop ?? 10_000;
    this.retentionMs = (opts.retentionDays ?? 30) * 86_400_000;
    this.trimEvery = Math.max(1, opts.trimEvery ?? TRIM_EVERY);
  }

  /** Whether this record of the shop is the one that trims it. */
  private trimDue(shop: string, now: number): boolean {
    let st = this.trimState.get(shop);
    if (!st) {
      if (this.trimState.size >= MAX_TRACKED_SHOPS) this.trimState.clear();
      st = { records: 0, at: now };
      this.trimState.set(shop, st);
    }
    if (++st.records < this.trimEvery && now - st.at < TRIM_INTERVAL_MS) return false;
    st.records = 0;
    st.at = now;
    return true;
  }

  private k(shop: string, ...parts: string[]) {
    return this.keys.events(shop, ...parts);
  }

  async record(input: NewSyncEvent): Promise<SyncEvent> {
    const staged = this.stage(input);
    const tx = this.redis.multi();
    staged.addTo(tx);
    await tx.exec();
    await staged.done();
    return staged.value;
  }

  /**
   * The event's writes, for the caller to make (e.g. the ledger commit that makes the event true, in its
   * own script: both cost one round trip); `done()` once they ran (trims the shop when due).
   */
  stage(input: NewSyncEvent): {
    value: SyncEvent;
    addTo(tx: WriteSink): void;
    done(): Promise<void>;
  } {
    const at = input.at ? new Date(input.at) : new Date();
    const event: SyncEvent = { ...input, id: newId(at.getTime()), at: at.toISOString() };
    return {
      value: event,
      addTo: (tx) => this.addWrites(tx, event, at),
      done: async () => {
        if (this.trimDue(event.shop, Date.now())) await this.trim(event.shop);
      },
    };
  }

  private addWrites(tx: WriteSink, event: SyncEvent, at: Date): void {
    const { shop, id } = event;
    const json = JSON.stringify(event);
    tx.hset(this.k(shop, 'data'), id, json);
    tx.zadd(this.k(shop, 'idx'), 0, id);
    tx.zadd(this.k(shop, 'st', event.status), 0, id);
    tx.zadd(this.k(shop, 'tp', event.topic), 0, id);
    tx.sadd(this.k(shop, 'topics'), event.topic);
    if (event.shopifyCustomerId) tx.zadd(this.k(shop, 'cust', event.shopifyCustomerId), 0, id);
    if (event.itretailCustomerId) tx.zadd(this.k(shop, 'itr', event.itretailCustomerId), 0, id);
    const hk = this.k(shop, 'hour', hourKey(at));
    tx.hincrby(hk, event.status, 1);
    tx.expire(hk, 49 * 3600);
    // What really moved on the IT Retail balance (a clipped deduction moves less than its delta).
    const moved =
      event.pointsBefore !== undefined && event.pointsAfter !== undefined
        ? event.pointsAfter - event.pointsBefore
        : (event.pointsDelta ?? 0);
    if (event.status === 'applied' && moved !== 0) {
      const dk = this.k(shop, 'day', dayKey(at));
      tx.hincrby(dk, moved > 0 ? 'awarded' : 'deducted', Math.abs(moved));
      tx.expire(dk, 3 * 86_400);
    }
    if (event.jobId) {
      if (event.status === 'failed') {
        tx.zadd(this.k(shop, 'fail'), at.getTime(), event.jobId);
        tx.hset(this.k(shop, 'faildata'), event.jobId, json);
      } else {
        tx.zrem(this.k(shop, 'fail'), event.jobId);
        tx.hdel(this.k(shop, 'faildata'), event.jobId);
      }
    }
  }

  /** Newest first. `cursor` is the id of the last event of the previous page. */
  async list(
    shop: string,
    q: { status?: SyncStatus; topic?: string; cursor?: string; limit?: number } = {},
  ): Promise<{ events: SyncEvent[]; nextCursor?: string }> {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 200);
    const index = q.status
      ? this.k(shop, 'st', q.status)
      : q.topic
        ? this.k(shop, 'tp', q.topic)
        : this.k(shop, 'idx');
    const needTopicFilter = Boolean(q.status && q.topic);
    const events: SyncEvent[] = [];
    let upper = q.cursor ? `(${q.cursor}` : '+';
    let scanned = 0;
    while (events.length < limit && scanned < MAX_SCAN_PER_PAGE) {
      const batch = needTopicFilter ? Math.max(limit * 4, 100) : limit - events.length;
      const ids = await this.redis.zrange(index, upper, '-', 'BYLEX', 'REV', 'LIMIT', 0, batch);
      if (ids.length === 0) break;
      scanned += ids.length;
      for (const e of await this.load(shop, ids)) {
        if (!needTopicFilter || e.topic === q.topic) events.push(e);
        if (events.length === limit) {
          upper = `(${e.id}`;
          break;
        }
      }
      if (events.length < limit) upper = `(${ids[ids.length - 1]}`;
      if (ids.length < batch) {
        upper = '';
        break;
      }
    }
    const last = events[events.length - 1];
    const more = upper !== '' && last !== undefined && (await this.hasOlder(index, last.id));
    return { events, nextCursor: more ? last.id : undefined };
  }

  private async hasOlder(index: string, id: string): Promise<boolean> {
    const ids = await this.redis.zrange(index, `(${id}`, '-', 'BYLEX', 'REV', 'LIMIT', 0, 1);
    return ids.length > 0;
  }

  async latest(shop: string, limit: number): Promise<SyncEvent[]> {
    return (await this.list(shop, { limit })).events;
  }

  async failures(
    shop: string,
    q: { cursor?: string; limit?: number } = {},
  ): Promise<{ failures: SyncEvent[]; nextCursor?: string; total: number }> {
    const limit = Math.min(Math.max(q.limit ?? 50, 1), 200);
    const offset = q.cursor ? Number.parseInt(q.cursor, 10) || 0 : 0;
    const [jobIds, total] = await Promise.all([
      this.redis.zrevrange(this.k(shop, 'fail'), offset, offset + limit - 1),
      this.redis.zcard(this.k(shop, 'fail')),
    ]);
    const raw = jobIds.length ? await this.redis.hmget(this.k(shop, 'faildata'), ...jobIds) : [];
    const failures = raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as SyncEvent);
    const next = offset + jobIds.length;
    return { failures, total, nextCursor: next < total ? String(next) : undefined };
  }

  async clearFailure(shop: string, jobId: string): Promise<void> {
    await this.redis.multi().zrem(this.k(shop, 'fail'), jobId).hdel(this.k(shop, 'faildata'), jobId).exec();
  }

  async hourly(
    shop: string,
    hours = 24,
    now = new Date(),
  ): Promise<{ hour: string; applied: number; skipped: number; failed: number }[]> {
    const slots: Date[] = [];
    for (let i = hours - 1; i >= 0; i--) slots.push(new Date(now.getTime() - i * 3_600_000));
    const tx = this.redis.multi();
    for (const d of slots) tx.hgetall(this.k(shop, 'hour', hourKey(d)));
    const res = (await tx.exec()) ?? [];
    return slots.map((d, i) => {
      const h = (res[i]?.[1] ?? {}) as Record<string, string>;
      return {
        hour: `${d.toISOString().slice(0, 13)}:00:00.000Z`,
        applied: Number(h.applied ?? 0),
        skipped: Number(h.skipped ?? 0),
        failed: Number(h.failed ?? 0),
      };
    });
  }

  async pointsToday(shop: string, now = new Date()): Promise<{ awarded: number; deducted: number }> {
    const h = await this.redis.hgetall(this.k(shop, 'day', dayKey(now)));
    return { awarded: Number(h.awarded ?? 0), deducted: Number(h.deducted ?? 0) };
  }

  async forCustomer(
    shop: string,
    ids: { shopifyCustomerId?: string; itretailCustomerId?: string },
    limit = 100,
  ): Promise<SyncEvent[]> {
    const sets: string[] = [];
    if (ids.shopifyCustomerId) sets.push(this.k(shop, 'cust', ids.shopifyCustomerId));
    if (ids.itretailCustomerId) sets.push(this.k(shop, 'itr', ids.itretailCustomerId));
    const all = new Set<string>();
    for (const s of sets)
      for (const id of await this.redis.zrange(s, '+', '-', 'BYLEX', 'REV', 'LIMIT', 0, limit)) all.add(id);
    const sorted = [...all].sort().reverse().slice(0, limit);
    return this.load(shop, sorted);
  }

  /** Removes the personal data (name, card number) from a customer's events; counts stay. */
  async eraseCustomer(shop: string, shopifyCustomerId: string): Promise<void> {
    const idxKey = this.k(shop, 'cust', shopifyCustomerId);
    const ids = await this.redis.zrange(idxKey, 0, -1);
    const tx = this.redis.multi();
    const itrIds = new Set<string>();
    for (const e of await this.load(shop, ids)) {
      if (e.itretailCustomerId) itrIds.add(e.itretailCustomerId);
      const { customerName: _n, cardNo: _c, ...rest } = e;
      tx.hset(this.k(shop, 'data'), e.id, JSON.stringify({ ...rest, shopifyCustomerId: 'redacted' }));
      const f = e.jobId ? this.k(shop, 'faildata') : undefined;
      if (f && e.jobId) tx.hdel(f, e.jobId).zrem(this.k(shop, 'fail'), e.jobId);
    }
    tx.del(idxKey);
    for (const itr of itrIds) tx.del(this.k(shop, 'itr', itr));
    await tx.exec();
  }

  async eraseShop(shop: string): Promise<void> {
    // The shop's keys share one hash slot, so each batch can go in one UNLINK (on a cluster too).
    await scanKeys(this.redis, `${this.k(shop)}:*`, (found) => this.redis.unlink(...found));
  }

  private async load(shop: string, ids: string[]): Promise<SyncEvent[]> {
    if (ids.length === 0) return [];
    const raw = await this.redis.hmget(this.k(shop, 'data'), ...ids);
    return raw.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as SyncEvent);
  }

  /**
   * Drops events beyond the count limit or older than the retention period, from every index, and
   * failures older than the retention period (their jobs are long gone from the queue). Returns the
   * number of events dropped.
   */
  async trim(shop: string, now = Date.now()): Promise<number> {
    // In Redis, so a job failing again meanwhile (a newer score) keeps its entry and its data.
    const failKeys = [this.k(shop, 'fail'), this.k(shop, 'faildata')];
    let droppedFailures: number;
    do {
      droppedFailures = (await evalScript(
        this.redis,
        DROP_OLD_FAILURES,
        2,
        ...failKeys,
        `(${now - this.retentionMs}`,
      )) as number;
    } while (droppedFailures === 1000);
    const idx = this.k(shop, 'idx');
    const total = await this.redis.zcard(idx);
    const cutoff = `(${String(now - this.retentionMs).padStart(13, '0')}`;
    const old = await this.redis.zrange(idx, '-', cutoff, 'BYLEX');
    const overflow = total - old.length - this.maxEvents;
    const extra = overflow > 0 ? await this.redis.zrange(idx, old.length, old.length + overflow - 1) : [];
    const drop = [...old, ...extra];
    if (drop.length === 0) return 0;
    const events = await this.load(shop, drop);
    const topics = await this.redis.smembers(this.k(shop, 'topics'));
    for (let i = 0; i < drop.length; i += 1000) {
      const chunk = drop.slice(i, i + 1000);
      const tx = this.redis
        .multi()
        .hdel(this.k(shop, 'data'), ...chunk)
        .zrem(idx, ...chunk);
      for (const s of SYNC_STATUSES) tx.zrem(this.k(shop, 'st', s), ...chunk);
      for (const t of topics) tx.zrem(this.k(shop, 'tp', t), ...chunk);
      await tx.exec();
    }
    const tx = this.redis.multi();
    for (const e of events) {
      if (e.shopifyCustomerId) tx.zrem(this.k(shop, 'cust', e.shopifyCustomerId), e.id);
      if (e.itretailCustomerId) tx.zrem(this.k(shop, 'itr', e.itretailCustomerId), e.id);
    }
    await tx.exec();
    return drop.length;
  }
}
