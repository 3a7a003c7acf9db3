import type { Redis } from 'ioredis';
import { evalScript } from '../store/redis.js';

/**
 * Writes staged by one part of the worker (the job's sync event) for another part's script to make right
 * after its own work (the ledger commit): one round trip, and the writes happen only if the script ran.
 */

/** The writes a staged record may make (as ioredis's MULTI and pipelines take them). */
export interface WriteSink {
  hset(key: string, field: string, value: string): unknown;
  zadd(key: string, score: number, member: string): unknown;
  sadd(key: string, member: string): unknown;
  hincrby(key: string, field: string, by: number): unknown;
  expire(key: string, seconds: number): unknown;
  zrem(key: string, member: string): unknown;
  hdel(key: string, field: string): unknown;
}

/**
 * Writes made by the ledger commit's own script, after the commit (one round trip, atomic with it: a sync
 * event is stored exactly when the change it reports is counted), and what to do once they ran.
 */
export interface StagedRecord {
  addTo(sink: WriteSink): void;
  done(): Promise<void>;
  /** Handed back to whoever staged it. */
  readonly value: unknown;
}

/** Writes recorded for a script to make: each command's key goes into KEYS, the rest into ARGV. */
class RecordedWrites implements WriteSink {
  readonly keys: string[] = [];
  readonly args: string[] = [];
  private add(name: string, key: string, ...rest: (string | number)[]) {
    this.keys.push(key);
    this.args.push(name, String(this.keys.length), String(rest.length), ...rest.map(String));
    return this;
  }
  hset(key: string, field: string, value: string) {
    return this.add('hset', key, field, value);
  }
  zadd(key: string, score: number, member: string) {
    return this.add('zadd', key, score, member);
  }
  sadd(key: string, member: string) {
    return this.add('sadd', key, member);
  }
  hincrby(key: string, field: string, by: number) {
    return this.add('hincrby', key, field, by);
  }
  expire(key: string, seconds: number) {
    return this.add('expire', key, seconds);
  }
  zrem(key: string, member: string) {
    return this.add('zrem', key, member);
  }
  hdel(key: string, field: string) {
    return this.add('hdel', key, field);
  }
}

/**
 * `script` (any of the scripts below, unchanged) run as a function over its own keys and arguments, then
 * the recorded writes. KEYS: the script's, then one per write. ARGV: the script's key count, its argument
 * count, its arguments, then per write: command, its key's index among the writes' keys, count of further
 * arguments, those arguments. Returns what the script returned.
 */
const thenWrites = (script: string) => `
local function main(KEYS, ARGV)
${script}
end
local mk, ma = tonumber(ARGV[1]), tonumber(ARGV[2])
local k, a = {}, {}
for i = 1, mk do k[i] = KEYS[i] end
for i = 1, ma do a[i] = ARGV[2 + i] end
local r = main(k, a)
local i = 3 + ma
while i <= #ARGV do
  local n = tonumber(ARGV[i + 2])
  redis.call(ARGV[i], KEYS[mk + tonumber(ARGV[i + 1])], unpack(ARGV, i + 3, i + 2 + n))
  i = i + 3 + n
end
return r`;
const withWrites = new Map<string, string>();

/**
 * Runs `script` with its keys and arguments (`args`: the first `numKeys` are keys), then the writes
 * `alongside` stages, all in one script; then `alongside.done()`. Returns what `script` returned.
 */
export async function evalThenWrites(
  redis: Redis,
  alongside: StagedRecord,
  script: string,
  numKeys: number,
  ...args: string[]
): Promise<unknown> {
  const w = new RecordedWrites();
  alongside.addTo(w);
  let composed = withWrites.get(script);
  if (!composed) {
    composed = thenWrites(script);
    withWrites.set(script, composed);
  }
  const scriptArgs = args.slice(numKeys);
  const value = await evalScript(
    redis,
    composed,
    numKeys + w.keys.length,
    ...args.slice(0, numKeys),
    ...w.keys,
    String(numKeys),
    String(scriptArgs.length),
    ...scriptArgs,
    ...w.args,
  );
  await alongside.done();
  return value;
}
