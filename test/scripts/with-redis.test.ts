import { spawnSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

// `npm test` runs through scripts/with-redis.mjs: these check what a machine without a Redis on the
// configured port gets. Port 1 is never a Redis.
const script = join(import.meta.dirname, '../../scripts/with-redis.mjs');
const noRedis = 'redis://127.0.0.1:1';

function run(env: NodeJS.ProcessEnv) {
  return spawnSync(process.execPath, [script, process.execPath, '-e', 'console.log(process.env.REDIS_URL)'], {
    env,
    encoding: 'utf8',
    timeout: 20_000,
  });
}

describe('scripts/with-redis.mjs', () => {
  it('uses the configured Redis when it answers', () => {
    const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
    const r = run({ ...process.env, REDIS_URL: url });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(url);
  });

  it('starts a private redis-server when none answers and one is on the PATH', () => {
    const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
    if (which.status !== 0) return expect.fail('redis-server must be on the PATH for this test');
    const r = run({ ...process.env, REDIS_URL: noRedis });
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toMatch(/^redis:\/\/127\.0\.0\.1:\d+$/);
    expect(r.stdout.trim()).not.toBe(noRedis);
    expect(r.stderr).toContain('private redis-server');
  });

  it('fails at once, saying how to get a Redis, when there is neither', () => {
    // A PATH holding only `sh`, so `redis-server` cannot be found.
    const bin = mkdtempSync(join(tmpdir(), 'no-redis-'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const r = run({ REDIS_URL: noRedis, PATH: bin });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('docker compose up -d redis');
  });
});
