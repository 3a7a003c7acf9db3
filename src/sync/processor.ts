import { DelayedError, type Job, type Queue, UnrecoverableError } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import {
  AuthenticationError,
  isITRetailError,
  UnavailableError,
  WriteOutcomeUnknownError,
} from '../itretail/errors.js';
import { scrubSecrets } from '../logger.js';
import type { AdminJobData, SyncJobData, WebhookJobData } from '../queue/jobs.js';
import { removeFinishedJobs } from '../queue/redact.js';
import type { SyncQueues } from '../queue/shards.js';
import type { ShopSettings } from '../settings.js';
import type { Keys } from '../store/keys.js';
import { scanKeys } from '../store/redis.js';
import { markRecovered, RECOVERED_REASON } from './catch-up-state.js';
import { CredentialsMissingError } from './clients.js';
import {
  type CustomerOutcome,
  customerUpdatedKey,
  EmailOfAnotherCustomerError,
  syncCustomer,
} from './customers.js';
import type { NewSyncEvent, SyncEvent } from './events.js';
import { AwaitingDecisionError, type StagedRecord, WriteInFlightError } from './ledger.js';
import { LockBusyError, LockLostError, type LockOptions } from './locks.js';
import {
  AbsenceUnconfirmedError,
  CustomerMatcher,
  MatchError,
  type MatcherOptions,
  type SyncClient,
} from './matching.js';
import { MoneyFormatError } from './money.js';
import { type FetchOrderSnapshot, handleOrderTopic, InvalidRefundError } from './order-jobs.js';
import {
  BUYER_FIELDS,
  InvalidOrderError,
  orderKey,
  ordersByCustomerKey,
  ordersByEmailKey,
} from './order-state.js';
import { type CustomerPayload, normalizeEmail, parsePayload, timeMs } from './payloads.js';
import { type OrderMerge, type ReconcileDeps, type ReconcileOutcome, reconcileOrder } from './reconcile.js';

/**
 * Turns one queued job into exactly one recorded sync event: applied, skipped with a reason, or (once no
 * retry is left, or the failure is permanent) failed with a plain-words error. Retryable trouble throws so
 * BullMQ retries with backoff; waiting that is nobody's fault (a paused shop, a lock held by another job,
 * IT Retail asking for a pause with Retry-After) moves the job to delayed without using up an attempt.
 */

export interface SyncDeps {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  settings: {
    get(shop: string): Promise<ShopSettings>;
    /** The settings and the PTTL of another key of the shop, in one round trip. */
    getWithPttl?(shop: string, key: string): Promise<{ settings: ShopSettings; pttl: number }>;
    /** As of `atMs`; false (nothing changed) when the shop was installed after that moment. */
    markUninstalled(shop: string, atMs?: number): Promise<boolean>;
    /** As of `atMs`; with ifAfterUninstall, only when `atMs` is later than the recorded uninstall. */
    markInstalled(shop: string, atMs?: number, opts?: { ifAfterUninstall?: boolean }): Promise<void>;
    erase(shop: string): Promise<void>;
    /** Every known shop (for the scheduled index refresh). */
    listShops?(): Promise<string[]>;
    remember?(shop: string): Promise<void>;
  };
  events: {
    record(e: NewSyncEvent): Promise<SyncEvent>;
    /** The event's writes, for the MULTI of the ledger commit that makes it true (see SyncEventStore). */
    stage?(e: NewSyncEvent): StagedRecord & { value: SyncEvent };
    eraseCustomer(shop: string, shopifyCustomerId: string): Promise<void>;
    forCustomer?(shop: string, ids: { shopifyCustomerId?: string }, limit?: number): Promise<SyncEvent[]>;
  };
  /** The IT Retail client for a shop (see ClientRegistry.clientFor); throws CredentialsMissingError. */
  clientFor(shop: string, settings: ShopSettings): SyncClient;
  /**
   * The sync queue (or its shards), so customers/redact and shop/redact can remove finished jobs' copies of
   * the payload, and the catch-up can queue the orders it reads.
   */
  queue?:
    | Pick<Queue<SyncJobData>, 'getJobs' | 'add'>
    | (Pick<SyncQueues, 'add'> & {
        forShop(shop: string): Pick<Queue<SyncJobData>, 'getJobs' | 'opts' | 'toKey'>;
      });
  /**
   * Reads one order from Shopify's Admin API (REST-shaped, as orders/updated carries it). When provided, an
   * orders/edited and a refund for an order compacted after the retention horizon read the order through
   * it; when absent they are skipped with that reason and the order is listed as needing the read.
   */
  fetchOrderSnapshot?: FetchOrderSnapshot;
  /** Called after app/uninstalled (e.g. to close the shop's client). */
  onUninstalled?(shop: string): Promise<void>;
  matcher?: CustomerMatcher;
  matcherOptions?: MatcherOptions;
  customerLock?: LockOptions;
  orderLock?: LockOptions;
  /** How long a Put may still be in flight after its intent (default 35 000 ms; see CustomerWriteDeps). */
  writeInFlightMs?: number;
  /** A paused shop's jobs are put back this far in the future (default 60 000 ms). */
  pausedDelayMs?: number;
  /** A job that found a lock busy is put back this far (jittered ×0.5–1.5; default 500 ms). */
  lockBusyDelayMs?: number;
  /** Delays without an attempt used, at most this many per job before they count as failures (default 100). */
  maxDeferrals?: number;
}

export type JobOutcome = Omit<NewSyncEvent, 'shop' | 'topic' | 'jobId' | 'attempts'> & {
  status: 'applied' | 'skipped';
  /** Logged but not recorded as a sync event (routine work that changed nothing, e.g. a scheduled catch-up). */
  quiet?: boolean;
  /** Already recorded (with the ledger commit): the event as stored. */
  recorded?: SyncEvent;
};

export type AdminJobHandler = (job: Job<AdminJobData>, ctx: ProcessorContext) => Promise<JobOutcome>;

export interface ProcessorContext {
  deps: SyncDeps;
  reconcile: ReconcileDeps;
  matcher: CustomerMatcher;
  settings: ShopSettings;
  client(): SyncClient;
  /** The job's first run: nothing of it can have been done before. */
  firstRun?: boolean;
  /** The job's event for this outcome, to be written with the ledger commit (undefined: recorded after). */
  stageEvent?(o: JobOutcome): (StagedRecord & { value: SyncEvent }) | undefined;
}

const adminHandlers = new Map<string, AdminJobHandler>();

/** Lets another part of the app handle an admin job kind (e.g. 'link-existing'). */
export function registerAdminJobHandler(kind: AdminJobData['kind'], fn: AdminJobHandler): void {
  adminHandlers.set(kind, fn);
}

/** Thrown for failures no retry can fix: the job fails at once, with this message shown to the merchant. */
export class PermanentJobError extends Error {
  readonly code: string;
  constructor(message: string, code = 'PERMANENT') {
    super(message);
    this.name = 'PermanentJobError';
    this.code = code;
  }
}

/** Topics that still run after the app was uninstalled (privacy duties outlive the install). */
const AFTER_UNINSTALL = new Set([
  'app/uninstalled',
  'customers/redact',
  'shop/redact',
  'customers/data_request',
]);
/** Topics a paused shop holds back. */
const PAUSABLE = new Set([
  'orders/paid',
  'orders/updated',
  'orders/edited',
  'orders/cancelled',
  'refunds/create',
  'customers/create',
  'customers/update',
]);

interface Classified {
  permanent: boolean;
  message: string;
  code?: string;
  deferMs?: number;
  /** IT Retail asked the whole shop to wait (429 Retry-After): every worker holds the shop back. */
  throttlesShop?: boolean;
}

/** Plain words for the admin page; never a token or a password. */
export function classifyError(e: unknown): Classified {
  const msg = (m: string) => scrubSecrets(m);
  if (e instanceof PermanentJobError) return { permanent: true, message: msg(e.message), code: e.code };
  if (e instanceof CredentialsMissingError) return { permanent: true, message: e.message, code: e.code };
  if (e instanceof MoneyFormatError || e instanceof InvalidOrderError) {
    return { permanent: true, message: msg(e.message), code: e.code };
  }
  if (e instanceof AwaitingDecisionError || e instanceof EmailOfAnotherCustomerError) {
    return { permanent: true, message: e.message, code: e.code };
  }
  if (e instanceof WriteInFlightError) {
    return {
      permanent: false,
      message: e.message,
      code: e.code,
      deferMs: Math.max(50, e.untilMs - Date.now()),
    };
  }
  if (e instanceof AbsenceUnconfirmedError) return { permanent: false, message: e.message, code: e.code };
  if (e instanceof LockBusyError) return { permanent: false, message: e.message, code: e.code };
  if (e instanceof LockLostError) return { permanent: false, message: e.message, code: e.code };
  if (e instanceof MatchError) return { permanent: !e.retryable, message: msg(e.message), code: e.code };
  if (isITRetailError(e)) {
    if (e instanceof AuthenticationError && e.retryable) {
      return {
        permanent: false,
        code: e.code,
        message:
          'IT Retail refused a freshly issued token (maintenance, or the login lacks API access); retrying',
      };
    }
    if (e instanceof AuthenticationError) {
      return {
        permanent: true,
        code: e.code,
        message: 'IT Retail refused the credentials; check them in Settings',
      };
    }
    if (e instanceof WriteOutcomeUnknownError) {
      return {
        permanent: false,
        code: e.code,
        message: 'IT Retail did not confirm a change; it is checked before anything else is written',
      };
    }
    if (e instanceof UnavailableError) {
      return {
        permanent: false,
        code: e.code,
        message: `IT Retail is not answering (${msg(e.message)})`,
        deferMs: e.retryAfterMs,
        throttlesShop: e.retryAfterMs !== undefined,
      };
    }
    const detail = e.serviceMessage ? `: ${msg(e.serviceMessage)}` : ` (${msg(e.message)})`;
    return { permanent: !e.retryable, code: e.code, message: `IT Retail refused the request${detail}` };
  }
  const m = e instanceof Error ? e.message : String(e);
  return { permanent: false, message: msg(m), code: 'INTERNAL' };
}

/** Set while IT Retail's Retry-After for the shop runs; its TTL is the time left. */
export const throttleKey = (keys: Keys, shop: string) => keys.shop(shop, 'itretail-throttle');

export function createProcessor(deps: SyncDeps) {
  const matcher =
    deps.matcher ?? new CustomerMatcher(deps.redis, deps.keys, deps.logger, deps.matcherOptions);
  const reconcile: ReconcileDeps = {
    redis: deps.redis,
    keys: deps.keys,
    matcher,
    logger: deps.logger,
    customerLock: deps.customerLock,
    orderLock: deps.orderLock,
    writeInFlightMs: deps.writeInFlightMs,
    onRegisterRestored: async (shop, r) => {
      await deps.events.record({
        shop,
        topic: 'itretail/register-restore',
        status: 'applied',
        reason: `register change of ${r.amount > 0 ? '+' : ''}${r.amount} restored`,
        itretailCustomerId: r.itrCustomerId,
        cardNo: r.cardNo,
        shopifyOrderId: r.orderId,
        pointsBefore: r.pointsBefore,
        pointsDelta: r.pointsAfter - r.pointsBefore,
        pointsAfter: r.pointsAfter,
      });
    },
  };
  const maxDeferrals = deps.maxDeferrals ?? 100;

  return async function process(job: Job<SyncJobData>, token?: string): Promise<SyncEvent | undefined> {
    const started = Date.now();
    const data = job.data;
    const fromCatchUp = data.kind === 'webhook' && data.source === 'catch-up';
    const topic =
      data.kind === 'webhook' ? `${fromCatchUp ? 'catch-up/' : ''}${data.topic}` : `admin/${data.kind}`;
    const base = { shop: data.shop, topic, jobId: job.id };
    const defer = async (ms: number): Promise<never> => {
      await job.moveToDelayed(Date.now() + Math.max(1, Math.round(ms)), token);
      throw new DelayedError();
    };
    let context: Partial<NewSyncEvent> = {};
    try {
      const callsITRetail = data.kind !== 'webhook' || PAUSABLE.has(data.topic);
      // Settings are read fresh for every job (a pause, an uninstall, new credentials or a new rate apply
      // to the very next job); the throttle is read alongside, so both cost one network wait.
      const both =
        callsITRetail && deps.settings.getWithPttl
          ? deps.settings.getWithPttl(data.shop, throttleKey(deps.keys, data.shop))
          : undefined;
      const throttle = both
        ? both.then((b) => b.pttl)
        : callsITRetail
          ? deps.redis.pttl(throttleKey(deps.keys, data.shop))
          : undefined;
      throttle?.catch(() => undefined);
      let settings = both ? (await both).settings : await deps.settings.get(data.shop);
      if (settings.erasedAt && erasedBefore(data, settings.erasedAt)) {
        // Erased by shop/redact after this was queued: nothing is written for the shop, not even an event.
        deps.logger.info({ ...base }, 'job of an erased shop skipped');
        return undefined;
      }
      if (!settings.installed && !(data.kind === 'webhook' && AFTER_UNINSTALL.has(data.topic))) {
        // Shopify sends webhooks only to an installed app: one triggered after the uninstall proves the app
        // was installed again (before anyone opened its page). One triggered before it is skipped.
        const moment = data.kind === 'webhook' ? webhookMoment(data) : undefined;
        const uninstalledAt = timeMs(settings.uninstalledAt);
        if (moment === undefined || uninstalledAt === undefined || moment <= uninstalledAt) {
          return await finish({ status: 'skipped', reason: 'app uninstalled' });
        }
        await deps.settings.markInstalled(data.shop, moment, { ifAfterUninstall: true });
        settings = await deps.settings.get(data.shop);
        if (!settings.installed) return await finish({ status: 'skipped', reason: 'app uninstalled' });
        deps.logger.info({ ...base }, 'webhook triggered after the uninstall: the app is installed again');
      }
      if (settings.paused && callsITRetail) {
        await defer(deps.pausedDelayMs ?? 60_000);
      }
      // IT Retail asked this shop's traffic to slow down (429 + Retry-After): every worker holds the
      // shop's jobs back until then, instead of each one calling and being refused again.
      if (throttle) {
        const wait = await throttle;
        if (wait > 0) await defer(wait + Math.random() * 250);
      }
      const ctx: ProcessorContext = {
        deps,
        reconcile,
        matcher,
        settings,
        client: () => deps.clientFor(data.shop, settings),
        // Each start (a retry, a stalled job taken back, a deferral) counts in attemptsStarted.
        firstRun: (job.attemptsStarted ?? 2) <= 1 && (job.attemptsMade ?? 1) === 0,
        stageEvent:
          fromCatchUp || !deps.events.stage
            ? undefined
            : (o) => deps.events.stage?.({ ...base, ...context, ...o, attempts: job.attemptsMade + 1 }),
      };
      const outcome =
        data.kind === 'webhook'
          ? await handleWebhook(data, ctx, job.id, (c) => {
              context = { ...context, ...c };
            })
          : await handleAdmin(job as Job<AdminJobData>, ctx);
      if (fromCatchUp) return await finish(await catchUpOutcome(data, { ...context, ...outcome }));
      return await finish({ ...context, ...outcome });
    } catch (e) {
      if (e instanceof DelayedError) throw e;
      const c = classifyError(e);
      const attempts = job.opts.attempts ?? 1;
      const deferrable = !c.permanent && (c.deferMs !== undefined || e instanceof LockBusyError);
      if (deferrable && job.attemptsStarted <= maxDeferrals + attempts) {
        const ms = c.deferMs ?? (deps.lockBusyDelayMs ?? 500) * (0.5 + Math.random());
        if (c.throttlesShop && c.deferMs !== undefined && c.deferMs > 0) {
          await deps.redis.set(
            throttleKey(deps.keys, data.shop),
            String(Date.now() + c.deferMs),
            'PX',
            c.deferMs,
          );
        }
        deps.logger.debug({ ...base, ms, code: c.code }, 'job put back without using an attempt');
        await defer(ms);
      }
      const final = c.permanent || job.attemptsMade + 1 >= attempts;
      if (final) {
        const ev = await deps.events.record({
          ...base,
          ...context,
          status: 'failed',
          error: c.message,
          errorCode: c.code,
          attempts: job.attemptsMade + 1,
        });
        logOutcome(ev, started, e);
      } else {
        deps.logger.warn(
          {
            ...base,
            ...pick(context),
            attempt: job.attemptsMade + 1,
            of: attempts,
            code: c.code,
            error: c.message,
          },
          'sync job will be retried',
        );
      }
      if (c.permanent) throw new UnrecoverableError(c.message);
      throw e instanceof Error ? e : new Error(c.message);
    }

    async function finish({ quiet, recorded, ...o }: JobOutcome): Promise<SyncEvent> {
      const e = { ...base, ...o, attempts: job.attemptsMade + 1 };
      const ev = quiet
        ? { ...e, id: '', at: new Date().toISOString() }
        : (recorded ?? (await deps.events.record(e)));
      logOutcome(ev, started);
      return ev;
    }
  };

  /**
   * An order the catch-up read from the Admin API: when its job changed the points, the webhook that should
   * have done so never came — an event of its own, counted for the run; otherwise nothing to show.
   */
  async function catchUpOutcome(data: WebhookJobData, o: JobOutcome): Promise<JobOutcome> {
    if (o.status !== 'applied' || !o.pointsDelta) return { ...o, quiet: true };
    if (data.catchUpRunId && o.shopifyOrderId) {
      await markRecovered(deps.redis, deps.keys, data.shop, data.catchUpRunId, o.shopifyOrderId);
    }
    return { ...o, reason: o.reason ? `${RECOVERED_REASON}; ${o.reason}` : RECOVERED_REASON };
  }

  function logOutcome(ev: SyncEvent, started: number, err?: unknown) {
    const line = {
      shop: ev.shop,
      topic: ev.topic,
      jobId: ev.jobId,
      status: ev.status,
      reason: ev.reason,
      error: ev.error,
      order: ev.shopifyOrderId,
      orderName: ev.orderName,
      customer: ev.shopifyCustomerId,
      itretailCustomerId: ev.itretailCustomerId,
      pointsDelta: ev.pointsDelta,
      durationMs: Date.now() - started,
    };
    if (ev.status === 'failed')
      deps.logger.error({ ...line, errorCode: ev.errorCode, err }, 'sync job failed');
    else deps.logger.info(line, `sync job ${ev.status}`);
  }
}

function pick(c: Partial<NewSyncEvent>) {
  return { order: c.shopifyOrderId, customer: c.shopifyCustomerId };
}

// ----- webhooks --------------------------------------------------------------------------------------------

async function handleWebhook(
  data: WebhookJobData,
  ctx: ProcessorContext,
  jobId: string | undefined,
  setContext: (c: Partial<NewSyncEvent>) => void,
): Promise<JobOutcome> {
  const parsed = parsePayload(data.topic, data.payload);
  if (!parsed.ok) {
    if (parsed.error.startsWith('topic '))
      return { status: 'skipped', reason: `topic ${data.topic} is not handled` };
    // Name what can still be read (order #1001, the order or customer id), so the merchant can find it.
    setContext(looseContext(data.topic, data.payload));
    throw new PermanentJobError(parsed.error, 'INVALID_PAYLOAD');
  }
  const { redis, keys } = ctx.deps;
  switch (parsed.topic) {
    case 'orders/paid':
    case 'orders/updated':
    case 'orders/cancelled':
    case 'refunds/create':
    case 'orders/edited': {
      const out = await handleOrderTopic(
        {
          shop: data.shop,
          redis,
          keys,
          settings: ctx.settings,
          fetchOrderSnapshot: ctx.deps.fetchOrderSnapshot,
          setContext,
        },
        parsed,
      ).catch((e: unknown) => {
        if (e instanceof InvalidRefundError) throw new PermanentJobError(e.message, e.code);
        throw e;
      });
      if (out.kind === 'skipped')
        return { status: 'skipped', reason: out.reason, shopifyOrderId: out.orderId };
      return reconcileJob(ctx, data.shop, out.orderId, jobId, out.customer, out.merge);
    }
    case 'customers/create':
    case 'customers/update': {
      const c = parsed.data;
      setContext(customerContext(c));
      const mode = parsed.topic === 'customers/create' ? 'create' : 'update';
      const out: CustomerOutcome = await syncCustomer(ctx.reconcile, data.shop, ctx.client(), c, mode, jobId);
      return {
        status: out.status,
        reason: out.reason,
        itretailCustomerId: out.itrCustomerId,
        cardNo: out.cardNo,
      };
    }
    case 'app/uninstalled': {
      if (!(await ctx.deps.settings.markUninstalled(data.shop, webhookMoment(data)))) {
        return {
          status: 'skipped',
          reason: 'uninstall triggered before the app was installed again; the app stays installed',
        };
      }
      const removed = await deleteMatching(redis, keys.shop(data.shop, 'session', '*'));
      await ctx.deps.onUninstalled?.(data.shop);
      return { status: 'applied', reason: `app uninstalled; sync stopped (${removed} sessions removed)` };
    }
    case 'customers/redact': {
      const r = parsed.data;
      setContext({ shopifyCustomerId: r.customer.id });
      const n = await redactCustomer(ctx, data.shop, r.customer, r.orderIds);
      const jobs = ctx.deps.queue ? await removeFinishedJobs(ctx.deps.queue, data.shop, r.customer) : 0;
      return { status: 'applied', reason: `customer data erased (${n} orders, ${jobs} finished jobs)` };
    }
    case 'shop/redact': {
      if (ctx.deps.queue) await removeFinishedJobs(ctx.deps.queue, data.shop);
      // Every key of the shop, its sync events (ev:*) included.
      await deleteMatching(redis, keys.shopPattern(data.shop));
      await ctx.deps.settings.erase(data.shop);
      return { status: 'applied', reason: 'shop data erased' };
    }
    case 'customers/data_request': {
      const r = parsed.data;
      setContext({ shopifyCustomerId: r.customer.id });
      const id = r.requestId ?? `job-${jobId}`;
      const report = await dataReport(ctx, data.shop, r.customer, r.orderIds);
      // The report, and its place in the shop's list of reports (the admin page lists from it), for 30 days.
      const keepMs = 30 * 86_400_000;
      const now = Date.now();
      await redis
        .multi()
        .set(keys.shop(data.shop, 'data-request', id), JSON.stringify(report), 'PX', keepMs)
        .zadd(dataRequestIndexKey(keys, data.shop), now, id)
        .zremrangebyscore(dataRequestIndexKey(keys, data.shop), '-inf', now - keepMs)
        .exec();
      return { status: 'applied', reason: 'data request report prepared' };
    }
  }
}

/** The shop's customers/data_request report ids, scored by when each was prepared. */
export const dataRequestIndexKey = (keys: Keys, shop: string) => keys.shop(shop, 'data-requests');

/** The job came before the shop's erasure (shop/redact itself may run again: it only erases). */
function erasedBefore(data: SyncJobData, erasedAt: string): boolean {
  if (data.kind === 'webhook' && data.topic === 'shop/redact') return false;
  const moment = data.kind === 'webhook' ? webhookMoment(data) : timeMs(data.requestedAt);
  const erased = timeMs(erasedAt);
  return moment === undefined || erased === undefined || moment <= erased;
}

/** When Shopify triggered the webhook (X-Shopify-Triggered-At), else when it was received. */
function webhookMoment(data: WebhookJobData): number {
  return timeMs(data.triggeredAt) ?? timeMs(data.receivedAt) ?? Date.now();
}

/** Identifying fields of a payload that failed validation, taken only where they are plain values. */
export function looseContext(topic: string, payload: unknown): Partial<NewSyncEvent> {
  if (!payload || typeof payload !== 'object') return {};
  const p = payload as Record<string, unknown>;
  const idOf = (v: unknown) =>
    (typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^\d{1,30}$/.test(v))
      ? String(v)
      : undefined;
  const name = typeof p.name === 'string' && p.name.length <= 64 ? p.name : undefined;
  if (topic.startsWith('orders/')) return { shopifyOrderId: idOf(p.id), orderName: name };
  if (topic === 'refunds/create') return { shopifyOrderId: idOf(p.order_id) };
  if (topic.startsWith('customers/')) return { shopifyCustomerId: idOf(p.id) };
  return {};
}

function customerContext(c: CustomerPayload): Partial<NewSyncEvent> {
  const name = [c.firstName, c.lastName].filter(Boolean).join(' ');
  return { shopifyCustomerId: c.id, customerName: name || undefined };
}

async function reconcileJob(
  ctx: ProcessorContext,
  shop: string,
  orderId: string,
  jobId: string | undefined,
  customer: { firstName?: string; lastName?: string; phone?: string },
  merge?: OrderMerge,
): Promise<JobOutcome> {
  // No IT Retail call at all for an order that owes nothing and was never applied. A customer that has to
  // be created gets these names and phone, else the buyer's kept with the order.
  const stage = ctx.stageEvent;
  const out: ReconcileOutcome = await reconcileOrder(ctx.reconcile, shop, lazyClient(ctx), orderId, {
    includeTestOrders: ctx.settings.includeTestOrders,
    jobId,
    mayHaveRunBefore: !ctx.firstRun,
    customer,
    merge,
    record: stage ? (o) => stage(orderJobOutcome(orderId, o)) : undefined,
  });
  const done = orderJobOutcome(orderId, out);
  return out.status === 'applied' && out.recorded ? { ...done, recorded: out.recorded as SyncEvent } : done;
}

function orderJobOutcome(orderId: string, out: ReconcileOutcome): JobOutcome {
  const common = {
    shopifyOrderId: orderId,
    orderName: out.orderName,
    itretailCustomerId: out.itrCustomerId,
    cardNo: out.cardNo,
  };
  if (out.status === 'skipped') return { status: 'skipped', reason: out.reason, ...common };
  return {
    status: 'applied',
    ...common,
    pointsBefore: out.pointsBefore,
    pointsDelta: out.pointsDelta,
    pointsAfter: out.pointsAfter,
    shortfall: out.shortfall || undefined,
    reason: out.shortfall ? `balance stopped at 0; ${out.shortfall} points could not be deducted` : undefined,
  };
}

/** A client resolved on first use, so a job that needs no IT Retail call needs no credentials either. */
function lazyClient(ctx: ProcessorContext): SyncClient {
  let c: SyncClient | undefined;
  const get = () => {
    c ??= ctx.client();
    return c;
  };
  return {
    getCustomer: (id) => get().getCustomer(id),
    updateCustomer: (r) => get().updateCustomer(r),
    createCustomer: (n) => get().createCustomer(n),
    forEachCustomer: (f) => get().forEachCustomer(f),
  };
}

// ----- privacy ----------------------------------------------------------------------------------------------

async function deleteMatching(redis: Redis, pattern: string): Promise<number> {
  let n = 0;
  // Every master of a cluster; a shop's keys share one slot, so each batch is one UNLINK.
  await scanKeys(redis, pattern, async (found) => {
    n += await redis.unlink(...found);
  });
  return n;
}

async function customerOrderIds(
  ctx: ProcessorContext,
  shop: string,
  customer: { id?: string; email?: string },
  extra: string[],
): Promise<string[]> {
  const { redis, keys } = ctx.deps;
  const ids = new Set(extra);
  if (customer.id)
    for (const o of await redis.smembers(ordersByCustomerKey(keys, shop, customer.id))) ids.add(o);
  if (customer.email)
    for (const o of await redis.smembers(ordersByEmailKey(keys, shop, customer.email))) ids.add(o);
  return [...ids];
}

/** Erases what identifies the customer; the points ledger (numbers and the IT Retail id) stays. */
async function redactCustomer(
  ctx: ProcessorContext,
  shop: string,
  customer: { id?: string; email?: string },
  orderIds: string[],
): Promise<number> {
  const { redis, keys } = ctx.deps;
  const orders = await customerOrderIds(ctx, shop, customer, orderIds);
  const tx = redis.multi();
  for (const o of orders)
    tx.hdel(orderKey(keys, shop, o), 'email', 'name', 'shopifyCustomerId', ...BUYER_FIELDS);
  if (customer.id) {
    tx.hdel(keys.shop(shop, 'link', 'customer'), customer.id);
    tx.hdel(customerUpdatedKey(ctx.deps, shop), customer.id);
    tx.del(ordersByCustomerKey(keys, shop, customer.id));
  }
  if (customer.email) {
    tx.hdel(keys.shop(shop, 'link', 'email'), customer.email);
    tx.del(ordersByEmailKey(keys, shop, customer.email));
  }
  await tx.exec();
  if (customer.id) await ctx.deps.events.eraseCustomer(shop, customer.id);
  return orders.length;
}

async function dataReport(
  ctx: ProcessorContext,
  shop: string,
  customer: { id?: string; email?: string },
  orderIds: string[],
) {
  const { redis, keys } = ctx.deps;
  const orders = [];
  for (const id of await customerOrderIds(ctx, shop, customer, orderIds)) {
    const h = await redis.hgetall(orderKey(keys, shop, id));
    if (Object.keys(h).length === 0) continue;
    orders.push({
      orderId: id,
      name: h.name,
      email: h.email,
      buyer: { firstName: h.buyerFirstName, lastName: h.buyerLastName, phone: h.buyerPhone },
      pointsApplied: Number(h.appliedPoints ?? 0),
      itretailCustomerId: h.itrCustomerId,
      cancelled: h.cancelled === '1',
    });
  }
  const itretailCustomerIds = new Set<string>();
  if (customer.id) {
    const v = await redis.hget(keys.shop(shop, 'link', 'customer'), customer.id);
    if (v) itretailCustomerIds.add(v);
  }
  if (customer.email) {
    const v = await redis.hget(
      keys.shop(shop, 'link', 'email'),
      normalizeEmail(customer.email) ?? customer.email,
    );
    if (v) itretailCustomerIds.add(v);
  }
  const events =
    customer.id && ctx.deps.events.forCustomer
      ? await ctx.deps.events.forCustomer(shop, { shopifyCustomerId: customer.id }, 1000)
      : [];
  return {
    generatedAt: new Date().toISOString(),
    shop,
    customer: { shopifyCustomerId: customer.id, email: customer.email },
    itretailCustomerIds: [...itretailCustomerIds],
    orders,
    syncEvents: events,
  };
}

// ----- admin jobs ---------------------------------------------------------------------------------------------

async function handleAdmin(job: Job<AdminJobData>, ctx: ProcessorContext): Promise<JobOutcome> {
  const data = job.data;
  const custom = adminHandlers.get(data.kind);
  if (custom) return custom(job, ctx);
  if (data.kind !== 'resync-customer') return { status: 'skipped', reason: `${data.kind} is not available` };
  const email = normalizeEmail(data.email);
  if (!email) throw new PermanentJobError('resync needs a valid email address', 'INVALID_INPUT');
  const client = ctx.client();
  const m = await ctx.matcher.findOrCreate(data.shop, client, { email });
  const orders = await ctx.deps.redis.smembers(ordersByEmailKey(ctx.deps.keys, data.shop, email));
  let delta = 0;
  let applied = 0;
  for (const id of orders.sort()) {
    const out = await reconcileOrder(ctx.reconcile, data.shop, client, id, {
      includeTestOrders: ctx.settings.includeTestOrders,
    });
    if (out.status === 'applied') {
      applied++;
      delta += out.pointsDelta;
    }
  }
  return {
    status: applied ? 'applied' : 'skipped',
    reason: `${orders.length} orders checked, ${applied} corrected (${delta >= 0 ? '+' : ''}${delta} points)`,
    itretailCustomerId: m.id,
    cardNo: m.record.CardNo ?? undefined,
    pointsDelta: applied ? delta : undefined,
  };
}
