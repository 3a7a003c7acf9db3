import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { Agent, DecoratorHandler, type Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ITRetailSimulator, serializeSummary } from '../../fakes/itretail/simulator.js';
import { type CallEvent, ITRetailClient, type ITRetailClientOptions } from '../../src/itretail/client.js';
import {
  AuthenticationError,
  MalformedResponseError,
  UnavailableError,
  WriteOutcomeUnknownError,
} from '../../src/itretail/errors.js';
import { customerSummarySchema } from '../../src/itretail/schemas.js';
import { SEED_GET_ONE } from '../fixtures/itretail-seed.js';

/** undici's DecoratorHandler, typed with the method the large-list test overrides. */
interface ForwardingHandler extends Dispatcher.DispatchHandler {
  onResponseEnd(...args: Parameters<NonNullable<Dispatcher.DispatchHandler['onResponseEnd']>>): void;
}
const ForwardingHandler = DecoratorHandler as unknown as new (
  h: Dispatcher.DispatchHandler,
) => ForwardingHandler;

const USER = { username: 'faults@example.com', password: 'pw-Faults-456' };
const UNKNOWN_ID = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';

let sim: ITRetailSimulator;
const clients: ITRetailClient[] = [];

function client(over: Partial<ITRetailClientOptions> = {}): ITRetailClient {
  const c = new ITRetailClient({
    baseUrl: sim.url,
    credentials: { kind: 'password', ...USER },
    timeouts: { connectMs: 1000, headersMs: 1000, bodyMs: 2000 },
    retry: { maxAttempts: 5, baseDelayMs: 5, maxDelayMs: 20, maxTotalMs: 5000 },
    ...over,
  });
  clients.push(c);
  return c;
}

/** Records every HTTP attempt; `then` runs a step (e.g. lifting a fault) after the matching attempt. */
function recorder(then?: (e: CallEvent, all: CallEvent[]) => void) {
  const events: (CallEvent & { at: number })[] = [];
  return {
    events,
    onCall: (e: CallEvent) => {
      events.push({ ...e, at: Date.now() });
      then?.(e, events);
    },
  };
}

beforeAll(async () => {
  sim = await ITRetailSimulator.start({ users: [USER], randomSeed: 11 });
});
afterEach(async () => {
  sim.resetFaults();
  sim.clearCalls();
  await Promise.all(clients.splice(0).map((c) => c.close()));
});
afterAll(async () => {
  await sim.stop();
});

const seedOne = (email: string) =>
  sim.seedCustomers([
    { FirstName: 'F', LastName: 'L', Email: email, Address1: '1 Main St', LoyaltyPoints: 100 },
  ])[0]!;

describe('retries of reads', () => {
  it('500s are retried until the service answers', async () => {
    const c0 = seedOne('r500@example.com');
    sim.setFaults({ errorRate: 1, calls: ['GetCustomer'] });
    const rec = recorder((_e, all) => {
      if (all.filter((x) => x.status === 500).length === 2) sim.resetFaults();
    });
    const c = client({ onCall: rec.onCall });
    const got = await c.getCustomer(c0.Id);
    expect(got?.Id).toBe(c0.Id);
    expect(rec.events.filter((e) => e.call === 'GetCustomer').map((e) => e.status)).toEqual([500, 500, 200]);
  });

  it('a 500 of the token call is retried too', async () => {
    sim.setFaults({ errorRate: 1, calls: ['token'] });
    const rec = recorder((e) => {
      if (e.status === 500) sim.resetFaults();
    });
    const c = client({ onCall: rec.onCall });
    await c.getAllCustomers();
    expect(rec.events.filter((e) => e.call === 'token').map((e) => e.status)).toEqual([500, 200]);
  });

  it('a 429 is retried no sooner than its Retry-After', async () => {
    const c0 = seedOne('r429@example.com');
    sim.setFaults({ throttleRate: 1, retryAfterSeconds: 1, calls: ['GetCustomer'] });
    const rec = recorder((e) => {
      if (e.status === 429) sim.resetFaults();
    });
    const c = client({ onCall: rec.onCall });
    expect((await c.getCustomer(c0.Id))?.Id).toBe(c0.Id);
    const [throttled, ok] = rec.events.filter((e) => e.call === 'GetCustomer');
    expect(throttled?.status).toBe(429);
    expect(ok?.status).toBe(200);
    // Lower bound only: the second attempt started at least Retry-After after the 429 arrived.
    expect(ok!.at - ok!.durationMs - throttled!.at).toBeGreaterThanOrEqual(950);
  });

  it('a Retry-After beyond the retry budget gives up at once with retryAfterMs', async () => {
    sim.setFaults({ throttleRate: 1, retryAfterSeconds: 30, calls: ['GetCustomer'] });
    const rec = recorder();
    const c = client({ onCall: rec.onCall, retry: { maxAttempts: 5, baseDelayMs: 5, maxTotalMs: 2000 } });
    const err = await c.getCustomer(UNKNOWN_ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).retryAfterMs).toBe(30_000);
    expect((err as UnavailableError).status).toBe(429);
    expect(rec.events.filter((e) => e.call === 'GetCustomer')).toHaveLength(1);
  });

  it('a hung request times out and the read is retried', async () => {
    const c0 = seedOne('hang-read@example.com');
    sim.setFaults({ hangRate: 1, calls: ['GetCustomer'] });
    const rec = recorder((e) => {
      if (e.status === 'timeout') sim.resetFaults();
    });
    const c = client({ onCall: rec.onCall, timeouts: { headersMs: 150 } });
    expect((await c.getCustomer(c0.Id))?.Id).toBe(c0.Id);
    expect(rec.events.filter((e) => e.call === 'GetCustomer').map((e) => e.status)).toEqual(['timeout', 200]);
  });

  it('retries are bounded in count: then UnavailableError', async () => {
    sim.setFaults({ errorRate: 1, calls: ['GetCustomer'] });
    const rec = recorder();
    const c = client({ onCall: rec.onCall, retry: { maxAttempts: 3, baseDelayMs: 1, maxDelayMs: 2 } });
    const err = await c.getCustomer(UNKNOWN_ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as UnavailableError).status).toBe(500);
    expect((err as UnavailableError).serviceMessage).toBe('An error has occurred.');
    expect(sim.callCounts().GetCustomer).toBe(3);
    expect(c.health().lastError?.code).toBe('ITR_UNAVAILABLE');
  });

  it('retries are bounded in total time: the budget ends them long before the attempt count', async () => {
    sim.setFaults({ errorRate: 1, calls: ['GetCustomer'] });
    const c = client({ retry: { maxAttempts: 10_000, baseDelayMs: 20, maxDelayMs: 40, maxTotalMs: 300 } });
    const err = await c.getCustomer(UNKNOWN_ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect((err as Error).message).toMatch(/budget/);
    const n = sim.callCounts().GetCustomer ?? 0;
    expect(n).toBeGreaterThan(1);
    expect(n).toBeLessThan(10_000);
  });

  it('a refused connection is retried for reads, then UnavailableError', async () => {
    const rec = recorder();
    const c = client({
      baseUrl: await closedPortUrl(),
      onCall: rec.onCall,
      retry: { maxAttempts: 3, baseDelayMs: 1 },
    });
    const err = await c.getCustomer(UNKNOWN_ID).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(rec.events.map((e) => e.status)).toEqual(['network', 'network', 'network']);
  });
});

describe('writes are never resent once their outcome is unknown', () => {
  it('a 500 of a Put (nothing applied) is a WriteOutcomeUnknownError after one attempt', async () => {
    const c0 = seedOne('w500@example.com');
    const c = client();
    const rec = await c.getCustomer(c0.Id);
    sim.setFaults({ errorRate: 1, calls: ['UpdateCustomer'] });
    const err = await c.updateCustomer({ ...rec!, LoyaltyPoints: 150 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteOutcomeUnknownError);
    expect((err as WriteOutcomeUnknownError).retryable).toBe(true);
    expect(sim.callCounts().UpdateCustomer).toBe(1);
    expect(sim.getCustomer(c0.Id)!.LoyaltyPoints).toBe(100);
  });

  it('applied-then-500 on a Put: WriteOutcomeUnknownError, and the service did apply it', async () => {
    const c0 = seedOne('w-applied-500@example.com');
    const c = client();
    const rec = await c.getCustomer(c0.Id);
    sim.setFaults({ writeAppliedThenErrorRate: 1, calls: ['UpdateCustomer'] });
    const err = await c.updateCustomer({ ...rec!, LoyaltyPoints: 175 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(sim.callCounts().UpdateCustomer).toBe(1);
    expect(sim.getCustomer(c0.Id)!.LoyaltyPoints).toBe(175);
    expect(sim.getCustomer(c0.Id)!.Address1).toBe('1 Main St');
  });

  it('applied-then-drop on a Put: WriteOutcomeUnknownError, and the service did apply it', async () => {
    const c0 = seedOne('w-applied-drop@example.com');
    const c = client();
    const rec = await c.getCustomer(c0.Id);
    sim.setFaults({ writeAppliedThenDropRate: 1, calls: ['UpdateCustomer'] });
    const err = await c.updateCustomer({ ...rec!, LoyaltyPoints: 190 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(sim.callCounts().UpdateCustomer).toBe(1);
    expect(sim.getCustomer(c0.Id)!.LoyaltyPoints).toBe(190);
  });

  it('applied-then-500 and applied-then-drop on a Create: WriteOutcomeUnknownError, the customer exists once', async () => {
    const c = client();
    sim.setFaults({ writeAppliedThenErrorRate: 1, calls: ['CreateCustomer'] });
    const e1 = await c
      .createCustomer({ FirstName: 'A', LastName: 'B', Email: 'c-applied-500@example.com' })
      .catch((e: unknown) => e);
    sim.setFaults({ writeAppliedThenErrorRate: 0, writeAppliedThenDropRate: 1, calls: ['CreateCustomer'] });
    const e2 = await c
      .createCustomer({ FirstName: 'A', LastName: 'B', Email: 'c-applied-drop@example.com' })
      .catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(e2).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(sim.callCounts().CreateCustomer).toBe(2);
    expect(sim.findByEmail('c-applied-500@example.com')).toHaveLength(1);
    expect(sim.findByEmail('c-applied-drop@example.com')).toHaveLength(1);
  });

  it('a hung write times out as WriteOutcomeUnknownError and is not resent', async () => {
    const c0 = seedOne('w-hang@example.com');
    const rec = recorder();
    const c = client({ onCall: rec.onCall, timeouts: { headersMs: 150 } });
    const got = await c.getCustomer(c0.Id);
    sim.setFaults({ hangRate: 1, calls: ['UpdateCustomer'] });
    const err = await c.updateCustomer({ ...got!, LoyaltyPoints: 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WriteOutcomeUnknownError);
    expect(rec.events.filter((e) => e.call === 'UpdateCustomer').map((e) => e.status)).toEqual(['timeout']);
  });

  it('a 429 of a write is retried (nothing was done) and the customer is created once', async () => {
    sim.setFaults({ throttleRate: 1, retryAfterSeconds: 0, calls: ['CreateCustomer'] });
    const rec = recorder((e) => {
      if (e.status === 429) sim.resetFaults();
    });
    const c = client({ onCall: rec.onCall });
    const created = await c.createCustomer({ FirstName: 'T', LastName: 'R', Email: 'w429@example.com' });
    expect(created.Email).toBe('w429@example.com');
    expect(rec.events.filter((e) => e.call === 'CreateCustomer').map((e) => e.status)).toEqual([429, 200]);
    expect(sim.findByEmail('w429@example.com')).toHaveLength(1);
  });

  it('a refused connection (request never sent) is retried for writes too, then UnavailableError', async () => {
    const rec = recorder();
    const c = client({
      baseUrl: await closedPortUrl(),
      credentials: { kind: 'token', token: 'static-token-for-refused-port' },
      onCall: rec.onCall,
      retry: { maxAttempts: 2, baseDelayMs: 1 },
    });
    const err = await c
      .createCustomer({ FirstName: 'N', LastName: 'S', Email: 'never-sent@example.com' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(rec.events.map((e) => e.status)).toEqual(['network', 'network']);
  });
});

describe('token sharing', () => {
  it('50 concurrent calls with an expired token cause exactly one token request', async () => {
    const seeded = sim.seedCustomers(
      Array.from({ length: 50 }, (_, i) => ({
        FirstName: 'C',
        LastName: `${i}`,
        Email: `conc${i}@example.com`,
      })),
    );
    const c = client();
    await c.getCustomer(seeded[0]!.Id);
    expect(sim.callCounts().token).toBe(1);
    sim.expireAllTokens();
    sim.clearCalls();
    const got = await Promise.all(seeded.map((s) => c.getCustomer(s.Id)));
    expect(got.map((g) => g?.Id)).toEqual(seeded.map((s) => s.Id));
    expect(sim.callCounts().token).toBe(1);
    expect(sim.callCounts().GetCustomer).toBe(100); // each: one 401, one repeat
  });

  it('50 concurrent first calls share one token request', async () => {
    const c = client();
    const got = await Promise.all(Array.from({ length: 50 }, () => c.getCustomer(UNKNOWN_ID)));
    expect(got.every((g) => g === null)).toBe(true);
    expect(sim.callCounts().token).toBe(1);
    expect(sim.callCounts().GetCustomer).toBe(50);
  });
});

// ------------------------------------------------------------------ stand-in servers

type Handler = (req: IncomingMessage, res: ServerResponse, n: number) => void;

async function standIn(
  handler: Handler,
): Promise<{ url: string; hits: () => number; close: () => Promise<void> }> {
  let n = 0;
  const server: Server = createServer((req, res) => {
    n++;
    req.resume();
    req.on('end', () => handler(req, res, n));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits: () => n,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

async function closedPortUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

function answer(res: ServerResponse, status: number, body: string, type = 'application/json; charset=utf-8') {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

const STATIC = { kind: 'token' as const, token: 'stand-in-static-token-XYZ' };

describe('malformed answers are MalformedResponseError, never a crash', () => {
  const cases: [string, string, string, (c: ITRetailClient) => Promise<unknown>][] = [
    [
      'an HTML error page',
      '<!DOCTYPE html><html><body>Server Error in / Application</body></html>',
      'text/html',
      (c) => c.getCustomer(UNKNOWN_ID),
    ],
    [
      'truncated JSON',
      '{"Id":"c5b20c93-210c-464d-b533-58186aca4f4e","CardNo":"00412',
      'application/json',
      (c) => c.getCustomer(UNKNOWN_ID),
    ],
    [
      'a record of the wrong shape',
      '{"Id":42,"LoyaltyPoints":"many"}',
      'application/json',
      (c) => c.getCustomer(UNKNOWN_ID),
    ],
    ['an array where a record belongs', '[{"Id":"x"}]', 'application/json', (c) => c.getCustomer(UNKNOWN_ID)],
    ['an object where the list belongs', '{"Message":"ok"}', 'application/json', (c) => c.getAllCustomers()],
    ['null where the list belongs', 'null', 'application/json', (c) => c.getAllCustomers()],
    [
      'an HTML page where the list belongs',
      '<html>maintenance</html>',
      'text/html',
      (c) => c.getAllCustomers(),
    ],
    [
      'a list element without Id',
      '[{"Id":"a","Deleted":false},{"CardNo":"1"}]',
      'application/json',
      (c) => c.getAllCustomers(),
    ],
    [
      'truncated purchases',
      '[{"Id":"a","CardNumber":"1","ProductsPurchased":["00',
      'application/json',
      (c) => c.getCustomerProductPurchases(new Date(2021, 2, 8)),
    ],
    ['a Put answered with HTML', '<html>ok?</html>', 'text/html', (c) => c.updateCustomer(fullRecord())],
  ];

  it.each(cases)('%s', async (_name, body, type, call) => {
    const s = await standIn((_req, res) => answer(res, 200, body, type));
    try {
      const c = client({ baseUrl: s.url, credentials: STATIC });
      const err = await call(c).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MalformedResponseError);
      expect((err as MalformedResponseError).status).toBe(200);
      expect((err as Error).message).not.toContain(STATIC.token);
      expect(s.hits()).toBe(1); // not retried
      expect(c.health().lastError?.code).toBe('ITR_MALFORMED');
    } finally {
      await s.close();
    }
  });

  it('an invalid token answer is malformed, and its body is not echoed', async () => {
    const s = await standIn((_req, res) => answer(res, 200, '{"acces_token":"leaked-looking-value"}'));
    try {
      const c = client({ baseUrl: s.url });
      const err = await c.getAllCustomers().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MalformedResponseError);
      expect((err as Error).message).not.toContain('leaked-looking-value');
    } finally {
      await s.close();
    }
  });

  it('truncated list after some records: forEachCustomer hands over the complete ones, then fails', async () => {
    let finish: () => void = () => {};
    const s = await standIn((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked
      res.write('[{"Id":"a","Deleted":false},');
      finish = () => res.end('{"Id":"b","Dele'); // a complete HTTP answer whose JSON stops short
    });
    try {
      const c = client({ baseUrl: s.url, credentials: STATIC });
      const seen: string[] = [];
      const err = await c
        .forEachCustomer((x) => {
          seen.push(x.Id);
          finish();
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MalformedResponseError);
      expect(seen).toEqual(['a']);
      expect(s.hits()).toBe(1);
    } finally {
      await s.close();
    }
  });
});

describe('a list that breaks off mid-body', () => {
  it('getAllCustomers retries and returns the whole list', async () => {
    const full = '[{"Id":"a","Deleted":false},{"Id":"b","Deleted":true}]';
    const s = await standIn((_req, res, n) => {
      res.writeHead(200, { 'content-type': 'application/json' }); // chunked
      if (n === 1) {
        res.write('[{"Id":"a","Deleted":false},');
        setImmediate(() => res.destroy());
      } else res.end(full);
    });
    try {
      const c = client({ baseUrl: s.url, credentials: STATIC });
      const all = await c.getAllCustomers();
      expect(all.map((x) => [x.Id, x.Deleted])).toEqual([
        ['a', false],
        ['b', true],
      ]);
      expect(s.hits()).toBe(2);
    } finally {
      await s.close();
    }
  });

  it('forEachCustomer does not replay records already handed over: UnavailableError', async () => {
    let drop: () => void = () => {};
    const s = await standIn((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[{"Id":"a","Deleted":false},');
      drop = () => res.destroy();
    });
    try {
      const c = client({ baseUrl: s.url, credentials: STATIC });
      const seen: string[] = [];
      const err = await c
        .forEachCustomer((x) => {
          seen.push(x.Id);
          drop(); // the connection breaks after the first record was handed over
        })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnavailableError);
      expect(seen).toEqual(['a']);
      expect(s.hits()).toBe(1);
    } finally {
      await s.close();
    }
  });

  it("an exception of forEachCustomer's callback is passed through as is, without retry", async () => {
    const s = await standIn((_req, res) => answer(res, 200, '[{"Id":"a"},{"Id":"b"}]'));
    try {
      const c = client({ baseUrl: s.url, credentials: STATIC });
      const boom = new Error('callback failed');
      const err = await c
        .forEachCustomer(() => {
          throw boom;
        })
        .catch((e: unknown) => e);
      expect(err).toBe(boom);
      expect(s.hits()).toBe(1);
    } finally {
      await s.close();
    }
  });
});

describe('401 after a renewal', () => {
  it('is a retryable AuthenticationError after exactly one renewal; logs and errors never show token or password', async () => {
    const TOKEN = 'issued-token-Very-Secret-0001';
    const s = await standIn((req, res) => {
      if (req.url?.startsWith('/token')) {
        return answer(
          res,
          200,
          JSON.stringify({ access_token: TOKEN, token_type: 'bearer', expires_in: 1209599 }),
        );
      }
      answer(res, 401, '{"Message":"Authorization has been denied for this request."}');
    });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    try {
      const c = client({ baseUrl: s.url, logger: pino({ level: 'trace' }, sink) });
      const err = await c.getCustomer(UNKNOWN_ID).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(AuthenticationError);
      expect((err as AuthenticationError).status).toBe(401);
      expect((err as AuthenticationError).serviceMessage).toBe(
        'Authorization has been denied for this request.',
      );
      // The credentials were just accepted, so a job may try again later (maintenance invalidates tokens).
      expect((err as AuthenticationError).retryable).toBe(true);
      expect(s.hits()).toBe(4); // token, 401, token, 401
      const everything = [
        lines.join('\n'),
        (err as Error).message,
        JSON.stringify(err),
        JSON.stringify(c.health()),
      ].join('\n');
      expect(lines.length).toBeGreaterThan(0);
      expect(everything).not.toContain(TOKEN);
      expect(everything).not.toContain(USER.password);
    } finally {
      await s.close();
    }
  });
});

describe('a large store: 100,000 customers', () => {
  const N = 100_000;
  let bodyBytes = 0;
  let total = 0;
  let gc: () => void;

  beforeAll(() => {
    sim.generateCustomers(N);
    const list = sim.listCustomers();
    total = list.length;
    bodyBytes = list.reduce((n, c) => n + serializeSummary(c).length + 1, 2);
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }, 60_000);

  it('forEachCustomer holds one record at a time: heap stays far below the size of the body', async () => {
    const c = client({ retry: { maxAttempts: 1 } });
    await c.getCustomer(UNKNOWN_ID); // token and connection first, outside the measurement
    gc();
    const base = process.memoryUsage().heapUsed;
    let peak = 0;
    let ids = 0;
    const count = await c.forEachCustomer((s) => {
      if (typeof s.Id === 'string') ids++;
      if (ids % 20_000 === 0) {
        gc();
        peak = Math.max(peak, process.memoryUsage().heapUsed - base);
      }
    });
    expect(count).toBe(total);
    expect(ids).toBe(total);
    expect(bodyBytes).toBeGreaterThan(20_000_000);
    // A client that held the body text (let alone parsed copies) would exceed this several times over.
    expect(peak).toBeLessThan(bodyBytes / 4);
  }, 120_000);

  it('getAllCustomers validates records while the body is still arriving', async () => {
    const spy = vi.spyOn(customerSummarySchema, 'safeParse');
    let parsedWhenBodyEnded = -1;
    const watch: Dispatcher.DispatcherComposeInterceptor = (dispatch) => (opts, handler) =>
      dispatch(
        opts,
        new (class extends ForwardingHandler {
          override onResponseEnd(...args: Parameters<ForwardingHandler['onResponseEnd']>) {
            if (String(opts.path).includes('GetAllCustomers')) parsedWhenBodyEnded = spy.mock.calls.length;
            return super.onResponseEnd(...args);
          }
        })(handler),
      );
    const agent = new Agent().compose(watch);
    try {
      const c = client({ dispatcher: agent, retry: { maxAttempts: 1 } });
      const all = await c.getAllCustomers();
      expect(all).toHaveLength(total);
      expect(new Set(all.map((x) => x.Id)).size).toBe(total);
      expect(spy.mock.calls.length).toBe(total);
      // A buffering client would have validated nothing by the time the last byte arrived.
      expect(parsedWhenBodyEnded).toBeGreaterThan(total / 2);
    } finally {
      spy.mockRestore();
      await agent.close();
    }
  }, 120_000);
});

/** A full record (every field of the seed article's GetOne example) for an id the service does not know. */
function fullRecord(): Record<string, unknown> & { Id: string } {
  return { ...Object.fromEntries(Object.keys(SEED_GET_ONE).map((n) => [n, null])), Id: UNKNOWN_ID };
}
