import type { IncomingMessage, ServerResponse } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Redis } from 'ioredis';
import { createItretailAccess, type ItretailAccess } from './admin/itretail-access.js';
import { shopQueueCounts } from './admin/queue-counts.js';
import type { Config } from './config.js';
import { type Logger, scrubSecrets } from './logger.js';
import type { Metrics } from './metrics.js';
import { QueueUnavailableError, withRedis } from './queue/enqueue.js';
import type { SyncQueues } from './queue/shards.js';
import { logOf, requestLogger } from './request-logger.js';
import type { SettingsStore } from './settings.js';
import type { Shopify } from './shopify/api.js';
import { requireSessionToken, shopOf } from './shopify/session-token.js';
import { isWebhookUrl, webhookHandler } from './shopify/webhooks.js';
import type { Keys } from './store/keys.js';
import { createBalanceReader } from './storefront/balance.js';
import { PROXY_PATH, proxyRouter } from './storefront/proxy.js';
import { catchUpStatus } from './sync/catch-up-state.js';
import type { SyncEventStore } from './sync/events.js';
import { Ledger } from './sync/ledger.js';
import { CustomerMatcher } from './sync/matching.js';

export interface AppDeps {
  config: Config;
  logger: Logger;
  /** The fail-fast 'request' connection (no offline queue). */
  redis: Redis;
  keys: Keys;
  /** The sync queue's shards. */
  queue: SyncQueues;
  shopify: Shopify;
  events: SyncEventStore;
  settings: SettingsStore;
  metrics: Metrics;
  /**
   * The web process's IT Retail clients (the admin's, so both share connections and tokens); the app proxy
   * reads live balances with them. Default: clients of its own.
   */
  itretail?: Pick<ItretailAccess, 'clientFor'>;
  /** Mounts further routers (admin API, install, embedded page) before the 404 handler. */
  extraRoutes?: (app: express.Express) => void;
}

/** Latest sync events shown by GET /api/status. */
const STATUS_EVENT_LIMIT = 20;

/** Routes with a fixed label for the request histogram; anything else is 'other' (bounded cardinality). */
function routeLabel(req: Request): string {
  const path = req.route?.path;
  return typeof path === 'string' ? `${req.baseUrl}${path}` : 'other';
}

/** The Express app, without listen(), so tests mount it with supertest. */
export function createApp(deps: AppDeps): express.Express {
  const { logger, metrics, redis, queue } = deps;
  const app = express();
  app.disable('x-powered-by');
  takeWebhooksFirst(app, deps);

  app.use(
    requestLogger(logger, (req, res, seconds) => {
      metrics.observeRequest(req.method, routeLabel(req), res.statusCode, seconds);
    }),
  );

  mountHealth(app, deps);

  metrics.trackQueue(() =>
    redis.status === 'ready'
      ? queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized')
      : Promise.reject(new Error(`Redis is ${redis.status}`)),
  );
  app.get('/metrics', async (_req, res) => {
    res.set('Content-Type', metrics.registry.contentType);
    res.send(await metrics.registry.metrics());
  });

  // The storefront, through Shopify's app proxy ([app_proxy] in shopify.app.toml): signed requests only.
  const itretail =
    deps.itretail ?? createItretailAccess({ config: deps.config, settings: deps.settings, logger });
  app.use(
    PROXY_PATH,
    proxyRouter({
      config: deps.config,
      logger,
      redis,
      keys: deps.keys,
      shopify: deps.shopify,
      settings: deps.settings,
      balances: createBalanceReader({
        redis,
        keys: deps.keys,
        links: new CustomerMatcher(redis, deps.keys, logger),
        clientFor: (shop) => itretail.clientFor(shop),
      }),
      redemptions: { queue, links: new CustomerMatcher(redis, deps.keys, logger) },
    }),
  );

  // The admin API takes JSON bodies; the embedded page's routers mount under /api too.
  app.use('/api', express.json({ limit: '100kb' }));
  app.get('/api/status', requireSessionToken(deps.shopify, { logger }), statusHandler(deps));

  deps.extraRoutes?.(app);

  app.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  app.use(errorHandler(logger));

  return app;
}

/**
 * Takes `POST /webhooks` before Express itself: Express's request set-up, router and body parser cost several
 * times what the route does (bench/README.md), and it needs none of them. The handler reads the raw bytes,
 * gives the request its id and writes its one log line itself; every other request (other methods on the
 * same path included) goes on to Express. `app.handle` is what the app function calls first, whoever calls
 * it (http.createServer(app), supertest, a parent app).
 */
function takeWebhooksFirst(app: express.Express, deps: AppDeps): void {
  const webhook = webhookHandler({
    apiSecret: deps.config.shopify.apiSecret,
    bodyLimitBytes: deps.config.webhookBodyLimitBytes,
    logger: deps.logger,
    redis: deps.redis,
    keys: deps.keys,
    queue: deps.queue,
    metrics: deps.metrics,
  });
  const inner = app as unknown as {
    handle: (req: IncomingMessage, res: ServerResponse, next?: unknown) => void;
  };
  const expressHandle = inner.handle;
  inner.handle = function handle(req, res, next) {
    if (req.method === 'POST' && isWebhookUrl(req.url)) return webhook(req, res);
    return expressHandle.call(this, req, res, next);
  };
}

/** This shop's queue, latest events, uncertain writes and catch-up, for the embedded page's status. */
function statusHandler(deps: AppDeps) {
  const { redis, queue } = deps;
  return async (_req: Request, res: Response) => {
    const shop = shopOf(res);
    try {
      // This shop's jobs only: the queue is shared, and its totals would show other shops' activity.
      const [counts, events, uncertainWrites, catchUp] = await Promise.all([
        withRedis(redis, 'queue counts', () =>
          shopQueueCounts(redis, queue.forShop(shop), shop, undefined, { history: true }),
        ),
        withRedis(redis, 'latest events', () => deps.events.latest(shop, STATUS_EVENT_LIMIT)),
        withRedis(redis, 'uncertain writes', () => new Ledger(redis, deps.keys).uncertainCount(shop)),
        withRedis(redis, 'catch-up status', () => catchUpStatus(redis, deps.keys, shop)),
      ]);
      const { waiting, active, delayed, failed, completed, capped } = counts;
      res.json({
        shop,
        queue: { waiting, active, delayed, failed, completed, ...(capped ? { capped } : {}) },
        // Points writes IT Retail may or may not have applied, each waiting for the merchant's decision.
        uncertainWrites,
        events,
        catchUp,
      });
    } catch (err) {
      if (err instanceof QueueUnavailableError) {
        res.status(503).json({ error: 'Redis unavailable, try again shortly' });
        return;
      }
      throw err;
    }
  };
}

/** Liveness and readiness (Redis answers PING). */
function mountHealth(app: express.Express, deps: AppDeps): void {
  const { logger, redis } = deps;
  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    try {
      await withRedis(redis, 'Redis PING', () => redis.ping());
      res.json({ status: 'ready', redis: 'ok' });
    } catch (err) {
      logOf(res, logger).warn({ err: (err as Error).message }, 'not ready: Redis unavailable');
      res.status(503).json({ status: 'unavailable', redis: 'down' });
    }
  });
}

/** A client error's own message when it may be shown (secrets scrubbed); anything else a logged 500. */
function errorHandler(logger: AppDeps['logger']) {
  return (err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    const e = err as {
      status?: number;
      statusCode?: number;
      type?: string;
      message?: string;
      expose?: boolean;
    };
    const status = e.status ?? e.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      res.status(status).json({ error: e.expose && e.message ? scrubSecrets(e.message) : 'bad request' });
      return;
    }
    logOf(res, logger).error({ err }, 'unhandled error');
    if (res.headersSent) return;
    res.status(500).json({ error: 'internal error', requestId: res.locals.requestId });
  };
}
