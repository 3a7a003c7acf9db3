import { type Job, type JobsOptions, type JobType, Queue } from 'bullmq';
import calculateSlot from 'cluster-key-slot';
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.js';
import { SYNC_JOB_OPTIONS, type SyncJobData } from './jobs.js';
import { SYNC_QUEUE } from './names.js';

/**
 * The sync queue, split into a fixed number of shards. A shop's jobs always go to the same shard (a stable
 * hash of its domain), so a job id still collapses repeats; workers take jobs from every shard.
 *
 * - Spread: each shard's BullMQ prefix carries its own hash tag, chosen so that shard i lands in the i-th
 *   of N equal slot ranges. On a Redis Cluster whose masters own equal slot ranges (what
 *   `redis-cli --cluster create` makes) the shards, and the queue work, spread evenly over the masters.
 * - Fairness: one shop's backlog fills only its own shard; a worker process serves its shards in turn (see
 *   workers/shard-gate.ts), so a shop in another shard is not held back by it. Within a shard, a shop that
 *   sends a burst gets its surplus jobs queued with a lower priority (see BurstMeter), so a quiet shop of the
 *   same shard goes first.
 */
export interface SyncQueues {
  readonly shards: readonly Queue<SyncJobData>[];
  /** The shard that holds `shop`'s jobs. */
  forShop(shop: string): Queue<SyncJobData>;
  /** The shard number of `shop` (0 … shards − 1). */
  shardOf(shop: string): number;
  /** BullMQ priority for the next job of `shop` (undefined: none, FIFO with every quiet shop). */
  priorityFor(shop: string): number | undefined;
  /** Adds to the shard of `data.shop`. */
  add: Queue<SyncJobData>['add'];
  /** Adds each job to the shard of its shop. */
  addBulk(jobs: { name: string; data: SyncJobData; opts?: JobsOptions }[]): Promise<Job<SyncJobData>[]>;
  /** Looks in every shard (when the shop is known, ask `forShop(shop)` instead: one round trip). */
  getJob: Queue<SyncJobData>['getJob'];
  getJobState(id: string): Promise<string>;
  remove(id: string): Promise<number>;
  /** Summed over the shards. */
  getJobCounts(...types: JobType[]): Promise<Record<string, number>>;
  count(): Promise<number>;
  getWaitingCount(): Promise<number>;
  getCompletedCount(): Promise<number>;
  /** Every shard's jobs of these states, shard after shard (`start`/`end` apply per shard). */
  getJobs(types?: JobType[], start?: number, end?: number): Promise<Job<SyncJobData>[]>;
  obliterate(opts?: { force?: boolean }): Promise<void>;
  on(event: 'error', fn: (err: Error) => void): void;
  close(): Promise<void>;
}

const SLOTS = 16384;

/** Hash tag of shard `i` of `n`: the first `sync-i`, `sync-i.1`, … whose slot is in the i-th of n ranges. */
function shardTag(i: number, n: number): string {
  const lo = Math.floor((i * SLOTS) / n);
  const hi = Math.floor(((i + 1) * SLOTS) / n);
  for (let j = 0; ; j++) {
    const tag = j === 0 ? `sync-${i}` : `sync-${i}.${j}`;
    const slot = calculateSlot(tag);
    if (slot >= lo && slot < hi) return tag;
  }
}

/** BullMQ prefix of shard `i` of `n`: keys are `<prefix>:bull:{sync-i…}:sync:…`, one hash slot per shard. */
export function shardPrefix(keys: Keys, i: number, n: number): string {
  return `${keys.bullPrefix}:{${shardTag(i, n)}}`;
}

/** Stable shard of a shop: FNV-1a of its domain, modulo the number of shards. */
export function shardOfShop(shop: string, n: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < shop.length; i++) {
    h ^= shop.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % n;
}

/**
 * Per-shop webhook rate seen by this process (two one-second windows, no Redis). A shop above
 * `perSecond` gets BullMQ priority 1 + log2(rate ÷ perSecond), so its surplus waits behind the jobs of
 * shops within the rate (priority-less jobs are taken first; BullMQ keeps each priority in arrival order).
 */
class BurstMeter {
  private window = 0;
  private current = new Map<string, number>();
  private previous = new Map<string, number>();
  constructor(private readonly perSecond = 50) {}

  priorityFor(shop: string, now = Date.now()): number | undefined {
    const w = Math.floor(now / 1000);
    if (w !== this.window) {
      this.previous = w === this.window + 1 ? this.current : new Map();
      this.current = new Map();
      this.window = w;
    }
    const n = (this.current.get(shop) ?? 0) + 1;
    this.current.set(shop, n);
    // Sliding estimate over the last second: this window plus the unexpired part of the previous one.
    const rate = n + (this.previous.get(shop) ?? 0) * (1 - (now % 1000) / 1000);
    if (rate <= this.perSecond) return undefined;
    return 1 + Math.min(20, Math.floor(Math.log2(rate / this.perSecond)));
  }
}

export function createSyncQueues(
  connection: Redis,
  keys: Keys,
  shards: number,
  opts: { burstPerSecond?: number } = {},
): SyncQueues {
  if (!Number.isInteger(shards) || shards < 1) throw new RangeError('shards must be a positive integer');
  const queues = Array.from(
    { length: shards },
    (_, i) =>
      new Queue<SyncJobData>(SYNC_QUEUE, {
        connection,
        prefix: shardPrefix(keys, i, shards),
        defaultJobOptions: { ...SYNC_JOB_OPTIONS },
      }),
  );
  const meter = new BurstMeter(opts.burstPerSecond);
  const shardOf = (shop: string) => shardOfShop(shop, shards);
  const forShop = (shop: string) => queues[shardOf(shop)]!;
  const sum = async (f: (q: Queue<SyncJobData>) => Promise<number>) =>
    (await Promise.all(queues.map(f))).reduce((a, b) => a + b, 0);
  const find = async (id: string) =>
    (await Promise.all(queues.map((q) => q.getJob(id)))).find((j) => j !== undefined);
  return {
    shards: queues,
    forShop,
    shardOf,
    priorityFor: (shop) => meter.priorityFor(shop),
    add: ((name: string, data: SyncJobData, o?: JobsOptions) =>
      forShop(data.shop).add(name, data, o)) as Queue<SyncJobData>['add'],
    async addBulk(jobs) {
      const byShard = new Map<number, typeof jobs>();
      for (const j of jobs) {
        const i = shardOf(j.data.shop);
        byShard.set(i, [...(byShard.get(i) ?? []), j]);
      }
      const added = await Promise.all([...byShard].map(([i, list]) => queues[i]!.addBulk(list)));
      return added.flat();
    },
    getJob: find as Queue<SyncJobData>['getJob'],
    async getJobState(id) {
      const states = await Promise.all(queues.map((q) => q.getJobState(id)));
      return states.find((s) => s !== 'unknown') ?? 'unknown';
    },
    remove: (id) => sum((q) => q.remove(id)),
    async getJobCounts(...types) {
      const out: Record<string, number> = {};
      for (const c of await Promise.all(queues.map((q) => q.getJobCounts(...types))))
        for (const [k, v] of Object.entries(c)) out[k] = (out[k] ?? 0) + v;
      return out;
    },
    count: () => sum((q) => q.count()),
    getWaitingCount: () => sum((q) => q.getWaitingCount()),
    getCompletedCount: () => sum((q) => q.getCompletedCount()),
    async getJobs(types, start, end) {
      return (await Promise.all(queues.map((q) => q.getJobs(types, start, end)))).flat();
    },
    async obliterate(o) {
      for (const q of queues) await q.obliterate(o);
    },
    on(event, fn) {
      for (const q of queues) q.on(event, fn);
    },
    async close() {
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}
