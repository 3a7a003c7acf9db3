import { randomBytes } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import pino from 'pino';
import { ITRetailSimulator, type SimulatorOptions } from '../../fakes/itretail/simulator.js';
import type { WebhookJobData } from '../../src/queue/jobs.js';
import { createSyncQueues, type SyncQueues } from '../../src/queue/shards.js';
import { SettingsStore } from '../../src/settings.js';
import { createKeys, type Keys } from '../../src/store/keys.js';
import { SyncEventStore } from '../../src/sync/events.js';
import { type RunningWorker, type StartWorkerDeps, startWorker } from '../../src/worker/worker.js';
import { dropPrefix, TEST_QUEUE_SHARDS, testRedis, uniquePrefix } from './redis.js';

export const SHOP = 'test-shop.myshopify.com';

/** Short timeouts and backoffs so fault tests finish quickly. */
export const FAST_CLIENT = {
  timeouts: { connectMs: 500, headersMs: 600, bodyMs: 600 },
  retry: { maxAttempts: 3, baseDelayMs: 5, maxDelayMs: 40, maxTotalMs: 1500 },
};

export const JOB_OPTS: JobsOptions = {
  attempts: 40,
  backoff: { type: 'fixed', delay: 30 },
  removeOnComplete: false,
  removeOnFail: false,
};

export interface Harness {
  prefix: string;
  keys: Keys;
  redis: Redis;
  sim: ITRetailSimulator;
  settings: SettingsStore;
  events: SyncEventStore;
  queue: SyncQueues;
  running?: RunningWorker;
  start(extra?: Partial<StartWorkerDeps>): Promise<RunningWorker>;
  /** Adds webhook jobs and waits until every one of them is completed or failed. */
  run(jobs: { topic: string; payload: unknown; id?: string }[], opts?: JobsOptions): Promise<JobEnd[]>;
  add(topic: string, payload: unknown, id?: string, opts?: JobsOptions): Promise<string>;
  waitFor(ids: string[], timeoutMs?: number): Promise<JobEnd[]>;
  close(): Promise<void>;
}

export interface JobEnd {
  id: string;
  state: string;
  returnvalue: unknown;
  failedReason?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function createHarness(name: string, simOpts: SimulatorOptions = {}): Promise<Harness> {
  const prefix = uniquePrefix(name);
  const keys = createKeys(prefix);
  const redis = testRedis();
  const sim = await ITRetailSimulator.start({ randomSeed: 42, ...simOpts });
  const settings = new SettingsStore(redis, keys, randomBytes(32), {
    pointsPerDollar: '1',
    allowLoopbackBaseUrl: true,
  });
  const events = new SyncEventStore(redis, keys);
  const queue = createSyncQueues(redis, keys, TEST_QUEUE_SHARDS);
  let seq = 0;
  const logger = pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

  const h: Harness = {
    prefix,
    keys,
    redis,
    sim,
    settings,
    events,
    queue,
    async start(extra = {}) {
      h.running = await startWorker({
        queue,
        redis,
        connection: redis,
        keys,
        logger,
        settings,
        events,
        itretail: {
          baseUrl: sim.url,
          defaultCredentials: { kind: 'password', username: 'demo', password: 'demo' },
          clientOptions: FAST_CLIENT,
        },
        concurrency: 8,
        customerLock: { ttlMs: 5_000, waitMs: 3_000 },
        orderLock: { ttlMs: 5_000, waitMs: 3_000 },
        // A Put cannot be out longer than FAST_CLIENT's headers + body timeouts.
        writeInFlightMs: 1_700,
        lockBusyDelayMs: 50,
        matcherOptions: { missRefreshAfterMs: 60_000, refreshWaitMs: 10_000 },
        workerOptions: { stalledInterval: 1000, lockDuration: 3000 },
        // No background index downloads unless a test asks: call counts stay the test's own.
        indexRefreshMs: 0,
        compactionMs: 0,
        ...extra,
      });
      return h.running;
    },
    async add(topic, payload, id, opts) {
      seq += 1;
      const jobId = id ?? `j${seq}-${randomBytes(3).toString('hex')}`;
      const data: WebhookJobData = {
        kind: 'webhook',
        shop: SHOP,
        topic,
        webhookId: jobId,
        receivedAt: new Date().toISOString(),
        payload,
      };
      await queue.add(topic, data, { ...JOB_OPTS, ...opts, jobId });
      return jobId;
    },
    async run(jobs, opts) {
      const ids: string[] = [];
      for (const j of jobs) ids.push(await h.add(j.topic, j.payload, j.id, opts));
      return h.waitFor(ids);
    },
    async waitFor(ids, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const ends: JobEnd[] = [];
        let pending = 0;
        for (const id of ids) {
          // State first, then the job: a job read before it finished would lack its return value.
          const state = await queue.getJobState(id);
          if (state === 'completed' || state === 'failed') {
            const job = await queue.getJob(id);
            ends.push({ id, state, returnvalue: job?.returnvalue, failedReason: job?.failedReason });
          } else pending++;
        }
        if (pending === 0) return ends;
        if (Date.now() > deadline) throw new Error(`${pending} of ${ids.length} jobs still unfinished`);
        await sleep(50);
      }
    },
    async close() {
      await h.running?.close();
      await queue.obliterate({ force: true }).catch(() => undefined);
      await queue.close();
      await sim.stop();
      await dropPrefix(redis, prefix);
      await redis.quit();
    },
  };
  return h;
}
