import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics. Each process (web, worker) has its own registry; the metric objects are exported so
 * the worker and the IT Retail client's `onCall` hook feed the same names. Label values are bounded sets
 * (topics outside HANDLED_TOPICS are reported as 'other') so no client can blow up cardinality.
 */
export type WebhookOutcome =
  | 'queued'
  | 'duplicate'
  | 'ignored'
  | 'unauthorized'
  | 'bad_request'
  | 'too_large'
  | 'unavailable'
  | 'error';

interface ITRetailCallEvent {
  call: string;
  status: number | 'network' | 'timeout';
  durationMs: number;
  errorCode?: string;
}

type QueueCountsSource = () => Promise<Record<string, number>>;

export interface Metrics {
  registry: Registry;
  /** Webhook deliveries by topic and outcome (count them with countWebhook). */
  webhooksReceived: Counter<'topic' | 'outcome'>;
  /**
   * Counts one delivery: a plain number in a map on the request path, added to webhooksReceived whenever
   * the counter is read (scrape, `get()`), so no label object is built, validated or hashed per request.
   */
  countWebhook(topic: string, outcome: WebhookOutcome): void;
  /** Finished job attempts by topic (or admin kind) and outcome. */
  jobsProcessed: Counter<'topic' | 'outcome'>;
  /** Orders whose points a catch-up changed — the webhook for that change never arrived — by topic. */
  catchUpRecovered: Counter<'topic'>;
  /** Time from a job's start to its outcome. */
  jobDuration: Histogram<'topic' | 'outcome'>;
  /** Every HTTP attempt to IT Retail: duration by call and status ('200', '503', 'network', 'timeout'). */
  itretailCallDuration: Histogram<'call' | 'status'>;
  /** IT Retail attempts that failed, by call and error code (ITR_* or the status). */
  itretailCallErrors: Counter<'call' | 'code'>;
  /** Jobs in the sync queue by state; read from Redis when scraped. */
  queueJobs: Gauge<'state'>;
  /** HTTP requests served by this process, by method, route and status (observe with observeRequest). */
  httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  /** One request's duration; the label set is looked up once per (method, route, status) and reused. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** The IT Retail client's `onCall` hook. */
  observeITRetailCall(e: ITRetailCallEvent): void;
  /** Makes scrapes read the queue's counts from `source` (e.g. `() => queue.getJobCounts()`). */
  trackQueue(source: QueueCountsSource, timeoutMs?: number): void;
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized'] as const;

export function createMetrics(
  registry: Registry = new Registry(),
  opts: { defaultMetrics?: boolean; prefix?: string } = {},
): Metrics {
  const p = opts.prefix ?? 'itrb_';
  if (opts.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: p });
  const registers = [registry];
  let queueSource: { fn: QueueCountsSource; timeoutMs: number } | undefined;
  const { webhooksReceived, countWebhook } = webhookMetrics(p, registers);
  const { jobsProcessed, catchUpRecovered, jobDuration } = jobMetrics(p, registers);
  const { itretailCallDuration, itretailCallErrors } = itretailMetrics(p, registers);

  const queueJobs = new Gauge({
    name: `${p}queue_jobs`,
    help: 'Jobs in the sync queue by state (read on scrape)',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      if (!queueSource) return;
      try {
        const counts = await raceTimeout(queueSource.fn(), queueSource.timeoutMs);
        for (const state of QUEUE_STATES) this.set({ state }, counts[state] ?? 0);
      } catch {
        // Redis unreachable: report nothing rather than stale numbers; /readyz tells the rest.
        this.reset();
      }
    },
  });
  const httpRequestDuration = new Histogram({
    name: `${p}http_request_duration_seconds`,
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  });

  const requestChildren = new Map<string, { observe(seconds: number): void }>();

  return {
    registry,
    webhooksReceived,
    countWebhook,
    observeRequest(method, route, status, seconds) {
      const key = `${method} ${status} ${route}`;
      let child = requestChildren.get(key);
      if (!child) {
        child = httpRequestDuration.labels(method, route, String(status));
        requestChildren.set(key, child);
      }
      child.observe(seconds);
    },
    jobsProcessed,
    catchUpRecovered,
    jobDuration,
    itretailCallDuration,
    itretailCallErrors,
    queueJobs,
    httpRequestDuration,
    observeITRetailCall(e) {
      const status = String(e.status);
      itretailCallDuration.observe({ call: e.call, status }, e.durationMs / 1000);
      const failed = e.errorCode !== undefined || typeof e.status !== 'number' || e.status >= 400;
      if (failed) itretailCallErrors.inc({ call: e.call, code: e.errorCode ?? status });
    },
    trackQueue(fn, timeoutMs = 1_000) {
      queueSource = { fn, timeoutMs };
    },
  };
}

type Registers = Registry[];

/** Webhook deliveries: counted in a plain map on the hot path, added to the counter when it is read. */
function webhookMetrics(p: string, registers: Registers) {
  // Deliveries counted since the counter was last read, by topic then outcome.
  const pendingWebhooks = new Map<
    string,
    Map<string, { labels: { topic: string; outcome: string }; n: number }>
  >();
  const webhooksReceived = new Counter({
    name: `${p}webhooks_received_total`,
    help: 'Shopify webhook deliveries by topic and outcome',
    labelNames: ['topic', 'outcome'] as const,
    registers,
    collect() {
      for (const byOutcome of pendingWebhooks.values())
        for (const c of byOutcome.values())
          if (c.n > 0) {
            this.inc(c.labels, c.n);
            c.n = 0;
          }
    },
  });
  const countWebhook = (topic: string, outcome: string) => {
    let byOutcome = pendingWebhooks.get(topic);
    if (!byOutcome) {
      byOutcome = new Map();
      pendingWebhooks.set(topic, byOutcome);
    }
    const c = byOutcome.get(outcome);
    if (c) c.n++;
    else byOutcome.set(outcome, { labels: { topic, outcome }, n: 1 });
  };
  return { webhooksReceived, countWebhook };
}

function jobMetrics(p: string, registers: Registers) {
  const jobsProcessed = new Counter({
    name: `${p}jobs_total`,
    help: 'Sync job attempts by topic and outcome',
    labelNames: ['topic', 'outcome'] as const,
    registers,
  });
  const catchUpRecovered = new Counter({
    name: `${p}catch_up_recovered_total`,
    help: 'Orders whose points the catch-up from the Admin API changed (their webhook never arrived), by topic',
    labelNames: ['topic'] as const,
    registers,
  });
  const jobDuration = new Histogram({
    name: `${p}job_duration_seconds`,
    help: 'Sync job duration by topic and outcome',
    labelNames: ['topic', 'outcome'] as const,
    buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers,
  });
  return { jobsProcessed, catchUpRecovered, jobDuration };
}

function itretailMetrics(p: string, registers: Registers) {
  const itretailCallDuration = new Histogram({
    name: `${p}itretail_call_duration_seconds`,
    help: 'IT Retail HTTP attempts by call and status',
    labelNames: ['call', 'status'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  });
  const itretailCallErrors = new Counter({
    name: `${p}itretail_call_errors_total`,
    help: 'IT Retail HTTP attempts that failed, by call and error code',
    labelNames: ['call', 'code'] as const,
    registers,
  });
  return { itretailCallDuration, itretailCallErrors };
}

async function raceTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
