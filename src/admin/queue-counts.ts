import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * One shop's share of the sync queue. The queue is shared by every shop, so its own counts would show a
 * merchant other shops' backlog; this counts only the jobs whose data names this shop. It runs in Redis
 * (no job data crosses the network) and looks at no more than `cap` jobs per state, reporting `capped`
 * when some state holds more than that.
 *
 * Job data is stored as JSON whose first key after `kind` is `shop` (see queue/jobs.ts); the script reads
 * the first `"shop":"…"` of each job's data, which is that top-level field.
 */
const SCRIPT = `
local needle = '"shop":"' .. ARGV[1] .. '"'
local cap = tonumber(ARGV[2])
local prefix = ARGV[3]
local out = {}
local capped = 0
local function count(ids)
  local n = 0
  for _, id in ipairs(ids) do
    local data = redis.call('HGET', prefix .. id, 'data')
    if data then
      local s = string.find(data, '"shop":"', 1, true)
      if s and string.sub(data, s, s + string.len(needle) - 1) == needle then n = n + 1 end
    end
  end
  return n
end
for i = 1, #KEYS do
  local key = KEYS[i]
  local ids
  local t = redis.call('TYPE', key).ok
  if t == 'zset' then
    if redis.call('ZCARD', key) > cap then capped = 1 end
    ids = redis.call('ZRANGE', key, 0, cap - 1)
  elseif t == 'list' then
    if redis.call('LLEN', key) > cap then capped = 1 end
    ids = redis.call('LRANGE', key, 0, cap - 1)
  else
    ids = {}
  end
  out[i] = count(ids)
end
out[#KEYS + 1] = capped
return out
`;

export interface ShopQueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  /** True when some state held more jobs than were looked at. */
  capped: boolean;
}

export interface ShopQueueCountsWithHistory extends ShopQueueCounts {
  failed: number;
  completed: number;
}

/** How long one shop's counts are reused: the page and /api/status poll, and each count scans Redis. */
export const QUEUE_COUNTS_MAX_AGE_MS = 5_000;

interface CachedCounts {
  at: number;
  counts: Promise<ShopQueueCountsWithHistory | ShopQueueCounts>;
}

/** Per queue (so separate installations never share counts), then per shop, cap and history. */
const cache = new WeakMap<Queue, Map<string, CachedCounts>>();
const MAX_CACHED_SHOPS = 1_000;

export async function shopQueueCounts(
  redis: Redis,
  queue: Queue,
  shop: string,
  cap?: number,
): Promise<ShopQueueCounts>;
export async function shopQueueCounts(
  redis: Redis,
  queue: Queue,
  shop: string,
  cap: number | undefined,
  opts: { history: true },
): Promise<ShopQueueCountsWithHistory>;
/**
 * With `history`, failed and completed jobs (kept for a retention period) are counted too. Counts are
 * reused for QUEUE_COUNTS_MAX_AGE_MS, and callers asking while a count runs share that one count, so
 * polling pages of one shop cost Redis one script run per few seconds.
 */
export async function shopQueueCounts(
  redis: Redis,
  queue: Queue,
  shop: string,
  cap = 5_000,
  opts: { history?: boolean } = {},
): Promise<ShopQueueCounts | ShopQueueCountsWithHistory> {
  let perQueue = cache.get(queue);
  if (!perQueue) {
    perQueue = new Map();
    cache.set(queue, perQueue);
  }
  const now = Date.now();
  const fresh = (key: string) => {
    const hit = perQueue.get(key);
    return hit && now - hit.at < QUEUE_COUNTS_MAX_AGE_MS ? hit : undefined;
  };
  const withHistory = `${cap}|history|${shop}`;
  // Counts with history answer a caller that needs fewer states just as well.
  const hit = fresh(withHistory) ?? (opts.history ? undefined : fresh(`${cap}|${shop}`));
  if (hit) return hit.counts;
  const key = opts.history ? withHistory : `${cap}|${shop}`;
  if (perQueue.size >= MAX_CACHED_SHOPS) {
    for (const [k, v] of perQueue) if (now - v.at >= QUEUE_COUNTS_MAX_AGE_MS) perQueue.delete(k);
    if (perQueue.size >= MAX_CACHED_SHOPS) perQueue.clear();
  }
  const entry: CachedCounts = { at: now, counts: countNow(redis, queue, shop, cap, opts.history === true) };
  perQueue.set(key, entry);
  // A failed count is not reused: the next caller asks Redis again.
  entry.counts.catch(() => {
    if (perQueue.get(key) === entry) perQueue.delete(key);
  });
  return entry.counts;
}

async function countNow(
  redis: Redis,
  queue: Queue,
  shop: string,
  cap: number,
  history: boolean,
): Promise<ShopQueueCounts | ShopQueueCountsWithHistory> {
  const k = queue.keys;
  const states = [k.wait, k.prioritized, k.active, k.delayed] as string[];
  if (history) states.push(k.failed as string, k.completed as string);
  const out = (await redis.eval(
    SCRIPT,
    states.length,
    ...states,
    shop,
    String(cap),
    queue.toKey(''),
  )) as number[];
  const [wait = 0, prioritized = 0, active = 0, delayed = 0] = out;
  const capped = out[states.length] === 1;
  const counts = { waiting: wait + prioritized, active, delayed, capped };
  if (!history) return counts;
  return { ...counts, failed: out[4] ?? 0, completed: out[5] ?? 0 };
}
