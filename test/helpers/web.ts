import { Writable } from 'node:stream';
import pino from 'pino';
import { createApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/logger.js';
import { buildDeps, type Deps } from '../../src/main.js';
import { waitForRedis } from '../../src/store/redis.js';
import { dropPrefix, testRedis, uniquePrefix } from './redis.js';
import { testEnv } from './shopify.js';

/** A pino logger that keeps its lines in memory (with the product's redaction) so tests can read them. */
export function memoryLogger(): { logger: Logger; lines: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug' }, stream);
  return { logger, lines: () => chunks.join('') };
}

export interface WebHarness {
  deps: Deps;
  app: ReturnType<typeof createApp>;
  prefix: string;
  /** Closes the deps and drops every key under the prefix. */
  teardown(): Promise<void>;
}

/** The real app on real Redis, under a key prefix of its own. */
export async function webHarness(
  name: string,
  opts: { env?: Record<string, string>; logger?: Logger; waitForRedis?: boolean } = {},
): Promise<WebHarness> {
  const prefix = uniquePrefix(name);
  const config = loadConfig(testEnv({ REDIS_KEY_PREFIX: prefix, ...opts.env }));
  const deps = buildDeps(config, { logger: opts.logger ?? pino({ level: 'silent' }) });
  if (opts.waitForRedis !== false) await waitForRedis(deps.redis);
  const app = createApp(deps);
  return {
    deps,
    app,
    prefix,
    async teardown() {
      await deps.close();
      const admin = testRedis();
      await dropPrefix(admin, prefix);
      await admin.quit();
    },
  };
}
