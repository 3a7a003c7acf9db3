import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { AppError, type Deferral } from '../errors.js';
import { evalScript } from '../store/redis.js';

/**
 * A Redis lock held by one owner at a time, across every worker process: SET NX PX with a random token;
 * extend and release only when the token still matches (Lua compare-and-set / compare-and-delete), so a
 * holder whose lock expired can never extend or free someone else's. While held, the lock is extended in
 * the background every ttl/3; a holder checks `ensure()` right before an irreversible step.
 */

export class LockBusyError extends AppError {
  override readonly code = 'LOCK_BUSY' as const;
  constructor(
    readonly key: string,
    waitedMs: number,
  ) {
    super(`another job holds ${describeKey(key)} (waited ${waitedMs} ms)`, { retryable: true });
  }
  /** Put back after a short jittered delay: the other job is likely done by then. */
  override get deferral(): Deferral {
    return {};
  }
}

export class LockLostError extends AppError {
  override readonly code = 'LOCK_LOST' as const;
  constructor(readonly key: string) {
    super(`lost ${describeKey(key)} before finishing`, { retryable: true });
  }
}

function describeKey(key: string): string {
  // Keys end in "...:lock:<kind>:<id>"; say which kind of lock without printing emails.
  const m = /:lock:([^:]+):/.exec(key);
  return m ? `the ${m[1]} lock` : 'the lock';
}

const EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export interface LockOptions {
  /** Time to live of the lock key; renewed every ttl/3 while held (default 30 000 ms). */
  ttlMs?: number;
  /** How long acquire waits for a busy lock before giving up with LockBusyError (default 10 000 ms). */
  waitMs?: number;
  /** Pause between attempts while waiting, with jitter (default 25 ms, growing to 250 ms). */
  retryMs?: number;
  /** Extend in the background while held (default true). */
  autoExtend?: boolean;
}

/**
 * Reads done in the same round trip as taking the lock, atomically right after it is taken: `lua` is a
 * script body that may use KEYS[2..] (`keys`) and ARGV[3..] (`args`) and must return a non-nil value
 * (what `Lock.read` then holds). KEYS[1], ARGV[1] and ARGV[2] are the lock's key, token and TTL.
 * `prelude` runs first, whether or not the lock is free (writes that need no lock, such as an order's
 * idempotent facts merge); it may end the script with `return {'stop', …}`, and then acquireLock takes no
 * lock and throws LockPreludeStop with that answer.
 */
export interface LockRead {
  lua: string;
  keys: string[];
  args?: string[];
  prelude?: string;
}

/** The lock script's prelude ended it (see LockRead.prelude): no lock was taken. */
export class LockPreludeStop extends Error {
  readonly code = 'LOCK_PRELUDE_STOP' as const;
  constructor(readonly answer: unknown[]) {
    super(`stopped before taking the lock: ${String(answer[1])}`);
    this.name = 'LockPreludeStop';
  }
}

export interface Lock {
  readonly key: string;
  readonly token: string;
  /** The TTL the lock is renewed to. */
  readonly ttlMs: number;
  /** Renews the TTL; false when the lock is no longer ours. */
  extend(ttlMs?: number): Promise<boolean>;
  /** Renews the TTL and throws LockLostError when the lock is no longer ours. */
  ensure(ttlMs?: number): Promise<void>;
  /** Frees the lock if it is still ours (compare-and-delete); true when it was. */
  release(): Promise<boolean>;
  /**
   * Records that a script already freed the lock with a compare-and-delete of `token` (or found it no
   * longer ours): renewals stop and release() sends nothing.
   */
  releasedByScript(): void;
  /** True once released (by release() or a script). */
  readonly released: boolean;
  /** What the LockRead returned when the lock was taken (undefined without one). */
  readonly read?: unknown;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const acquireScript = (body: string, prelude = '') => `${prelude}
if not redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2], 'NX') then return nil end
${body}`;

/** Unique to its holder (from the process's pooled entropy: cheaper than a fresh randomBytes per lock). */
export const newLockToken = () => randomUUID();

export async function acquireLock(
  redis: Redis,
  key: string,
  opts: LockOptions = {},
  onAcquire?: LockRead,
): Promise<Lock> {
  const ttlMs = opts.ttlMs ?? 30_000;
  const waitMs = opts.waitMs ?? 10_000;
  const baseRetry = opts.retryMs ?? 25;
  const token = newLockToken();
  const started = Date.now();
  const script = onAcquire ? acquireScript(onAcquire.lua, onAcquire.prelude) : undefined;
  let read: unknown;
  let pause = baseRetry;
  for (;;) {
    if (script && onAcquire) {
      read = await evalScript(
        redis,
        script,
        1 + onAcquire.keys.length,
        key,
        ...onAcquire.keys,
        token,
        String(ttlMs),
        ...(onAcquire.args ?? []),
      );
      if (Array.isArray(read) && read[0] === 'stop') throw new LockPreludeStop(read);
      if (read !== null) break;
    } else if ((await redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK') break;
    const waited = Date.now() - started;
    if (waited >= waitMs) throw new LockBusyError(key, waited);
    await sleep(Math.min(pause, waitMs - waited) * (0.5 + Math.random()));
    pause = Math.min(pause * 2, Math.max(baseRetry, 250));
  }
  return heldLock(redis, key, token, ttlMs, opts.autoExtend !== false, read);
}

/**
 * The handle of a lock this process holds: taken by acquireLock, or by a script (SET `key` `token` PX `ttlMs`
 * NX) that the caller ran itself. Renewed in the background every ttl/3 unless `autoExtend` is false.
 */
export function heldLock(
  redis: Redis,
  key: string,
  token: string,
  ttlMs: number,
  autoExtend = true,
  read?: unknown,
): Lock {
  let released = false;
  let lost = false;
  const extend = async (ms = ttlMs) => {
    if (released) return false;
    const r = (await evalScript(redis, EXTEND, 1, key, token, String(ms))) as number;
    if (r !== 1) lost = true;
    return r === 1;
  };
  let timer: NodeJS.Timeout | undefined;
  if (autoExtend) {
    timer = setInterval(
      () => {
        extend().catch(() => {
          // A failed renewal is caught by ensure() before the next irreversible step.
        });
      },
      Math.max(50, Math.floor(ttlMs / 3)),
    );
    timer.unref();
  }
  return {
    key,
    token,
    ttlMs,
    extend,
    async ensure(ms = ttlMs) {
      if (lost || !(await extend(ms))) throw new LockLostError(key);
    },
    async release() {
      if (timer) clearInterval(timer);
      if (released) return false;
      released = true;
      return ((await evalScript(redis, RELEASE, 1, key, token)) as number) === 1;
    },
    releasedByScript() {
      if (timer) clearInterval(timer);
      released = true;
    },
    get released() {
      return released;
    },
    read,
  };
}

const RELEASE_ALL = `local n = 0
for i = 1, #KEYS do
  if redis.call('get', KEYS[i]) == ARGV[i] then n = n + redis.call('del', KEYS[i]) end
end
return n`;

/**
 * Frees the locks still held among `locks` in one round trip (compare-and-delete each; their keys must
 * share a hash slot). Never throws: a lock left behind expires with its TTL.
 */
export async function releaseLocks(redis: Redis, locks: (Lock | undefined)[]): Promise<void> {
  const held = locks.filter((l): l is Lock => !!l && !l.released);
  if (held.length === 0) return;
  if (held.length === 1) {
    await held[0]!.release().catch(() => false);
    return;
  }
  for (const l of held) l.releasedByScript();
  await redis
    .eval(RELEASE_ALL, held.length, ...held.map((l) => l.key), ...held.map((l) => l.token))
    .catch(() => 0);
}

/** Runs fn while holding the lock; always releases it (a release failure is ignored: the TTL frees it). */
export async function withLock<T>(
  redis: Redis,
  key: string,
  opts: LockOptions,
  fn: (lock: Lock) => Promise<T>,
  onAcquire?: LockRead,
): Promise<T> {
  const lock = await acquireLock(redis, key, opts, onAcquire);
  try {
    return await fn(lock);
  } finally {
    await lock.release().catch(() => false);
  }
}
