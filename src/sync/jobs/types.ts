import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { AdminJobData, SyncJobData, WebhookJobData } from '../../queue/jobs.js';
import type { SyncQueues } from '../../queue/shards.js';
import type { SettingsForJob, ShopSettings } from '../../settings.js';
import type { Keys } from '../../store/keys.js';
import type { NewSyncEvent, SyncEvent } from '../events.js';
import type { LockOptions } from '../locks.js';
import type { CustomerMatcher, MatcherOptions, SyncClient } from '../matching.js';
import type { FetchOrderSnapshot } from '../order-jobs.js';
import type { HandledTopic, ParsedPayload } from '../payloads.js';
import type { ReconcileDeps } from '../reconcile.js';
import type { StagedRecord } from '../staged-writes.js';

/** What the job runner needs; each handler reaches it through its ProcessorContext. */
export interface SyncDeps {
  redis: Redis;
  keys: Keys;
  logger: Logger;
  settings: {
    get(shop: string): Promise<ShopSettings>;
    /** The settings, their digest and the PTTL of another key of the shop, in one round trip. */
    readForJob?(shop: string, key: string): Promise<SettingsForJob>;
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
    /** The event's writes, for the ledger commit that makes it true to make (see SyncEventStore.stage). */
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
  /** After each counted points write (see CustomerWriteDeps.onBalanceChanged). */
  onBalanceChanged?(shop: string): void;
}

/** What a handler reports; the runner turns it into one recorded sync event. */
export type JobOutcome = Omit<NewSyncEvent, 'shop' | 'topic' | 'jobId' | 'attempts'> & {
  status: 'applied' | 'skipped';
  /** Logged but not recorded as a sync event (routine work that changed nothing, e.g. a scheduled catch-up). */
  quiet?: boolean;
  /** Already recorded (by the ledger commit that made it true): the event as stored. */
  recorded?: SyncEvent;
};

export interface ProcessorContext {
  deps: SyncDeps;
  reconcile: ReconcileDeps;
  matcher: CustomerMatcher;
  settings: ShopSettings;
  /** The digest of `settings` as read (SETTINGS_DIGEST_LUA), for the order lock's script to check. */
  settingsDigest?: string;
  client(): SyncClient;
  /** The job's first run: nothing of it can have been done before. */
  firstRun?: boolean;
  /** The job's event for this outcome, to be written with the ledger commit (undefined: recorded after). */
  stageEvent?(o: JobOutcome): (StagedRecord & { value: SyncEvent }) | undefined;
}

/** The webhook job a topic handler runs, and where it names what the job is about (for a failure too). */
export interface WebhookRun {
  data: WebhookJobData;
  jobId: string | undefined;
  setContext(c: Partial<NewSyncEvent>): void;
}

export type TopicHandler<T extends HandledTopic = HandledTopic> = (
  parsed: Extract<ParsedPayload, { topic: T }>,
  run: WebhookRun,
  ctx: ProcessorContext,
) => Promise<JobOutcome>;

export type AdminJobHandler = (job: Job<AdminJobData>, ctx: ProcessorContext) => Promise<JobOutcome>;

/** Every job the worker runs, by webhook topic and by admin job kind (built in jobs/handlers.ts). */
export interface JobHandlers {
  topics: {
    [T in HandledTopic]: (
      parsed: Extract<ParsedPayload, { topic: T }>,
      run: WebhookRun,
      ctx: ProcessorContext,
    ) => Promise<JobOutcome>;
  };
  admin: Partial<Record<AdminJobData['kind'], AdminJobHandler>>;
}
