import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { dropPrefix, testRedis, uniquePrefix } from '../helpers/redis.js';
import { testEnv } from '../helpers/shopify.js';

const prefix = uniquePrefix('web-main');

afterAll(async () => {
  const redis = testRedis();
  await dropPrefix(redis, prefix);
  await redis.quit();
});

function run(env: NodeJS.ProcessEnv, mode = 'web') {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', mode], {
    cwd: new URL('../../', import.meta.url).pathname,
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

describe('tsx src/main.ts', () => {
  it('prints the configuration problems and exits 1 when the environment is incomplete', async () => {
    const child = run({ NODE_ENV: 'test' });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(stderr).toContain('SHOPIFY_API_SECRET: is required');
    expect(stderr).toContain('ENCRYPTION_KEY');
  });

  it('serves, then stops cleanly on SIGTERM', async () => {
    const child = run(testEnv({ LOG_LEVEL: 'info', PORT: '0', HOST: '127.0.0.1', REDIS_KEY_PREFIX: prefix }));
    const logs: Record<string, unknown>[] = [];
    const listening = new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        const entry = JSON.parse(line) as { msg?: string; address?: { port: number } };
        logs.push(entry);
        if (entry.msg === 'listening' && entry.address) resolve(entry.address.port);
      });
      child.once('exit', (code) => reject(new Error(`exited early with ${code}`)));
    });
    const port = await listening;
    const res = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(res.status).toBe(200);
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(logs.map((l) => l.msg)).toContain('stopped');
  });
});
