/**
 * A web process for the benchmarks, in its own Node process.
 *   BENCH_WEB_MODE=app   the real app: buildDeps(loadConfig()) + createApp, as `npm run web` builds it
 *                        (HMAC check, dedupe, enqueue, request logging at LOG_LEVEL, written to stdout).
 *   BENCH_WEB_MODE=bare  the baseline: a bare Express 5 route that reads the raw body and answers 200.
 *   BENCH_WEB_MODE=naive the naive bridge's web side (bench/naive-bridge.ts): raw body, HMAC, JSON.parse,
 *                        SET NX, queue.add; no logging. Its `queued` answers how many deliveries it queued.
 *                        BENCH_NAIVE_SHARD=1: into the bench shop's queue shard (where the naive worker takes
 *                        jobs), else under the plain BullMQ prefix.
 * Listens on 127.0.0.1, port 0; `port` answers the port.
 */

import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { buildDeps } from '../../src/main.js';
import { shardOfShop, shardPrefix } from '../../src/queue/shards.js';
import { createKeys } from '../../src/store/keys.js';
import { createRedis, waitForRedis } from '../../src/store/redis.js';
import { naiveQueue, naiveWebApp } from '../naive-bridge.js';
import { serve } from './child.js';
import { countRedisCommands, redisCommandCounts } from './redis-count.js';
import { BENCH_SHOP } from './shopify.js';

async function main(): Promise<void> {
  countRedisCommands();
  const mode = process.env.BENCH_WEB_MODE;
  let app: express.Express;
  let close = async () => {};
  if (mode === 'bare') {
    app = express();
    app.disable('x-powered-by');
    app.post('/webhooks', express.raw({ type: () => true, limit: '2mb', inflate: false }), (req, res) => {
      res.status(200).json({ status: 'ok', bytes: Buffer.isBuffer(req.body) ? req.body.length : 0 });
    });
  } else if (mode === 'node') {
    // Diagnostic: the bare route without Express (node:http alone), to see what the framework costs.
    app = ((req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const text = JSON.stringify({ status: 'ok', bytes: Buffer.concat(chunks).length });
        res.statusCode = 200;
        res.setHeader('Content-Type', 'application/json; charset=utf-8');
        res.setHeader('Content-Length', Buffer.byteLength(text));
        res.end(text);
      });
    }) as unknown as express.Express;
    app.listen = ((port: number, host: string, cb: (err?: Error) => void) =>
      createServer(app).listen(port, host, () => cb())) as unknown as express.Express['listen'];
  } else if (mode === 'naive') {
    const config = loadConfig();
    const redis = createRedis(config.redis.url, 'request');
    redis.on('error', () => {}); // a write cut off by stop() is not a failure of the run
    await waitForRedis(redis, 10_000);
    const keys = createKeys(config.redis.keyPrefix);
    // Beside a naive worker (benchmark 2) it queues where that worker takes jobs: the bench shop's shard.
    const n = config.redis.queueShards;
    const prefix =
      process.env.BENCH_NAIVE_SHARD === '1'
        ? shardPrefix(keys, shardOfShop(BENCH_SHOP, n), n)
        : keys.bullPrefix;
    const queue = naiveQueue(redis, prefix);
    app = naiveWebApp({ secret: config.shopify.apiSecret, redis, queue, prefix });
    close = async () => {
      await queue.close();
      await redis.quit().catch(() => redis.disconnect());
    };
  } else if (mode === 'app') {
    const config = loadConfig();
    const deps = buildDeps(config);
    await waitForRedis(deps.redis, 10_000);
    app = createApp(deps);
    close = () => deps.close();
  } else {
    throw new Error('BENCH_WEB_MODE must be app, naive or bare');
  }
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(0, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  server.keepAliveTimeout = 30_000;
  let inspector: Session | undefined;
  serve({
    // A CPU profile of a window the caller chooses (not the start-up): profStart, then profStop(file).
    profStart: async () => {
      inspector = new Session();
      inspector.connect();
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
    },
    profStop: async (file: string) => {
      if (!inspector) throw new Error('profStart first');
      const { profile } = await inspector.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      inspector.disconnect();
      inspector = undefined;
    },
    port: () => (server.address() as AddressInfo).port,
    memory: () => process.memoryUsage(),
    cpu: () => process.cpuUsage(),
    redisCounts: (reset?: boolean) => redisCommandCounts(reset === true),
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await close();
    },
  });
}

main().catch((e) => {
  console.error(`web child failed: ${e instanceof Error ? e.message : e}`);
  process.exit(1);
});
