// What ships (src/ and workers/, the only folders the Dockerfile copies and tsconfig.build.json compiles)
// must stand alone: no import of a test double (fakes/), a test (test/), a benchmark (bench/) or a script,
// and no package the production image does not install (devDependencies are pruned there).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const SHIPPED = ['src', 'workers'];

/** Every module specifier a TypeScript/JavaScript source names: static imports/exports, import(), require(). */
function specifiers(source: string): string[] {
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
    /\brequire\s*\(\s*['"`]([^'"`]+)['"`]\s*\)/g,
  ];
  for (const re of patterns) for (const m of source.matchAll(re)) out.push(m[1]!);
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (/\.(ts|mts|js|mjs)$/.test(name)) out.push(p);
  }
  return out;
}

const packageJson = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};
const builtins = new Set(builtinModules);

/** Why `spec`, imported by `file`, does not belong in shipped code; undefined when it does. */
function offence(file: string, spec: string): string | undefined {
  if (spec.startsWith('.')) {
    const target = relative(root, resolve(dirname(file), spec));
    const top = target.split(sep)[0]!;
    return SHIPPED.includes(top) ? undefined : `imports ${target}, outside ${SHIPPED.join('/ and ')}/`;
  }
  if (spec.startsWith('node:') || builtins.has(spec)) return undefined;
  const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
  return name in packageJson.dependencies ? undefined : `imports ${name}, not a production dependency`;
}

describe('shipped code', () => {
  it('imports nothing from fakes/, test/, bench/ or scripts/, and only production dependencies', () => {
    const files = SHIPPED.flatMap((d) => sourceFiles(join(root, d)));
    expect(files.length).toBeGreaterThan(20);
    const found: string[] = [];
    for (const file of files)
      for (const spec of specifiers(readFileSync(file, 'utf8'))) {
        const why = offence(file, spec);
        if (why) found.push(`${relative(root, file)}: ${why}`);
      }
    expect(found).toEqual([]);
  });

  it('the check sees every form of import, and tells what ships from what does not', () => {
    const src = join(root, 'src/sync/example.ts');
    const text = [
      "import { ITRetailSimulator } from '../../fakes/itretail/simulator.js';",
      "import type { X } from '../../test/helpers/redis.js';",
      "export * from '../../bench/lib/common.js';",
      "import '../../scripts/redis-cluster.mjs';",
      "const m = await import('../../fakes/shopify/webhooks.js');",
      "const g = require('graphql');",
      "import { z } from 'zod';",
      "import { createHash } from 'node:crypto';",
      "import { startWorker } from '../../workers/sync-worker.js';",
      "import { shopifyApi } from '@shopify/shopify-api';",
      "import { keys } from '../store/keys.js';",
    ].join('\n');
    const verdict = Object.fromEntries(specifiers(text).map((s) => [s, offence(src, s) === undefined]));
    expect(verdict).toEqual({
      '../../fakes/itretail/simulator.js': false,
      '../../test/helpers/redis.js': false,
      '../../bench/lib/common.js': false,
      '../../scripts/redis-cluster.mjs': false,
      '../../fakes/shopify/webhooks.js': false,
      graphql: false,
      zod: true,
      'node:crypto': true,
      '../../workers/sync-worker.js': true,
      '@shopify/shopify-api': true,
      '../store/keys.js': true,
    });
  });
});
