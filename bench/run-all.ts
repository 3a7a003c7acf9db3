/**
 * `npm run bench`: the five benchmarks in sequence, each in its own child process (bench/<name>.ts), then
 * one summary table of every figure against its goal, read back from bench/results/<name>.json.
 * A benchmark that fails or runs past its time limit is reported and the others still run.
 *
 *   npx tsx bench/run-all.ts [name ...]     (default: all five)
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type BenchResult, fmt, printMachine, RESULTS_DIR, table } from './lib/common.js';

const BENCHES: { name: string; limitS: number }[] = [
  { name: 'ingress', limitS: 150 },
  { name: 'store-size', limitS: 150 },
  { name: 'worker-throughput', limitS: 150 },
  { name: 'time-to-balance', limitS: 150 },
  { name: 'two-workers', limitS: 150 },
];

function runOne(
  name: string,
  limitS: number,
): Promise<{ code: number | null; seconds: number; timedOut: boolean }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL(`${name}.ts`, import.meta.url))],
      {
        stdio: 'inherit',
        env: process.env,
      },
    );
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }, limitS * 1000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, seconds: (Date.now() - started) / 1000, timedOut });
    });
  });
}

async function main(): Promise<void> {
  const wanted = process.argv.slice(2);
  const list = wanted.length ? BENCHES.filter((b) => wanted.includes(b.name)) : BENCHES;
  if (wanted.length && list.length !== wanted.length) {
    console.error(`unknown benchmark; choose from ${BENCHES.map((b) => b.name).join(', ')}`);
    process.exit(2);
  }
  printMachine('Benchmarks (all figures are medians of several runs and ratios against in-script baselines)');
  const t0 = Date.now();
  const outcomes: {
    name: string;
    code: number | null;
    seconds: number;
    timedOut: boolean;
    fresh: boolean;
  }[] = [];
  for (const b of list) {
    const file = new URL(`${b.name}.json`, RESULTS_DIR);
    const before = existsSync(file) ? statSync(file).mtimeMs : 0;
    const r = await runOne(b.name, b.limitS);
    const fresh = existsSync(file) && statSync(file).mtimeMs > before;
    outcomes.push({ name: b.name, ...r, fresh });
  }

  const rows: (string | number)[][] = [];
  for (const o of outcomes) {
    const file = new URL(`${o.name}.json`, RESULTS_DIR);
    if (!o.fresh || !existsSync(file)) {
      rows.push([o.name, o.timedOut ? 'timed out' : `failed (exit ${o.code})`, '', '', '']);
      continue;
    }
    const r = JSON.parse(readFileSync(file, 'utf8')) as BenchResult;
    for (const g of r.goals) {
      rows.push([
        o.name,
        g.figure,
        typeof g.value === 'number' ? fmt(g.value) : g.value,
        g.goal,
        g.met ? 'yes' : 'NO',
      ]);
    }
  }
  console.log('\n== Summary');
  console.log(table(['benchmark', 'figure', 'value', 'goal', 'met'], rows));
  console.log(
    `\ntimes: ${outcomes.map((o) => `${o.name} ${o.seconds.toFixed(0)} s`).join(', ')}; total ${((Date.now() - t0) / 1000).toFixed(0)} s`,
  );
  if (outcomes.some((o) => !o.fresh)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
