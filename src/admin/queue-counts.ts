import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

/**
 * One shop's share of the sync queue. The queue is shared by every shop, so its own counts would show a
 * merchant other shops' backlog; this counts only the jobs whose data names this shop. It runs in Redis
 * (no job data crosses the network) and looks at no more than `cap` jobs per state, reporting `capped`
 * when the queue is longer than that.
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
for i = 1, 4 do
  local key = KEYS[i]
  local ids
  if redis.call('TYPE', key).ok == 'zset' then
    if redis.call('ZCARD', key) > cap then capped = 1 end
    ids = redis.call('ZRANGE', key, 0, cap - 1)
  else
    if redis.call('LLEN', key) > cap then capped = 1 end
    ids = redis.call('LRANGE', key, 0, cap - 1)
  end
  out[i] = count(ids)
end
out[5] = capped
return out
`;

export interface ShopQueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  /** True when some state held more jobs than were looked at. */
  capped: boolean;
}

export async function shopQueueCounts(
  redis: Redis,
  queue: Queue,
  shop: string,
  cap = 5_000,
): Promise<ShopQueueCounts> {
  const k = queue.keys;
  const [wait = 0, prioritized = 0, active = 0, delayed = 0, capped = 0] = (await redis.eval(
    SCRIPT,
    4,
    k.wait as string,
    k.prioritized as string,
    k.active as string,
    k.delayed as string,
    shop,
    String(cap),
    queue.toKey(''),
  )) as number[];
  return { waiting: wait + prioritized, active, delayed, capped: capped === 1 };
}
