// Loaded in every test process of the 'cluster' project (vitest setupFiles). Records, for each Lua script,
// transaction and pipeline the app's code (src/) sends, where in src/ it was sent from and how many hash
// slots its keys span. slot-guard.global.ts checks the records once every test has run.
import { appendFileSync } from 'node:fs';
import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';

const file = process.env.SLOT_GUARD_FILE;
const marker = Symbol.for('itrb.slot-guard');
const g = globalThis as Record<symbol, unknown>;

function callSite(): string | undefined {
  for (const line of new Error().stack?.split('\n') ?? []) {
    const m = /\/(src\/[^:()]+\.ts):(\d+):\d+/.exec(line);
    if (m && m[1] !== 'src/store/redis.ts') return `${m[1]}:${m[2]}`;
  }
  return undefined;
}

function record(site: string | undefined, kind: string, keys: (string | Buffer)[]) {
  if (!site || !file) return;
  const slots = new Set(keys.map((k) => calculateSlot(k)));
  appendFileSync(
    file,
    `${JSON.stringify({ site, kind, keys: keys.length, slots: slots.size, sample: keys.slice(0, 3).map(String) })}\n`,
  );
}

type AnyFn = (...args: unknown[]) => unknown;
interface QueuedCommand {
  getKeys(): (string | Buffer)[];
}

if (file && !g[marker]) {
  g[marker] = true;
  for (const C of [Redis, Cluster] as unknown as { prototype: Record<string, AnyFn> }[]) {
    const evalFn = C.prototype.eval!;
    C.prototype.eval = function (this: unknown, script: unknown, numKeys: unknown, ...args: unknown[]) {
      record(callSite(), 'eval', args.slice(0, Number(numKeys)) as string[]);
      return evalFn.call(this, script, numKeys, ...args);
    };
    const evalshaFn = C.prototype.evalsha!;
    C.prototype.evalsha = function (this: unknown, sha: unknown, numKeys: unknown, ...args: unknown[]) {
      record(callSite(), 'eval', args.slice(0, Number(numKeys)) as string[]);
      return evalshaFn.call(this, sha, numKeys, ...args);
    };
    for (const name of ['multi', 'pipeline'] as const) {
      const make = C.prototype[name]!;
      C.prototype[name] = function (this: unknown, ...a: unknown[]) {
        const p = make.apply(this, a) as { exec: AnyFn; _queue?: QueuedCommand[] };
        const site = callSite();
        if (site) {
          const exec = p.exec;
          p.exec = function (this: unknown, ...e: unknown[]) {
            const keys = (p._queue ?? []).flatMap((c) => c.getKeys());
            record(site, name, keys);
            return exec.apply(this, e);
          };
        }
        return p;
      };
    }
  }
}
