import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AppError } from '../errors.js';
import type { Keys } from '../store/keys.js';
import { evalScript } from '../store/redis.js';
import { acquireLock } from './locks.js';
import type { MatcherOptions, SyncClient } from './matching.js';
import { normalizeEmail } from './payloads.js';

/**
 * The email index of a shop's IT Retail customers (IT Retail has no search by email), built from
 * GetAllCustomers:
 *   idx       hash  email → "<Id>|<CardNo>"   (live records only; the chosen one when several share an email)
 *   idx:meta  hash  startedAt, builtAt, count, durationMs
 *   dups      hash  email → JSON [{id, cardNo}] of every live record carrying that email
 * Rule for several live records with one email: the lowest CardNo wins (string order; no CardNo last),
 * then the lowest Id. Deterministic, so every worker picks the same record; the rest are listed in `dups`.
 */

export class MatchError extends AppError {
  override readonly code = 'MATCH_FAILED' as const;
  constructor(message: string, retryable: boolean) {
    super(message, { retryable });
  }
}

/** GetOne answered null, and the customer list could not yet confirm the customer is gone. */
export interface IndexMeta {
  startedAt: number;
  builtAt: number;
  count: number;
  emails: number;
  durationMs: number;
}

const BUILD_SCRIPT = `
local added = 0
for i = 1, #ARGV, 3 do
  local email, id, card = ARGV[i], ARGV[i+1], ARGV[i+2]
  local val = id .. '|' .. card
  local cur = redis.call('HGET', KEYS[1], email)
  if not cur then
    redis.call('HSET', KEYS[1], email, val)
    added = added + 1
  else
    local sep = string.find(cur, '|', 1, true)
    local cid = string.sub(cur, 1, sep - 1)
    local ccard = string.sub(cur, sep + 1)
    local better
    if card == ccard then better = id < cid
    elseif card == '' then better = false
    elseif ccard == '' then better = true
    else better = card < ccard end
    if better then redis.call('HSET', KEYS[1], email, val) end
    local d = redis.call('HGET', KEYS[2], email)
    local list
    if d then list = cjson.decode(d) else list = { { id = cid, cardNo = ccard } } end
    table.insert(list, { id = id, cardNo = card })
    redis.call('HSET', KEYS[2], email, cjson.encode(list))
  end
end
return added
`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class EmailIndex {
  private readonly refreshWaitMs: number;
  private readonly batchSize: number;
  private readonly indexLockTtlMs: number;
  private readonly onRefresh: MatcherOptions['onRefresh'];

  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly logger: Logger | undefined,
    opts: Pick<MatcherOptions, 'refreshWaitMs' | 'batchSize' | 'indexLockTtlMs' | 'onRefresh'>,
  ) {
    this.refreshWaitMs = opts.refreshWaitMs ?? 120_000;
    this.batchSize = opts.batchSize ?? 500;
    this.indexLockTtlMs = opts.indexLockTtlMs ?? 60_000;
    this.onRefresh = opts.onRefresh;
  }

  async lookup(shop: string, email: string): Promise<{ id: string; cardNo: string } | undefined> {
    const v = await this.redis.hget(this.keys.emailIndex(shop), email);
    if (!v) return undefined;
    const sep = v.indexOf('|');
    return { id: v.slice(0, sep), cardNo: v.slice(sep + 1) };
  }

  async duplicates(shop: string, email: string): Promise<{ id: string; cardNo: string }[]> {
    const v = await this.redis.hget(this.keys.emailDups(shop), email);
    return v ? (JSON.parse(v) as { id: string; cardNo: string }[]) : [];
  }

  async meta(shop: string): Promise<IndexMeta | undefined> {
    const h = await this.redis.hgetall(this.keys.emailIndexMeta(shop));
    if (!h.builtAt) return undefined;
    return {
      startedAt: Number(h.startedAt),
      builtAt: Number(h.builtAt),
      count: Number(h.count),
      emails: Number(h.emails),
      durationMs: Number(h.durationMs),
    };
  }

  /**
   * Makes sure the index was built from a download started no earlier than `notBefore` (ms). One refresh
   * per shop at a time across all workers: a caller that finds another refresh running waits for it and
   * uses its result when it is recent enough.
   */
  async ensure(shop: string, client: SyncClient, notBefore: number): Promise<IndexMeta> {
    const deadline = Date.now() + this.refreshWaitMs;
    for (;;) {
      const meta = await this.meta(shop);
      if (meta && meta.startedAt >= notBefore) return meta;
      let lock: Awaited<ReturnType<typeof acquireLock>> | undefined;
      try {
        lock = await acquireLock(this.redis, this.keys.indexLock(shop), {
          ttlMs: this.indexLockTtlMs,
          waitMs: 0,
        });
      } catch {
        lock = undefined;
      }
      if (lock) {
        try {
          const again = await this.meta(shop);
          if (again && again.startedAt >= notBefore) return again;
          return await this.build(shop, client);
        } finally {
          await lock.release().catch(() => false);
        }
      }
      if (Date.now() > deadline)
        throw new MatchError('timed out waiting for the customer index refresh', true);
      await sleep(100 + Math.random() * 150);
    }
  }

  private async build(shop: string, client: SyncClient): Promise<IndexMeta> {
    const startedAt = Date.now();
    const suffix = randomBytes(6).toString('hex');
    const tmpIdx = this.keys.emailIndexTmp(shop, suffix);
    const tmpDups = this.keys.emailDupsTmp(shop, suffix);
    let batch: string[] = [];
    let emails = 0;
    const flush = async () => {
      if (batch.length === 0) return;
      const args = batch;
      batch = [];
      emails += (await evalScript(this.redis, BUILD_SCRIPT, 2, tmpIdx, tmpDups, ...args)) as number;
    };
    const observer = await this.onRefresh?.(shop).catch(() => undefined);
    try {
      const count = await client.forEachCustomer(async (c) => {
        await observer?.record(c);
        if (c.Deleted) return;
        const email = normalizeEmail(c.Email);
        if (!email) return;
        batch.push(email, c.Id, c.CardNo ?? '');
        if (batch.length >= this.batchSize * 3) await flush();
      });
      await flush();
      const builtAt = Date.now();
      const meta: IndexMeta = { startedAt, builtAt, count, emails, durationMs: builtAt - startedAt };
      const tx = this.redis.multi();
      if (emails > 0) tx.rename(tmpIdx, this.keys.emailIndex(shop));
      else tx.del(this.keys.emailIndex(shop));
      tx.del(this.keys.emailDups(shop));
      // RENAME of a missing key fails; dups exist only when some email repeats.
      if ((await this.redis.exists(tmpDups)) === 1) tx.rename(tmpDups, this.keys.emailDups(shop));
      tx.hset(this.keys.emailIndexMeta(shop), {
        startedAt: String(startedAt),
        builtAt: String(builtAt),
        count: String(count),
        emails: String(emails),
        durationMs: String(meta.durationMs),
      });
      await tx.exec();
      await observer
        ?.done()
        .catch((err: unknown) => this.logger?.warn({ shop, err }, 'refresh observer failed'));
      this.logger?.info(
        { shop, count, emails, durationMs: meta.durationMs },
        'IT Retail customer index rebuilt',
      );
      return meta;
    } finally {
      await this.redis.del(tmpIdx, tmpDups).catch(() => 0);
    }
  }
}
