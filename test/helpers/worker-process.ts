import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { redisEnv } from './redis.js';

/**
 * The sync worker as its own process (`node --import tsx workers/sync-worker.ts`), the way it runs in
 * production, so tests can kill it with SIGKILL or stop it with SIGTERM. Each child gets its own process
 * group (killChildren ends anything it started).
 */

export interface WorkerChild extends ChildProcess {
  output(): string;
}

export interface WorkerChildOptions {
  prefix: string;
  itretailUrl: string;
  /** The worker's IT Retail request timeout (ITRETAIL_TIMEOUT_MS). */
  timeoutMs?: number;
  concurrency?: number;
  env?: Record<string, string>;
}

const children: ChildProcess[] = [];

export function startWorkerChild(o: WorkerChildOptions): WorkerChild {
  // node itself (tsx as an import hook), so the signals reach the worker and its exit code is the worker's.
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'workers/sync-worker.ts',
      '--lock-duration-ms=1500',
      '--stalled-interval-ms=500',
      '--lock-ttl-ms=2000',
    ],
    {
      cwd: process.cwd(),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        NODE_ENV: 'test',
        LOG_LEVEL: 'info',
        ...redisEnv(),
        REDIS_KEY_PREFIX: o.prefix,
        SHOPIFY_API_KEY: 'test-key',
        SHOPIFY_API_SECRET: 'test-secret-123',
        SHOPIFY_APP_URL: 'https://bridge.example.com',
        ENCRYPTION_KEY: randomBytes(32).toString('hex'),
        ITRETAIL_BASE_URL: o.itretailUrl,
        ITRETAIL_USERNAME: 'demo',
        ITRETAIL_PASSWORD: 'demo',
        ITRETAIL_TIMEOUT_MS: String(o.timeoutMs ?? 2000),
        WORKER_CONCURRENCY: String(o.concurrency ?? 6),
        POINTS_PER_DOLLAR: '1',
        ...o.env,
      },
    },
  ) as WorkerChild;
  let out = '';
  child.stdout?.on('data', (d) => {
    out += String(d);
  });
  child.output = () => out;
  let err = '';
  child.stderr?.on('data', (d) => {
    err += String(d);
  });
  child.on('exit', (code, signal) => {
    if (code && code !== 0) console.error(`worker exited ${code} ${signal ?? ''}: ${err.slice(-2000)}`);
  });
  children.push(child);
  return child;
}

export const exited = (c: ChildProcess) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve({ code: c.exitCode, signal: c.signalCode });
    else c.once('exit', (code, signal) => resolve({ code, signal }));
  });

/** SIGKILL to every child still running (and its process group). */
export function killChildren(): void {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try {
        process.kill(-c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
