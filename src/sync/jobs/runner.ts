import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { AdminJobData, SyncJobData, WebhookJobData } from '../../queue/jobs.js';
import type { ShopSettings } from '../../settings.js';
import { markRecovered, RECOVERED_REASON } from '../catch-up-state.js';
import type { NewSyncEvent, SyncEvent } from '../events.js';
import { CustomerMatcher } from '../matching.js';
import { SettingsChangedError } from '../order-lock.js';
import { timeMs } from '../payloads.js';
import type { ReconcileDeps } from '../reconcile.js';
import { classifyError } from './error-policy.js';
import { erasedBefore, webhookMoment } from './moments.js';
import type { JobHandlers, JobOutcome, ProcessorContext, SyncDeps } from './types.js';
import { runWebhook } from './webhook.js';

/**
 * Turns one queued job into exactly one recorded sync event: applied, skipped with a reason, or (once no
 * retry is left, or the failure is permanent) failed with a plain-words error. Retryable trouble throws so
 * BullMQ retries with backoff; waiting that is nobody's fault (a paused shop, a lock held by another job,
 * IT Retail asking for a pause with Retry-After) moves the job to delayed without using up an attempt.
 * What each job does is in `handlers` (see handlers.ts); the error policy in error-policy.ts.
 */

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

/**
 * Order topics whose settings the order lock's script checks (their facts are merged by that script, and
 * nothing before it writes or calls IT Retail): their jobs may start on settings kept from an earlier job.
 */
const LOCK_CHECKED = new Set(['orders/paid', 'orders/updated', 'orders/cancelled', 'refunds/create']);
/** Shops whose settings a worker keeps at most (then it starts over: a fresh read costs one round trip). */
const KEPT_SHOPS_MAX = 10_000;

interface Runner {
  deps: SyncDeps;
  handlers: JobHandlers;
  matcher: CustomerMatcher;
  reconcile: ReconcileDeps;
  /**
   * Settings of installed, unpaused shops as last read, with their digest (SETTINGS_DIGEST_LUA). An order job
   * starts on them without a read; its lock script compares the digest with the stored settings before it
   * merges or locks anything, so a change made before that moment (a pause, new credentials, a new rate)
   * still applies to the job: it runs again on a fresh read.
   */
  kept: Map<string, { settings: ShopSettings; digest: string }>;
}

export type Processor = (job: Job<SyncJobData>, token?: string) => Promise<SyncEvent | undefined>;

export function createProcessor(deps: SyncDeps, handlers: JobHandlers): Processor {
  const matcher =
    deps.matcher ?? new CustomerMatcher(deps.redis, deps.keys, deps.logger, deps.matcherOptions);
  const runner: Runner = {
    deps,
    handlers,
    matcher,
    reconcile: reconcileDeps(deps, matcher),
    kept: new Map(),
  };
  return (job, token) => new JobRun(runner, job, token).run();
}

function reconcileDeps(deps: SyncDeps, matcher: CustomerMatcher): ReconcileDeps {
  return {
    redis: deps.redis,
    keys: deps.keys,
    matcher,
    logger: deps.logger,
    customerLock: deps.customerLock,
    orderLock: deps.orderLock,
    writeInFlightMs: deps.writeInFlightMs,
    onBalanceChanged: deps.onBalanceChanged,
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
}

/** One run of one job: its checks before any work, its handler, and its one outcome. */
class JobRun {
  private readonly started = Date.now();
  private readonly deps: SyncDeps;
  private readonly data: SyncJobData;
  private readonly fromCatchUp: boolean;
  private readonly base: { shop: string; topic: string; jobId: string | undefined };
  /** What the job is about (order, customer), named as soon as it is known, for a failure too. */
  private context: Partial<NewSyncEvent> = {};
  /** The digest of the settings the job runs on, for the order lock's script to check (LOCK_CHECKED). */
  private settingsDigest: string | undefined;

  constructor(
    private readonly runner: Runner,
    private readonly job: Job<SyncJobData>,
    private readonly token: string | undefined,
    /** Run on settings read now, not on kept ones (the kept ones were found changed). */
    private readonly fresh = false,
  ) {
    this.deps = runner.deps;
    this.data = job.data;
    this.fromCatchUp = this.data.kind === 'webhook' && this.data.source === 'catch-up';
    const topic =
      this.data.kind === 'webhook'
        ? `${this.fromCatchUp ? 'catch-up/' : ''}${this.data.topic}`
        : `admin/${this.data.kind}`;
    this.base = { shop: this.data.shop, topic, jobId: job.id };
  }

  async run(): Promise<SyncEvent | undefined> {
    try {
      const ready = await this.prepare();
      if (!ready) return undefined;
      if ('status' in ready) return await this.finish(ready);
      const outcome = await this.handle(ready.settings);
      if (this.fromCatchUp)
        return await this.finish(await this.catchUpOutcome({ ...this.context, ...outcome }));
      return await this.finish({ ...this.context, ...outcome });
    } catch (e) {
      if (e instanceof DelayedError) throw e;
      if (e instanceof SettingsChangedError && !this.fresh) {
        this.runner.kept.delete(this.data.shop);
        return await new JobRun(this.runner, this.job, this.token, true).run();
      }
      return await this.fail(e);
    }
  }

  /**
   * The checks before any work: an erased shop (undefined: nothing at all is written), an uninstalled one
   * (an outcome), a paused or throttled one (deferred); else the shop's settings, read fresh for the job, or
   * for an order job (LOCK_CHECKED) the ones kept from an earlier job, which its lock script checks.
   */
  private async prepare(): Promise<{ settings: ShopSettings } | JobOutcome | undefined> {
    const { deps, data } = this;
    const checked = data.kind === 'webhook' && LOCK_CHECKED.has(data.topic) && deps.settings.readForJob;
    const kept = checked && !this.fresh ? this.runner.kept.get(data.shop) : undefined;
    if (kept) {
      // Installed, not erased, not paused when read; the lock script checks they still are (and the throttle).
      this.settingsDigest = kept.digest;
      return { settings: kept.settings };
    }
    const callsITRetail = data.kind !== 'webhook' || PAUSABLE.has(data.topic);
    // Settings are read fresh for every other job (a pause, an uninstall, new credentials or a new rate
    // apply to the very next job); the throttle is read alongside, so both cost one network wait.
    const throttleKey = deps.keys.itretailThrottle(data.shop);
    const both =
      callsITRetail && deps.settings.readForJob
        ? deps.settings.readForJob(data.shop, throttleKey)
        : undefined;
    const throttle = both
      ? both.then((b) => b.pttl)
      : callsITRetail
        ? deps.redis.pttl(throttleKey)
        : undefined;
    throttle?.catch(() => undefined);
    const read = both ? await both : undefined;
    let settings = read ? read.settings : await deps.settings.get(data.shop);
    if (checked && read) {
      this.settingsDigest = read.digest;
      if (settings.installed && !settings.erasedAt && !settings.paused) this.keep(read.digest, settings);
    }
    if (settings.erasedAt && erasedBefore(data, settings.erasedAt)) {
      // Erased by shop/redact after this was queued: nothing is written for the shop, not even an event.
      deps.logger.info({ ...this.base }, 'job of an erased shop skipped');
      return undefined;
    }
    if (!settings.installed && !(data.kind === 'webhook' && AFTER_UNINSTALL.has(data.topic))) {
      const again = await this.installedAgain(settings);
      if (!again) return { status: 'skipped', reason: 'app uninstalled' };
      settings = again;
      this.settingsDigest = undefined;
    }
    if (settings.paused && callsITRetail) await this.defer(deps.pausedDelayMs ?? 60_000);
    // IT Retail asked this shop's traffic to slow down (429 + Retry-After): every worker holds the
    // shop's jobs back until then, instead of each one calling and being refused again.
    if (throttle) {
      const wait = await throttle;
      if (wait > 0) await this.defer(wait + Math.random() * 250);
    }
    return { settings };
  }

  private keep(digest: string, settings: ShopSettings): void {
    const kept = this.runner.kept;
    if (kept.size >= KEPT_SHOPS_MAX && !kept.has(this.data.shop)) kept.clear();
    kept.set(this.data.shop, { settings, digest });
  }

  /**
   * Shopify sends webhooks only to an installed app: one triggered after the uninstall proves the app was
   * installed again (before anyone opened its page); the settings as now installed. One triggered before
   * it (or an admin job) is skipped: undefined.
   */
  private async installedAgain(settings: ShopSettings): Promise<ShopSettings | undefined> {
    const { deps, data } = this;
    const moment = data.kind === 'webhook' ? webhookMoment(data) : undefined;
    const uninstalledAt = timeMs(settings.uninstalledAt);
    if (moment === undefined || uninstalledAt === undefined || moment <= uninstalledAt) return undefined;
    await deps.settings.markInstalled(data.shop, moment, { ifAfterUninstall: true });
    const now = await deps.settings.get(data.shop);
    if (!now.installed) return undefined;
    deps.logger.info({ ...this.base }, 'webhook triggered after the uninstall: the app is installed again');
    return now;
  }

  private handle(settings: ShopSettings): Promise<JobOutcome> {
    const { runner, job, data } = this;
    const ctx: ProcessorContext = {
      deps: runner.deps,
      reconcile: runner.reconcile,
      matcher: runner.matcher,
      settings,
      settingsDigest: this.settingsDigest,
      client: () => runner.deps.clientFor(data.shop, settings),
      // Each start (a retry, a stalled job taken back, a deferral) counts in attemptsStarted.
      firstRun: (job.attemptsStarted ?? 2) <= 1 && (job.attemptsMade ?? 1) === 0,
      // The job's event as finish() would record it, for the ledger commit to store (not for the catch-up,
      // whose outcome is decided after the job's work).
      stageEvent:
        this.fromCatchUp || !runner.deps.events.stage
          ? undefined
          : (o) =>
              runner.deps.events.stage?.({
                ...this.base,
                ...this.context,
                ...o,
                attempts: job.attemptsMade + 1,
              }),
    };
    if (data.kind === 'webhook') {
      const setContext = (c: Partial<NewSyncEvent>) => {
        this.context = { ...this.context, ...c };
      };
      return runWebhook(runner.handlers, { data, jobId: job.id, setContext }, ctx);
    }
    const handler = runner.handlers.admin[data.kind];
    if (!handler) return Promise.resolve({ status: 'skipped', reason: `${data.kind} is not available` });
    return handler(job as Job<AdminJobData>, ctx);
  }

  private async defer(ms: number): Promise<never> {
    await this.job.moveToDelayed(Date.now() + Math.max(1, Math.round(ms)), this.token);
    throw new DelayedError();
  }

  /** Deferred, retried or (when final) recorded as failed; always throws for BullMQ. */
  private async fail(e: unknown): Promise<never> {
    const { deps, job } = this;
    const c = classifyError(e);
    const attempts = job.opts.attempts ?? 1;
    if (c.deferred && job.attemptsStarted <= (deps.maxDeferrals ?? 100) + attempts) {
      const ms = c.deferMs ?? (deps.lockBusyDelayMs ?? 500) * (0.5 + Math.random());
      if (c.throttlesShop && c.deferMs !== undefined && c.deferMs > 0) {
        const key = deps.keys.itretailThrottle(this.data.shop);
        await deps.redis.set(key, String(Date.now() + c.deferMs), 'PX', c.deferMs);
      }
      deps.logger.debug({ ...this.base, ms, code: c.code }, 'job put back without using an attempt');
      await this.defer(ms);
    }
    if (c.permanent || job.attemptsMade + 1 >= attempts) {
      const ev = await deps.events.record({
        ...this.base,
        ...this.context,
        status: 'failed',
        error: c.message,
        errorCode: c.code,
        attempts: job.attemptsMade + 1,
      });
      this.log(ev, e);
    } else {
      deps.logger.warn(
        {
          ...this.base,
          order: this.context.shopifyOrderId,
          customer: this.context.shopifyCustomerId,
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

  private async finish({ quiet, recorded, ...o }: JobOutcome): Promise<SyncEvent> {
    const e = { ...this.base, ...o, attempts: this.job.attemptsMade + 1 };
    const ev = quiet
      ? { ...e, id: '', at: new Date().toISOString() }
      : (recorded ?? (await this.deps.events.record(e)));
    this.log(ev);
    return ev;
  }

  /**
   * An order the catch-up read from the Admin API: when its job changed the points, the webhook that should
   * have done so never came — an event of its own, counted for the run; otherwise nothing to show.
   */
  private async catchUpOutcome(o: JobOutcome): Promise<JobOutcome> {
    const data = this.data as WebhookJobData;
    if (o.status !== 'applied' || !o.pointsDelta) return { ...o, quiet: true };
    if (data.catchUpRunId && o.shopifyOrderId) {
      await markRecovered(this.deps.redis, this.deps.keys, data.shop, data.catchUpRunId, o.shopifyOrderId);
    }
    return { ...o, reason: o.reason ? `${RECOVERED_REASON}; ${o.reason}` : RECOVERED_REASON };
  }

  private log(ev: SyncEvent, err?: unknown) {
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
      durationMs: Date.now() - this.started,
    };
    if (ev.status === 'failed')
      this.deps.logger.error({ ...line, errorCode: ev.errorCode, err }, 'sync job failed');
    else this.deps.logger.info(line, `sync job ${ev.status}`);
  }
}
