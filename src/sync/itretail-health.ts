import type { Redis } from 'ioredis';
import type { CallEvent } from '../itretail/client.js';
import type { Keys } from '../store/keys.js';

/**
 * What the workers' IT Retail calls saw, per shop, for the admin page's connection card: the last good
 * call and the last failure (a refusal of the sign-in, 429, 5xx, timeout or network error; a 4xx about
 * the data, like a taken email, says nothing about the connection). Kept in memory and written to Redis
 * at most once per `flushEveryMs` per shop, so it costs no round trip on the job's path.
 */
export interface ITRetailHealthSeen {
  lastOkAt?: string;
  lastError?: { at: string; code: string; message: string };
}

function failureOf(e: CallEvent): { code: string; message: string } | undefined {
  if (e.status === 'network' || e.status === 'timeout') {
    const what = e.status === 'timeout' ? 'timed out' : 'could not be reached';
    return { code: e.errorCode ?? e.status, message: `${e.call}: IT Retail ${what}` };
  }
  if (e.status === 401 || e.status === 403)
    return { code: 'ITR_AUTH', message: `${e.call}: IT Retail refused the sign-in (HTTP ${e.status})` };
  if (e.status === 429) return { code: 'ITR_THROTTLED', message: `${e.call}: IT Retail asked to slow down` };
  if (e.status >= 500)
    return { code: 'ITR_UNAVAILABLE', message: `${e.call}: IT Retail answered HTTP ${e.status}` };
  return undefined;
}

export class ITRetailHealthRecorder {
  /** The last good call per shop (ms), formatted only when written: most calls are good. */
  private readonly okAt = new Map<string, number>();
  private readonly pending = new Map<string, Record<string, string>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly flushEveryMs = 5_000,
  ) {}

  record(shop: string, e: CallEvent, now?: Date): void {
    if (typeof e.status === 'number' && e.status >= 200 && e.status < 300) {
      this.okAt.set(shop, now ? now.getTime() : Date.now());
    } else {
      const f = failureOf(e);
      if (!f) return;
      const at = (now ?? new Date()).toISOString();
      this.pending.set(shop, {
        ...this.pending.get(shop),
        lastErrorAt: at,
        lastErrorCode: f.code,
        lastErrorMessage: f.message,
      });
    }
    if (!this.timers.has(shop)) {
      const t = setTimeout(() => void this.flush(shop), this.flushEveryMs);
      t.unref();
      this.timers.set(shop, t);
    }
  }

  async flush(shop?: string): Promise<void> {
    const shops = shop ? [shop] : [...new Set([...this.pending.keys(), ...this.okAt.keys()])];
    for (const s of shops) {
      clearTimeout(this.timers.get(s));
      this.timers.delete(s);
      const fields = { ...this.pending.get(s) };
      const ok = this.okAt.get(s);
      if (ok !== undefined) fields.lastOkAt = new Date(ok).toISOString();
      this.pending.delete(s);
      this.okAt.delete(s);
      if (Object.keys(fields).length)
        await this.redis.hset(this.keys.itretailHealth(s), fields).catch(() => undefined);
    }
  }
}

export async function readITRetailHealth(
  redis: Redis,
  keys: Keys,
  shop: string,
): Promise<ITRetailHealthSeen> {
  const h = await redis.hgetall(keys.itretailHealth(shop));
  return {
    lastOkAt: h.lastOkAt || undefined,
    lastError: h.lastErrorAt
      ? {
          at: h.lastErrorAt,
          code: h.lastErrorCode ?? 'ITR_ERROR',
          message: h.lastErrorMessage ?? 'IT Retail failed',
        }
      : undefined,
  };
}

/** The newer of two observations of each kind (the web process's own check and the workers' calls). */
export function newestHealth(a: ITRetailHealthSeen | undefined, b: ITRetailHealthSeen): ITRetailHealthSeen {
  const later = (x?: string, y?: string) => (!x ? y : !y ? x : x > y ? x : y);
  const errors = [a?.lastError, b.lastError].filter((e): e is NonNullable<typeof e> => Boolean(e));
  errors.sort((x, y) => (x.at < y.at ? 1 : -1));
  return { lastOkAt: later(a?.lastOkAt, b.lastOkAt), lastError: errors[0] };
}
