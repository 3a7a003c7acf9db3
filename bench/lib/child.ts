/**
 * Child processes of the benchmarks, with a tiny request/answer protocol over the IPC channel.
 *
 * Parent: `const c = await Child.start('sim-child.ts', { env })`, then `await c.call('generate', 1000)`,
 * finally `await c.stop()`. Child: `serve({ generate: async (n) => ... })`. Each child is a Node process
 * running TypeScript through tsx; its stdout goes to /dev/null unless `stdout: 'inherit'` (logs at level
 * info are written there, as in production, and discarded). Set BENCH_CPU_PROF=1 to write a CPU profile of
 * every child into bench/results/prof/.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

type Handler = (arg: never) => unknown;
type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };

interface Answer {
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

const LIB = new URL('./', import.meta.url);
const PROF_DIR = new URL('../results/prof/', import.meta.url);

export class Child {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private exited = false;
  readonly exitedPromise: Promise<number | null>;

  private constructor(
    readonly name: string,
    readonly proc: ChildProcess,
  ) {
    this.exitedPromise = new Promise((resolve) => {
      proc.once('exit', (code) => {
        this.exited = true;
        for (const p of this.pending.values()) p.reject(new Error(`${name} exited (code ${code})`));
        this.pending.clear();
        resolve(code);
      });
    });
    proc.on('message', (m: unknown) => {
      const a = m as Answer;
      if (typeof a !== 'object' || a === null || typeof a.id !== 'number') return;
      const p = this.pending.get(a.id);
      if (!p) return;
      this.pending.delete(a.id);
      if (a.ok) p.resolve(a.value);
      else p.reject(new Error(`${name}: ${a.error}`));
    });
  }

  /** Starts bench/lib/<script> (a file next to this one) and waits for it to say it is ready. */
  static async start(
    script: string,
    opts: { env?: NodeJS.ProcessEnv; name?: string; stdout?: 'ignore' | 'inherit'; execArgv?: string[] } = {},
  ): Promise<Child> {
    const execArgv = ['--import', 'tsx', ...(opts.execArgv ?? [])];
    if (process.env.BENCH_CPU_PROF === '1') {
      mkdirSync(PROF_DIR, { recursive: true });
      execArgv.push('--cpu-prof', `--cpu-prof-dir=${fileURLToPath(PROF_DIR)}`);
    }
    const proc = fork(fileURLToPath(new URL(script, LIB)), [], {
      execArgv,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', opts.stdout ?? 'ignore', 'inherit', 'ipc'],
    });
    const child = new Child(opts.name ?? script.replace(/\.ts$/, ''), proc);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${child.name} did not start within 60 s`)), 60_000);
      const onMessage = (m: unknown) => {
        if ((m as { ready?: boolean })?.ready) {
          clearTimeout(timer);
          proc.off('message', onMessage);
          resolve();
        }
      };
      proc.on('message', onMessage);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${child.name} exited with code ${code} before it was ready`));
      });
    });
    return child;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  call<T = unknown>(cmd: string, arg?: unknown, timeoutMs = 300_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = ++this.seq;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: ${cmd} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.send({ id, cmd, arg });
    });
  }

  /** Asks the child to shut down cleanly; kills this one child (by its pid) if it has not exited in time. */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (this.exited) return;
    try {
      await this.call('stop', undefined, timeoutMs);
    } catch {
      // It may exit before answering.
    }
    const timer = setTimeout(() => {
      if (!this.exited) this.proc.kill('SIGKILL');
    }, timeoutMs);
    await this.exitedPromise;
    clearTimeout(timer);
  }
}

/**
 * Child side: answers the parent's calls with `handlers`, and says it is ready. A `stop` handler, when
 * given, runs before the process exits on the parent's `stop` (or when the parent goes away).
 */
export function serve(handlers: Record<string, Handler>): void {
  let stopping = false;
  const stop = async (answer?: () => void) => {
    if (stopping) return;
    stopping = true;
    try {
      await (handlers.stop as unknown as (() => Promise<void>) | undefined)?.();
    } finally {
      answer?.();
      setTimeout(() => process.exit(0), 50);
    }
  };
  process.on('message', async (m: unknown) => {
    const { id, cmd, arg } = m as { id: number; cmd: string; arg: unknown };
    const reply = (a: Omit<Answer, 'id'>) => process.connected && process.send?.({ id, ...a });
    if (cmd === 'stop') {
      await stop(() => reply({ ok: true }));
      return;
    }
    const h = handlers[cmd];
    if (!h) return reply({ ok: false, error: `unknown command ${cmd}` });
    try {
      reply({ ok: true, value: await (h as (a: unknown) => unknown)(arg) });
    } catch (e) {
      reply({ ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  });
  // The parent died or closed the channel: do not linger.
  process.on('disconnect', () => void stop());
  process.send?.({ ready: true });
}
