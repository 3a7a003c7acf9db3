/**
 * Counts the Redis commands a process sends (every ioredis connection in it), by command name, so a
 * benchmark can report Redis commands per request or per job. Commands inside a MULTI or a pipeline are
 * counted one by one; EVALSHA/EVAL count as one each (what runs inside a script is not a round trip).
 */
import { Redis } from 'ioredis';

const counts = new Map<string, number>();
let installed = false;

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
    return original.call(this, cmd, ...rest);
  };
}

export function redisCommandCounts(reset = false): Record<string, number> {
  const out = Object.fromEntries([...counts.entries()].sort((a, b) => b[1] - a[1]));
  if (reset) counts.clear();
  return out;
}
