/**
 * A worker process's job slots, shared by its shard workers. Each shard's BullMQ worker may hold up to the
 * process's concurrency in jobs, but only `slots` run at once; when a slot frees, the next shard in turn
 * that has a job waiting gets it (round-robin), so a shard with a backlog takes at most its share while
 * other shards have work, and all of the slots when they have none.
 */
export class ShardGate {
  private free: number;
  private readonly waiting: (() => void)[][];
  private next = 0;

  constructor(
    readonly slots: number,
    shards: number,
  ) {
    this.free = slots;
    this.waiting = Array.from({ length: shards }, () => []);
  }

  /** Resolves when shard `shard` may run one job; call `release()` once it is done. */
  acquire(shard: number): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting[shard]!.push(resolve));
  }

  release(): void {
    const n = this.waiting.length;
    for (let k = 0; k < n; k++) {
      const shard = (this.next + k) % n;
      const wake = this.waiting[shard]!.shift();
      if (wake) {
        this.next = (shard + 1) % n;
        wake();
        return;
      }
    }
    this.free += 1;
  }

  /** Jobs held by shard workers, waiting for a slot. */
  get queued(): number {
    return this.waiting.reduce((a, w) => a + w.length, 0);
  }

  /** Runs `fn` in a slot of `shard`. */
  async run<T>(shard: number, fn: () => Promise<T>): Promise<T> {
    await this.acquire(shard);
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}
