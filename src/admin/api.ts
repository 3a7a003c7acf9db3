import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Config } from '../config.js';
import { AppError } from '../errors.js';
import type { Logger } from '../logger.js';
import {
  enqueueAdminJob,
  QUEUE_TIMEOUT_MS,
  QueueUnavailableError,
  withRedis,
  withTimeout,
} from '../queue/enqueue.js';
import type { SyncQueues } from '../queue/shards.js';
import {
  type itretailSettingsSchema,
  itretailSettingsSchemaFor,
  type SettingsPatch,
  type SettingsPolicy,
  type SettingsStore,
  settingsPatchSchemaFor,
} from '../settings.js';
import type { Shopify } from '../shopify/api.js';
import { InstallError, type InstallService } from '../shopify/install.js';
import { requireSessionToken, shopOf } from '../shopify/session-token.js';
import type { Keys } from '../store/keys.js';
import { startCatchUp } from '../sync/catch-up.js';
import { catchUpStatus } from '../sync/catch-up-state.js';
import { SYNC_STATUSES, type SyncEvent, type SyncEventStore, type SyncStatus } from '../sync/events.js';
import { newestHealth, readITRetailHealth } from '../sync/itretail-health.js';
import { dataRequestIndexKey } from '../sync/jobs/privacy.js';
import { Ledger } from '../sync/ledger.js';
import { normalizeEmail } from '../sync/payloads.js';
import { fixFor, problemsOf } from './explain.js';
import { explainItretailError, type ItretailAccess } from './itretail-access.js';
import { readProgress, startLinkExisting } from './link-existing.js';
import { shopQueueCounts } from './queue-counts.js';
import { registerUncertainWriteRoutes } from './uncertain-writes.js';

/**
 * The session-token-protected JSON API of the embedded page. Every route takes the shop from the
 * verified session token (never from the request), so a token for one shop reaches only that shop's data.
 */

export interface CustomerLinks {
  linkedByEmail(shop: string, email: string): Promise<string | undefined>;
  indexLookup(shop: string, email: string): Promise<{ id: string; cardNo: string } | undefined>;
  duplicates(shop: string, email: string): Promise<{ id: string; cardNo: string }[]>;
}

export interface AdminApiDeps {
  config: Config;
  logger: Logger;
  redis: Redis;
  keys: Keys;
  queue: SyncQueues;
  shopify: Shopify;
  events: SyncEventStore;
  settings: SettingsStore;
  install: InstallService;
  itretail: ItretailAccess;
  links: CustomerLinks;
}

/** A request the API refuses, with the message (and per-field messages) the page shows. */
export class BadRequest extends AppError {
  constructor(
    message: string,
    readonly fields?: Record<string, string>,
  ) {
    super(message, { code: 'BAD_REQUEST' });
  }
}

class NotFound extends AppError {
  constructor(message: string) {
    super(message, { code: 'NOT_FOUND' });
  }
}

type Handler = (req: Request, res: Response, shop: string) => Promise<unknown>;

const FIELD_LABELS: Record<string, string> = {
  pointsPerDollar: 'Points per dollar',
  includeTestOrders: 'Include test orders',
  excludeTax: 'Leave tax out',
  excludeGiftCards: 'No points for gift cards',
  includeShipping: 'Give points for shipping',
  orderRetentionDays: 'Keep order details',
  paused: 'Pause sync',
  itretail: 'IT Retail connection',
  'itretail.baseUrl': 'IT Retail base URL',
  'itretail.username': 'IT Retail username',
  'itretail.password': 'IT Retail password',
  'itretail.token': 'IT Retail API token',
  redemption: 'Redemption rules',
  'redemption.enabled': 'Redemption on',
  'redemption.pointsPerUnit': 'Points per currency unit',
  'redemption.minimumPoints': 'Minimum points',
  'redemption.stepPoints': 'Step',
  'redemption.maximumPoints': 'Maximum points per redemption',
  'redemption.codeLifetimeDays': 'Code lifetime (days)',
  'redemption.giveBackExpired': 'Give back expired codes',
  'redemption.currency': 'Currency',
};

function fieldsOf(error: z.ZodError, base: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        const path = [...base, ...issue.path.map(String), k].join('.');
        out[path] = `"${path}" is not a setting`;
      }
      continue;
    }
    const path = [...base, ...issue.path.map(String)].join('.') || 'body';
    const label = FIELD_LABELS[path] ?? path;
    out[path] ??= `${label} ${issue.message}`;
  }
  return out;
}

function summary(fields: Record<string, string>): string {
  return Object.values(fields).join(' ');
}

/** IT Retail credentials from the page: a username/password pair or a token, each with an optional base URL. */
function parseItretail(value: unknown, policy: SettingsPolicy): z.infer<typeof itretailSettingsSchema> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new BadRequest('IT Retail connection must be an object.', {
      itretail: 'IT Retail connection must be {baseUrl?, username, password} or {baseUrl?, token}.',
    });
  }
  const [passwordForm, tokenForm] = itretailSettingsSchemaFor(policy).options;
  const form = 'token' in value ? tokenForm : passwordForm;
  const parsed = form.safeParse(value);
  if (!parsed.success) {
    const fields = fieldsOf(parsed.error, ['itretail']);
    throw new BadRequest(summary(fields), fields);
  }
  return parsed.data;
}

/** Validates a PUT /api/settings body completely before anything is saved. */
export function parseSettingsPatch(body: unknown, policy: SettingsPolicy): SettingsPatch {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequest('Send the settings as a JSON object.', {
      body: 'Send the settings as a JSON object.',
    });
  }
  const { itretail, ...rest } = body as Record<string, unknown>;
  const fields: Record<string, string> = {};
  const parsed = settingsPatchSchemaFor(policy).safeParse(rest);
  if (!parsed.success) Object.assign(fields, fieldsOf(parsed.error));
  let creds: SettingsPatch['itretail'];
  if (itretail === null) creds = null;
  else if (itretail !== undefined) {
    try {
      creds = parseItretail(itretail, policy);
    } catch (err) {
      if (err instanceof BadRequest) Object.assign(fields, err.fields);
      else throw err;
    }
  }
  if (Object.keys(fields).length || !parsed.success) throw new BadRequest(summary(fields), fields);
  return { ...parsed.data, ...(itretail !== undefined ? { itretail: creds } : {}) };
}

const listQuerySchema = z.object({
  status: z
    .enum(SYNC_STATUSES as [SyncStatus, ...SyncStatus[]], { error: 'must be applied, skipped or failed' })
    .optional(),
  topic: z
    .string()
    .regex(/^[a-z_]+\/[a-z_-]+$/, 'must look like orders/paid')
    .optional(),
  cursor: z.string().max(200, 'is too long').optional(),
  limit: z.coerce
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .optional(),
});

function parseQuery<T>(schema: z.ZodType<T>, query: unknown): T {
  const clean = Object.fromEntries(
    Object.entries((query ?? {}) as Record<string, unknown>).filter(([, v]) => v !== '' && v !== undefined),
  );
  const parsed = schema.safeParse(clean);
  if (!parsed.success) {
    const fields = fieldsOf(parsed.error);
    throw new BadRequest(summary(fields), fields);
  }
  return parsed.data;
}

/** Data request reports listed at most (newest first). */
const DATA_REQUEST_LIST_MAX = 100;
/** The report starts `{"generatedAt":…,"shop":…,"customer":{"shopifyCustomerId":…`: its head names both. */
const REPORT_HEAD_BYTES = 1024;

export interface DataRequestSummary {
  id: string;
  /** When the report was prepared. */
  at?: string;
  shopifyCustomerId?: string;
}

function jsonStringField(head: string, name: string): string | undefined {
  const m = new RegExp(`"${name}":("(?:[^"\\\\]|\\\\.)*")`).exec(head);
  if (!m?.[1]) return undefined;
  try {
    return JSON.parse(m[1]) as string;
  } catch {
    return undefined;
  }
}

/**
 * The customers/data_request reports the worker keeps (30 days) under `data-request:<request id>`, newest
 * first, from the per-shop index the worker writes with each report. Only the head of each report is read.
 */
export async function listDataRequests(
  redis: Redis,
  keys: Keys,
  shop: string,
): Promise<{ requests: DataRequestSummary[]; complete: boolean }> {
  const index = dataRequestIndexKey(keys, shop);
  const [ids, total] = await Promise.all([
    redis.zrevrange(index, 0, DATA_REQUEST_LIST_MAX - 1),
    redis.zcard(index),
  ]);
  const tx = redis.pipeline();
  for (const id of ids) tx.getrange(keys.shop(shop, 'data-request', id), 0, REPORT_HEAD_BYTES - 1);
  const heads = (await tx.exec()) ?? [];
  const reports: DataRequestSummary[] = [];
  ids.forEach((id, i) => {
    const head = heads[i]?.[1];
    if (typeof head !== 'string' || head === '') return; // expired meanwhile
    reports.push({
      id,
      at: jsonStringField(head, 'generatedAt'),
      shopifyCustomerId: jsonStringField(head, 'shopifyCustomerId'),
    });
  });
  return { requests: reports, complete: total <= DATA_REQUEST_LIST_MAX };
}

function dataRequestIdFrom(value: unknown): string {
  const id = String(value ?? '');
  if (!id || id.length > 300 || id.includes(':') || /[\s\p{Cc}]/u.test(id)) {
    throw new BadRequest('Unknown data request.');
  }
  return id;
}

function emailFrom(value: unknown): string {
  const email = typeof value === 'string' ? normalizeEmail(value) : undefined;
  if (!email || email.length > 320 || /\s/.test(email)) {
    throw new BadRequest('Enter a valid email address.', { email: 'Enter a valid email address.' });
  }
  return email;
}

/** Which orders a customer's points came from: net points per order from the applied events. */
export function ordersFromEvents(events: SyncEvent[]) {
  const byOrder = new Map<
    string,
    {
      shopifyOrderId: string;
      orderName?: string;
      points: number;
      lastAt: string;
      lastTopic: string;
      lastStatus: string;
    }
  >();
  for (const e of [...events].sort((a, b) => a.at.localeCompare(b.at))) {
    if (!e.shopifyOrderId) continue;
    const o = byOrder.get(e.shopifyOrderId) ?? {
      shopifyOrderId: e.shopifyOrderId,
      orderName: e.orderName,
      points: 0,
      lastAt: e.at,
      lastTopic: e.topic,
      lastStatus: e.status,
    };
    if (e.status === 'applied' && typeof e.pointsDelta === 'number') o.points += e.pointsDelta;
    o.orderName ??= e.orderName;
    o.lastAt = e.at;
    o.lastTopic = e.topic;
    o.lastStatus = e.status;
    byOrder.set(e.shopifyOrderId, o);
  }
  return [...byOrder.values()].sort((a, b) => b.lastAt.localeCompare(a.lastAt));
}

export function adminApiRouter(deps: AdminApiDeps): express.Router {
  // A merchant's IT Retail URL is fetched by this server: loopback only outside production.
  const settingsPolicy: SettingsPolicy = { allowLoopbackBaseUrl: deps.config.nodeEnv !== 'production' };
  const { redis, keys, queue, events, settings, install, itretail, links, logger } = deps;
  const router = express.Router();
  const enqueueCtx = { redis, keys, queue };

  router.use(requireSessionToken(deps.shopify, { logger }));

  // Shopify-managed installation: the first authenticated call of a shop without an offline token
  // exchanges the page's session token for one. A failure is reported, not fatal: the page still works.
  router.use(async (req, res, next) => {
    const shop = shopOf(res);
    const token = /^Bearer\s+(\S+)/i.exec(req.get('authorization') ?? '')?.[1] ?? '';
    try {
      await install.ensureOfflineSession(shop, token);
      res.locals.shopifyAccess = { ok: true };
    } catch (err) {
      res.locals.shopifyAccess = {
        ok: false,
        message: err instanceof InstallError ? err.message : 'Could not get an access token from Shopify.',
      };
    }
    next();
  });

  const route =
    (fn: Handler): RequestHandler =>
    async (req, res, next: NextFunction) => {
      try {
        const out = await fn(req, res, shopOf(res));
        if (!res.headersSent) res.json(out);
      } catch (err) {
        if (err instanceof BadRequest) {
          res.status(400).json({ error: err.message, fields: err.fields });
        } else if (err instanceof NotFound) {
          res.status(404).json({ error: err.message });
        } else if (err instanceof QueueUnavailableError) {
          res
            .status(503)
            .json({ error: 'The app cannot reach its database right now. Try again in a minute.' });
        } else if (err instanceof InstallError) {
          res.status(err.status).json({ error: err.message });
        } else {
          next(err);
        }
      }
    };

  const guard = <T>(p: Promise<T>, what: string) => withTimeout(p, QUEUE_TIMEOUT_MS * 2, what);

  router.get(
    '/overview',
    route(async (_req, res, shop) => {
      const redisOk = await guard(redis.ping(), 'Redis PING').then(
        () => true,
        () => false,
      );
      if (!redisOk) throw new QueueUnavailableError('Redis did not answer');
      const [
        pub,
        counts,
        hourly,
        pointsToday,
        failures,
        uncertainWrites,
        lastApplied,
        linked,
        webHealth,
        workerHealth,
      ] = await Promise.all([
        settings.publicView(shop),
        guard(shopQueueCounts(redis, queue.forShop(shop), shop), 'queue counts'),
        events.hourly(shop, 24),
        events.pointsToday(shop),
        events.failures(shop, { limit: 1 }),
        new Ledger(redis, keys).uncertainCount(shop),
        events.list(shop, { status: 'applied', limit: 1 }),
        redis.hlen(keys.shop(shop, 'link', 'email')),
        itretail.health(shop).catch(() => undefined),
        readITRetailHealth(redis, keys, shop).catch(() => ({})),
      ]);
      // The newest of what this page's own check saw and what the workers' calls saw.
      const health = { ...webHealth, ...newestHealth(webHealth, workerHealth) };
      const itr = {
        configured: pub.itretail.configured,
        source: pub.itretail.source,
        baseUrl: pub.itretail.baseUrl,
        lastOkAt: health?.lastOkAt,
        lastError: health?.lastError,
        token: health?.token ?? 'none',
        check: health?.check,
      };
      const queueCounts = {
        waiting: counts.waiting,
        active: counts.active,
        delayed: counts.delayed,
        capped: counts.capped,
      };
      return {
        shop,
        installed: pub.installed,
        paused: pub.paused,
        itretail: itr,
        redis: { ok: redisOk },
        queue: queueCounts,
        failures: failures.total,
        uncertainWrites,
        customersLinked: linked,
        pointsToday,
        hourly,
        lastAppliedAt: lastApplied.events[0]?.at,
        problems: problemsOf({
          installed: pub.installed,
          paused: pub.paused,
          itretail: itr,
          redisOk,
          shopifyAccess: res.locals.shopifyAccess,
          queue: queueCounts,
          failures: failures.total,
          uncertainWrites,
          latestFailureCode: failures.failures[0]?.errorCode,
        }),
      };
    }),
  );

  router.get(
    '/events',
    route(async (req, _res, shop) => {
      const q = parseQuery(listQuerySchema, req.query);
      return events.list(shop, { ...q, limit: q.limit ?? 50 });
    }),
  );

  router.get(
    '/failures',
    route(async (req, _res, shop) => {
      const q = parseQuery(listQuerySchema.pick({ cursor: true, limit: true }), req.query);
      const page = await events.failures(shop, { cursor: q.cursor, limit: q.limit ?? 25 });
      const failures = await Promise.all(
        page.failures.map(async (f) => {
          const state = f.jobId ? await queue.forShop(shop).getJobState(f.jobId) : 'unknown';
          // A job held for a decision runs again by itself once the change it waits for is decided.
          const held = f.errorCode === 'AWAITING_DECISION' && state === 'failed';
          const retryable = !held && (state === 'failed' || state === 'delayed');
          return {
            ...f,
            fix: fixFor(f.errorCode),
            jobState: state,
            retryable,
            retryNote: retryable
              ? undefined
              : held
                ? 'Runs again once the change above is decided.'
                : state === 'unknown'
                  ? 'No longer kept (failed jobs are kept 14 days).'
                  : 'Retrying now.',
          };
        }),
      );
      return { failures, nextCursor: page.nextCursor, total: page.total };
    }),
  );

  /** Runs one failed job again: BullMQ retry (or promote, when it waits for its backoff), and clears the failure. */
  async function retryJob(shop: string, jobId: string): Promise<'retried' | 'promoted' | 'running' | 'gone'> {
    const job = await queue.forShop(shop).getJob(jobId);
    if (!job || job.data?.shop !== shop) return 'gone';
    const state = await job.getState();
    let outcome: 'retried' | 'promoted' | 'running';
    if (state === 'failed') {
      // Fresh attempts: otherwise attemptsMade stays at its final value, so the next error would be final
      // (no backoff, no waiting out a busy customer lock).
      await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
      outcome = 'retried';
    } else if (state === 'delayed') {
      await job.promote();
      outcome = 'promoted';
    } else if (state === 'completed') {
      outcome = 'running';
    } else {
      outcome = 'running';
    }
    await events.clearFailure(shop, jobId);
    logger.info({ shop, jobId, outcome }, 'failed job retried from the admin page');
    return outcome;
  }

  registerUncertainWriteRoutes(router, { redis, keys, logger, retryJob, route });

  router.post(
    '/failures/retry-all',
    route(async (_req, _res, shop) => {
      let retried = 0;
      let gone = 0;
      let cursor: string | undefined;
      const seen = new Set<string>();
      // Collect first: retrying clears failures, which would move the cursor under our feet.
      const ids: string[] = [];
      do {
        const page = await events.failures(shop, { cursor, limit: 100 });
        for (const f of page.failures) {
          if (!f.jobId || seen.has(f.jobId)) continue;
          seen.add(f.jobId);
          ids.push(f.jobId);
        }
        cursor = page.nextCursor;
      } while (cursor && ids.length < 10_000);
      for (const id of ids) {
        const outcome = await retryJob(shop, id);
        if (outcome === 'gone') gone++;
        else retried++;
      }
      return { retried, gone };
    }),
  );

  router.post(
    '/failures/:jobId/retry',
    route(async (req, _res, shop) => {
      const jobId = String(req.params.jobId ?? '');
      if (!jobId || jobId.length > 300) throw new BadRequest('Unknown job.');
      const outcome = await retryJob(shop, jobId);
      if (outcome === 'gone') {
        throw new NotFound(
          'This job is no longer kept or does not belong to this shop; it cannot be retried.',
        );
      }
      return { ok: true, outcome };
    }),
  );

  router.get(
    '/customers',
    route(async (req, _res, shop) => {
      const email = emailFrom(req.query.email);
      const linked = await links.linkedByEmail(shop, email);
      const indexed = linked ? undefined : await links.indexLookup(shop, email);
      const itrId = linked ?? indexed?.id;
      let itretailCustomer: Record<string, unknown> | null = null;
      let itretailMessage: string | undefined;
      if (!itrId) {
        itretailMessage = 'Not linked to an IT Retail customer yet. Resync finds or creates one.';
      } else {
        const client = await itretail.clientFor(shop);
        if (!client) itretailMessage = 'IT Retail is not connected; set it up under Settings.';
        else {
          try {
            const rec = await client.getCustomer(itrId);
            if (!rec)
              itretailMessage =
                'The linked IT Retail customer no longer exists. Resync matches the customer again.';
            else {
              itretailCustomer = {
                id: rec.Id,
                name: [rec.FirstName, rec.LastName].filter(Boolean).join(' '),
                email: rec.Email ?? undefined,
                cardNo: rec.CardNo ?? undefined,
                loyaltyPoints: rec.LoyaltyPoints ?? 0,
                deleted: rec.Deleted === true,
              };
            }
          } catch (err) {
            itretailMessage = `Could not read the live balance: ${explainItretailError(err).message}`;
          }
        }
      }
      const dups = (await links.duplicates(shop, email)).filter((d) => d.id !== itrId);
      const history = itrId ? await events.forCustomer(shop, { itretailCustomerId: itrId }, 200) : [];
      return {
        email,
        link: itrId ? { itretailCustomerId: itrId, via: linked ? 'link' : 'index' } : null,
        itretail: itretailCustomer,
        itretailMessage,
        duplicates: dups,
        orders: ordersFromEvents(history),
        events: history.slice(0, 50),
      };
    }),
  );

  router.post(
    '/customers/resync',
    route(async (req, _res, shop) => {
      const email = emailFrom((req.body as { email?: unknown } | undefined)?.email);
      const { jobId } = await enqueueAdminJob(enqueueCtx, {
        kind: 'resync-customer',
        shop,
        email,
        requestedAt: new Date().toISOString(),
      });
      return { ok: true, jobId };
    }),
  );

  router.get(
    '/data-requests',
    route(async (_req, _res, shop) => listDataRequests(redis, keys, shop)),
  );

  router.get(
    '/data-requests/:id',
    route(async (req, res, shop) => {
      const id = dataRequestIdFrom(req.params.id);
      const report = await redis.get(keys.shop(shop, 'data-request', id));
      if (report === null) {
        throw new NotFound('This data request report does not exist or is no longer kept (30 days).');
      }
      const filename = `data-request-${id.replace(/[^A-Za-z0-9._-]/g, '_')}.json`;
      res
        .status(200)
        .set('Content-Type', 'application/json; charset=utf-8')
        .set('Content-Disposition', `attachment; filename="${filename}"`)
        .set('Cache-Control', 'no-store')
        .send(report);
    }),
  );

  router.get(
    '/settings',
    route(async (_req, _res, shop) => settings.publicView(shop)),
  );

  router.put(
    '/settings',
    route(async (req, _res, shop) => {
      const patch = parseSettingsPatch(req.body, settingsPolicy);
      try {
        await settings.update(shop, patch);
      } catch (err) {
        // Redemption rules that do not fit together once applied to the saved ones (e.g. minimum > maximum).
        if (!(err instanceof z.ZodError)) throw err;
        const fields = fieldsOf(err);
        throw new BadRequest(summary(fields), fields);
      }
      logger.info({ shop, fields: Object.keys(patch) }, 'settings changed');
      return settings.publicView(shop);
    }),
  );

  router.post(
    '/settings/test-connection',
    route(async (req, _res, shop) => {
      const body = (req.body ?? {}) as { itretail?: unknown };
      let target = await itretail.targetFor(shop);
      if (body.itretail !== undefined && body.itretail !== null) {
        const c = parseItretail(body.itretail, settingsPolicy);
        const saved = await settings.get(shop);
        target = {
          baseUrl: c.baseUrl ?? saved.itretail?.baseUrl ?? deps.config.itretail.baseUrl,
          credentials:
            'token' in c
              ? { kind: 'token', token: c.token }
              : { kind: 'password', username: c.username, password: c.password },
        };
      }
      if (!target) {
        return { ok: false, message: 'Enter a username and password (or an API token) first.' };
      }
      return itretail.test(target);
    }),
  );

  /** Answers 409 (and true) when the shop has no Shopify access token, which the Admin API jobs need. */
  function refusedWithoutShopifyAccess(res: Response): boolean {
    const access = res.locals.shopifyAccess as { ok: boolean; message?: string } | undefined;
    if (!access || access.ok) return false;
    res
      .status(409)
      .json({ error: access.message ?? 'The app has no Shopify access token for this shop yet.' });
    return true;
  }

  router.get(
    '/link-existing',
    route(async (_req, _res, shop) => readProgress(redis, keys, shop)),
  );

  router.post(
    '/link-existing',
    route(async (_req, res, shop) => {
      if (refusedWithoutShopifyAccess(res)) return;
      if (!(await itretail.targetFor(shop))) {
        throw new BadRequest('Connect IT Retail under Settings first.');
      }
      const { progress } = await startLinkExisting(enqueueCtx, shop);
      return progress;
    }),
  );

  router.post(
    '/catch-up',
    route(async (_req, res, shop) => {
      if (refusedWithoutShopifyAccess(res)) return;
      const { jobId, started } = await withRedis(redis, 'start catch-up', () =>
        startCatchUp(enqueueCtx, shop),
      );
      const catchUp = await withRedis(redis, 'catch-up status', () => catchUpStatus(redis, keys, shop));
      logger.info({ shop, jobId, started }, 'catch-up requested from the admin page');
      res.status(202).json({ jobId, started, catchUp });
    }),
  );

  router.use((_req, res) => {
    res.status(404).json({ error: 'not found' });
  });

  return router;
}
