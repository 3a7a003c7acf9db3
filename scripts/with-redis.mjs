#!/usr/bin/env node
// Runs a command with a Redis it can reach. If REDIS_URL (default redis://127.0.0.1:6379) answers, it is
// used as is. Otherwise, when `redis-server` is on the PATH, a private throw-away Redis is started on a
// free port for the length of the command. With neither, it stops at once and says how to get one.
// With --cluster it also starts a throw-away 3-master Redis Cluster (scripts/redis-cluster.mjs) and hands
// its seeds to the command as TEST_REDIS_CLUSTER_NODES (the test suite's cluster project runs on it).
import { spawn, spawnSync } from 'node:child_process';
import net from 'node:net';
import { freePort, startCluster } from './redis-cluster.mjs';

const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const argv = process.argv.slice(2);
const withCluster = argv[0] === '--cluster';
const [cmd, ...args] = withCluster ? argv.slice(1) : argv;
if (!cmd) {
  console.error('usage: with-redis.mjs [--cluster] <command> [args...]');
  process.exit(2);
}

function ping(redisUrl, timeoutMs = 1000) {
  const u = new URL(redisUrl);
  return new Promise((resolve) => {
    const sock = net.connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) });
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => {
      const pass = decodeURIComponent(u.password || '');
      if (pass) sock.write(`AUTH ${decodeURIComponent(u.username || 'default')} ${pass}\r\n`);
      sock.write('PING\r\n');
    });
    sock.on('data', (d) => done(d.toString().includes('PONG')));
  });
}

let privateRedis;
let env = { ...process.env, REDIS_URL: url };
if (!(await ping(url))) {
  const which = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (which.status !== 0) {
    console.error(
      `No Redis answers at ${url}, and redis-server is not on the PATH.\n` +
        'Start one with:  docker compose up -d redis\n' +
        'or install it (Debian/Ubuntu: apt-get install redis-server), or set REDIS_URL to a Redis you have.',
    );
    process.exit(1);
  }
  const port = await freePort();
  privateRedis = spawn(
    'redis-server',
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--maxmemory-policy',
      'noeviction',
    ],
    { stdio: 'ignore' },
  );
  const privateUrl = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 50 && !(await ping(privateUrl)); i++) await new Promise((r) => setTimeout(r, 100));
  if (!(await ping(privateUrl))) {
    console.error(`Started redis-server on port ${port}, but it does not answer.`);
    privateRedis.kill('SIGKILL');
    process.exit(1);
  }
  console.error(`No Redis at ${url}; using a private redis-server at ${privateUrl} for this run.`);
  env = { ...env, REDIS_URL: privateUrl };
}

let cluster;
if (withCluster && !process.env.TEST_REDIS_CLUSTER_NODES) {
  const which = spawnSync('sh', ['-c', 'command -v redis-server && command -v redis-cli'], {
    encoding: 'utf8',
  });
  if (which.status !== 0) {
    console.error(
      '--cluster needs redis-server and redis-cli on the PATH (Debian/Ubuntu: apt-get install redis-server).',
    );
    privateRedis?.kill('SIGTERM');
    process.exit(1);
  }
  cluster = await startCluster();
  console.error(`Redis Cluster of 3 masters at ${cluster.nodes} for this run.`);
  env = { ...env, TEST_REDIS_CLUSTER_NODES: cluster.nodes };
}

const child = spawn(cmd, args, { stdio: 'inherit', env, shell: process.platform === 'win32' });
const stop = () => {
  privateRedis?.kill('SIGTERM');
  void cluster?.stop();
};
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  stop();
  process.exit(code ?? (signal ? 1 : 0));
});
