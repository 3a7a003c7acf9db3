/**
 * Shared helpers of the benchmarks: machine description, statistics, result files, tables, Redis prefixes.
 * Every benchmark runs on a shared, noisy machine, so figures are medians of several runs and ratios against
 * a baseline measured in the same script.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { Redis } from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
export const RESULTS_DIR = new URL('../results/', import.meta.url);

export interface MachineInfo {
  cpuModel: string;
  cpus: number;
  totalMemoryMB: number;
  node: string;
  platform: string;
  loadAvg1m: number;
}

function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model.trim() ?? 'unknown',
    cpus: cpus.length,
    totalMemoryMB: Math.round(os.totalmem() / 2 ** 20),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    loadAvg1m: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}

export function printMachine(title: string): MachineInfo {
  const m = machineInfo();
  console.log(`\n== ${title}`);
  console.log(
    `machine: ${m.cpus} × ${m.cpuModel}, ${m.totalMemoryMB} MB RAM, node ${m.node}, ${m.platform}, load ${m.loadAvg1m}`,
  );
  return m;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile (p in 0..100) of unsorted values. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = Float64Array.from(xs).sort();
  const rank = Math.min(s.length, Math.max(1, Math.ceil((p / 100) * s.length)));
  return s[rank - 1]!;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export interface Goal {
  figure: string;
  /** Human form of the goal, e.g. "≥ 0.75". */
  goal: string;
  value: number | string;
  met: boolean;
  note?: string;
}

export interface BenchResult {
  name: string;
  title: string;
  startedAt: string;
  durationS: number;
  machine: MachineInfo;
  params: Record<string, unknown>;
  figures: Record<string, unknown>;
  goals: Goal[];
  notes: string[];
}

export function writeResult(r: BenchResult): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = new URL(`${r.name}.json`, RESULTS_DIR);
  writeFileSync(file, `${formatJson(r)}\n`);
  return file.pathname;
}

/** JSON as the repository's formatter (biome, line width 110) writes it: short arrays of plain values on one line. */
function formatJson(value: unknown): string {
  const text = JSON.stringify(value, null, 2);
  return text.replace(
    /^( *)("[^"\n]*": )?\[\n((?:\1 {2}(?:-?[\d.eE+-]+|"[^"\n]*"|true|false|null),?\n)+)\1\]/gm,
    (all, indent: string, key = '', body: string) => {
      const items = body
        .split('\n')
        .filter(Boolean)
        .map((l) => l.trim().replace(/,$/, ''));
      const line = `${indent}${key}[${items.join(', ')}]`;
      return line.length <= 110 ? line : all;
    },
  );
}

/** A compact fixed-width table. */
export function table(headers: string[], rows: (string | number)[][]): string {
  const cells = [headers, ...rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c) : c)))];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => String(r[i] ?? '').length)));
  const line = (r: (string | number)[]) =>
    r
      .map((c, i) => String(c ?? '').padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line(cells[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join(
    '\n',
  );
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : a >= 1 ? x.toFixed(2) : x.toFixed(3);
}

export function printGoals(goals: Goal[]): void {
  console.log(
    table(
      ['figure', 'value', 'goal', 'met'],
      goals.map((g) => [
        g.figure,
        typeof g.value === 'number' ? fmt(g.value) : g.value,
        g.goal,
        g.met ? 'yes' : 'NO',
      ]),
    ),
  );
}

/** A key prefix no other run shares. */
export function benchPrefix(name: string): string {
  return `bench-${name}-${randomBytes(4).toString('hex')}`;
}

export function benchRedis(): Redis {
  return new Redis(REDIS_URL, { maxRetriesPerRequest: null });
}

/** Deletes every key under the prefix. */
export async function dropPrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 2000);
    cursor = next;
    if (keys.length) n += await redis.unlink(...keys);
  } while (cursor !== '0');
  return n;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes (then throws). */
export async function waitUntil(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  everyMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

/** Reads an integer from the environment (bench knobs), with bounds. */
export function envInt(name: string, fallback: number, min = 1, max = 10_000_000): number {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new Error(`${name} must be a whole number between ${min} and ${max} (got "${raw}")`);
  }
  return n;
}

/** Redis server CPU seconds (user + sys) so far, from INFO cpu. */
export async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const num = (k: string) => Number(new RegExp(`^${k}:([0-9.]+)`, 'm').exec(info)?.[1] ?? 0);
  return num('used_cpu_user') + num('used_cpu_sys');
}

/** CPU milliseconds (user + system) of a process.cpuUsage() difference. */
export function cpuMs(after: NodeJS.CpuUsage, before: NodeJS.CpuUsage): number {
  return (after.user - before.user + after.system - before.system) / 1000;
}
