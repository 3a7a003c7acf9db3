/**
 * Counts the Redis commands a process sends (every ioredis connection in it), by command name, so a
 * benchmark can report Redis commands per request or per job. Commands inside a MULTI or a pipeline are
 * counted one by one; EVALSHA/EVAL count as one each (what runs inside a script is not a round trip).
 */
import { Redis } from 'ioredis';

const counts = new Map<string, number>();
let installed = false;
let roundTrips = 0;
/** Each pipeline or MULTI exec passes one `stream` object with all its commands. */
const batches = new WeakSet<object>();

export function countRedisCommands(): void {
  if (installed) return;
  installed = true;
  const proto = Redis.prototype as unknown as {
    sendCommand: (cmd: { name: string }, ...rest: unknown[]) => unknown;
  };
  const original = proto.sendCommand;
  proto.sendCommand = function (this: unknown, cmd: { name: string }, ...rest: unknown[]) {
    const name = cmd?.name ?? '?';
    counts.set(name, (counts.get(name) ?? 0) + 1);
    // A pipeline (and a MULTI … EXEC, which ioredis sends as one) is written at once: one round trip.
    const stream = rest[0] as { isPipeline?: boolean } | undefined;
    if (stream?.isPipeline) {
      if (!batches.has(stream)) {
        batches.add(stream);
        roundTrips++;
      }
    } else roundTrips++;
    return original.call(this, cmd, ...rest);
  };
}

/** Commands by name, plus `(round trips)`: one per command sent alone, one per pipeline or MULTI block. */
export function redisCommandCounts(reset = false): Record<string, number> {
  const out = Object.fromEntries([...counts.entries()].sort((a, b) => b[1] - a[1]));
  out['(round trips)'] = roundTrips;
  if (reset) {
    counts.clear();
    roundTrips = 0;
  }
  return out;
}
