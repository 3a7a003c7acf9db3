#!/usr/bin/env node
// A throw-away local Redis Cluster of three masters (no replicas, nothing saved), for the tests and the
// benchmarks. As a module: `const c = await startCluster(); … c.nodes ('127.0.0.1:P1,…'); await c.stop()`.
// Run directly, it starts one, prints REDIS_CLUSTER_NODES=… and keeps it up until Ctrl-C.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cli = (port, ...args) =>
  spawnSync('redis-cli', ['-p', String(port), ...args], { encoding: 'utf8', timeout: 10_000 });

export async function startCluster({ masters = 3 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'redis-cluster-'));
  const ports = [];
  // Cluster bus ports are port + 10000: keep both free by choosing ports below 55536.
  while (ports.length < masters) {
    const p = await freePort();
    if (p < 55_536 && !ports.includes(p)) ports.push(p);
  }
  const procs = ports.map((port) =>
    spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(dir, `nodes-${port}.conf`),
        '--cluster-node-timeout',
        '5000',
        '--dir',
        dir,
        '--save',
        '',
        '--appendonly',
        'no',
        '--maxmemory-policy',
        'noeviction',
      ],
      { stdio: 'ignore' },
    ),
  );
  const stop = async () => {
    for (const p of procs) p.kill('SIGTERM');
    await sleep(200);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const port of ports) {
      for (let i = 0; i < 50 && cli(port, 'ping').stdout?.trim() !== 'PONG'; i++) await sleep(100);
    }
    const create = spawnSync(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((p) => `127.0.0.1:${p}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    if (create.status !== 0)
      throw new Error(`redis-cli --cluster create failed: ${create.stderr || create.stdout}`);
    const ok = (port) => /cluster_state:ok/.test(cli(port, 'cluster', 'info').stdout ?? '');
    for (let i = 0; i < 100 && !ports.every(ok); i++) await sleep(100);
    if (!ports.every(ok)) throw new Error('the cluster did not reach cluster_state:ok');
  } catch (err) {
    await stop();
    throw err;
  }
  return { ports, nodes: ports.map((p) => `127.0.0.1:${p}`).join(','), stop };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const c = await startCluster();
  console.log(`REDIS_CLUSTER_NODES=${c.nodes}`);
  const bye = () => c.stop().then(() => process.exit(0));
  process.on('SIGINT', bye);
  process.on('SIGTERM', bye);
  setInterval(() => {}, 1 << 30);
}
