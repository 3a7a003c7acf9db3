// globalSetup of the 'cluster' project. Before the tests: a file for slot-guard.setup.ts to record into.
// After them: every Lua script, transaction and pipeline call site in src/ must have run on the cluster
// (proving the tests exercised it there), and none may have spanned two hash slots. Either failure is
// reported by site and fails the run.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';

let dir: string | undefined;

export function setup() {
  dir = mkdtempSync(join(tmpdir(), 'slot-guard-'));
  process.env.SLOT_GUARD_FILE = join(dir, 'calls.jsonl');
}

/** file:line of every `redis.eval(`, `.multi(` and `.pipeline(` in src/. */
export function staticSites(root = join(import.meta.dirname, '../..')): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      // src/store/redis.ts: evalScript, recorded at its callers' `evalScript(` lines.
      else if (p.endsWith('.ts') && !p.endsWith('src/store/redis.ts'))
        readFileSync(p, 'utf8')
          .split('\n')
          .forEach((line, i) => {
            // A client's own `redis.eval(` or `evalScript(` (an eval queued inside a MULTI belongs to that MULTI's site).
            if (/redis\.eval\(|evalScript\(|\.(multi|pipeline)\(/.test(line))
              out.push(`${relative(root, p)}:${i + 1}`);
          });
    }
  };
  walk(join(root, 'src'));
  return out.sort();
}

export function teardown() {
  const file = process.env.SLOT_GUARD_FILE;
  const lines = file ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : [];
  const calls = lines.map(
    (l) => JSON.parse(l) as { site: string; kind: string; slots: number; sample: string[] },
  );
  const seen = new Set(calls.map((c) => c.site));
  const crossSlot = calls.filter((c) => c.slots > 1);
  // Coverage is judged on a whole run of the project only (a run of chosen files or tests covers less).
  const args = process.argv.slice(2);
  const filtered = args.some(
    (a, i) => /^test\/|\.test\.ts$/.test(a) || /^(-t|--testNamePattern)/.test(args[i] ?? ''),
  );
  const missing = filtered ? [] : staticSites().filter((s) => !seen.has(s));
  if (dir) rmSync(dir, { recursive: true, force: true });
  console.log(
    `slot guard: ${calls.length} scripts/transactions/pipelines from ${seen.size} call sites in src/ ran on the cluster` +
      (filtered ? ' (chosen files only: coverage not judged)' : `, of ${staticSites().length} in src/`),
  );
  if (crossSlot.length) {
    console.error('slot guard: keys of more than one hash slot in one script/transaction/pipeline:');
    for (const c of crossSlot.slice(0, 20)) console.error(`  ${c.site} ${c.kind} ${c.sample.join(' ')}`);
    process.exitCode = 1;
  }
  if (missing.length) {
    console.error(`slot guard: ${missing.length} call sites in src/ never ran on the cluster:`);
    for (const s of missing) console.error(`  ${s}`);
    process.exitCode = 1;
  }
}
