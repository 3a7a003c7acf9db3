/**
 * A faithful in-memory stand-in for IT Retail's customer API (the "CustomersData" Web API plus its /token
 * endpoint), served over real HTTP. Used for development, the demo and every integration test.
 *
 * Wire behaviour follows shared/itretail/API.md and IT Retail's "API: Customers" article: Put replaces the
 * whole record (absent fields become null), emails are unique on create, phones on create are 10 digits,
 * GetOne answers `null` for unknown ids, money is written with four decimals, dates are local-time strings
 * without a zone. Faults (latency, 500, 429, hangs, writes applied-then-failed) are injectable at run time
 * and deterministic for a given randomSeed and request sequence.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

import type { CallName } from '../../src/itretail/errors.js';
import {
  DEFAULT_FAULTS,
  type FaultKind,
  type Faults,
  type HeldCall,
  mergeFaults,
  mulberry32,
} from './faults.js';
import { CITIES, FIRST_NAMES, LAST_NAMES, STREETS } from './names.js';
import {
  bindField,
  copyCustomer,
  DAY_DURATION,
  EMPTY,
  FULL_RECORD_WIRE,
  type FullCustomer,
  flat,
  formatLocalDateTime,
  formatLocalMicros,
  GUID_RE,
  guidFrom,
  INVALID,
  isoMicros,
  isoOffset,
  type LoyaltyOperation,
  lowerKeys,
  MSG_DENIED,
  MSG_EMAIL_TAKEN,
  MSG_ERROR,
  MSG_PHONE,
  MSG_THROTTLED,
  normEmail,
  pad2,
  pick,
  ServiceRefusal,
  SimulatorError,
  serializeFullRecord,
  serializeSummary,
} from './records.js';

export { CALL_NAMES, DEFAULT_FAULTS, type FaultKind, type Faults, type HeldCall } from './faults.js';
export {
  FULL_RECORD_WIRE,
  type FullCustomer,
  formatLocalDateTime,
  formatMoney,
  type LoyaltyOperation,
  MONEY_FIELDS,
  SimulatorError,
  SUMMARY_FIELDS,
  serializeFullRecord,
  serializeSummary,
} from './records.js';

/** The calls of IT Retail's article, named as the client names them. */
export type { CallName };

export interface SimulatorOptions {
  port?: number;
  host?: string;
  users?: { username: string; password: string }[];
  /** Tokens always accepted (a merchant's pasted token). */
  staticTokens?: string[];
  tokenTtlMs?: number;
  randomSeed?: number;
  faults?: Partial<Faults>;
  /**
   * What GetOne and Put show of the loyalty-operation history. 'seed' (default), as IT Retail's own article
   * shows it: GetOne lists no operations at all, a Put's answer lists only the operation that Put made.
   * 'full': GetOne lists every operation the record ever had (a kinder service, kept for comparison).
   */
  operationHistory?: OperationHistory;
}

export type OperationHistory = 'seed' | 'full';

export interface CallLogEntry {
  at: number;
  call: CallName | 'unknown';
  method: string;
  path: string;
  status: number | 'hang' | 'drop';
  fault?: string;
  customerId?: string;
  durationMs: number;
  /** The user whose sign-in issued the token the call carried. */
  user?: string;
  /**
   * A Put based on an older read than the record it replaced (its body's `Modified` was not the record's):
   * the points changed after that read and this Put wrote over them (what the service's own audit would
   * show). Ground truth for tests; the service tells its clients nothing of it.
   */
  overwrote?: number;
  /** With `overwrote`: the points that Put wrote. */
  wrote?: number;
}

// ---------------------------------------------------------------------------------------------------------

interface ParsedRoute {
  call: CallName | 'unknown';
  /** Set when the path is known but the method is not. */
  badMethod?: boolean;
}

function routeOf(method: string, pathname: string): ParsedRoute {
  const p = pathname.replace(/\/+$/, '').toLowerCase();
  const table: Record<string, [string, CallName]> = {
    '/token': ['POST', 'token'],
    '/api/customersdata/getallcustomers': ['GET', 'GetAllCustomers'],
    '/api/customersdata/getcustomerproductpurchases': ['GET', 'GetCustomerProductPurchases'],
    '/api/customersdata/post': ['POST', 'CreateCustomer'],
    '/api/customersdata/getone': ['GET', 'GetCustomer'],
    '/api/customersdata/put': ['PUT', 'UpdateCustomer'],
  };
  const hit = table[p];
  if (!hit) return { call: 'unknown' };
  if (hit[0] !== method) return { call: hit[1], badMethod: true };
  return { call: hit[1] };
}

const MAX_API_BODY = 1024 * 1024;
const MAX_SIM_BODY = 64 * 1024 * 1024;
const CALL_LOG_LIMIT = 20_000;
const STREAM_CHUNK_CHARS = 64 * 1024;

export class ITRetailSimulator {
  readonly url: string;
  private readonly server: Server;
  private readonly users: { username: string; password: string }[];
  private readonly staticTokens: Set<string>;
  private readonly tokenTtlMs: number;
  private readonly tokens = new Map<string, number>();
  private faultState: Faults;
  private readonly faultRng: () => number;
  private readonly dataRng: () => number;
  private readonly customers = new Map<string, FullCustomer>();
  private readonly emailIndex = new Map<string, string[]>();
  /** date key YYYY-MM-DD → customer id → UPCs. */
  private readonly purchases = new Map<string, Map<string, string[]>>();
  private readonly sockets = new Set<Socket>();
  private readonly held = new Set<ServerResponse>();
  private gate: { calls: CallName[]; applyFirst: (customerId: string | undefined) => boolean } | undefined;
  private readonly gated = new Set<HeldCall & { release(): void }>();
  private readonly log: CallLogEntry[] = [];
  private counts: Partial<Record<CallName, number>> = {};
  private cardSeq = 100000;
  private incSeq = 40000;
  private stopped = false;
  private readonly streams = {
    active: 0,
    completed: 0,
    aborted: 0,
    lastBytes: 0,
    lastChunks: 0,
    maxPendingBytes: 0,
    drainWaits: 0,
  };
  readonly tenantId: string;
  private history: OperationHistory;
  /** The operation the last UpdateCustomer made (read right after it, before any await). */
  private lastPutOp: LoyaltyOperation | undefined;
  private lastStampMicros = 0;
  /** Points added to the next Put answers' LoyaltyPoints (a register write racing the answer). */
  private answerSkews: number[] = [];
  private readonly hiddenFromGetOne = new Map<string, number>();
  private readonly pointsAt = new Map<string, Map<string, number>>();
  /** Who signed in for each token issued by /token (the call log names the user). */
  private readonly tokenUsers = new Map<string, string>();
  private lastOverwrote = 0;

  private constructor(server: Server, url: string, opts: SimulatorOptions) {
    this.server = server;
    this.url = url;
    this.users = opts.users ?? [{ username: 'demo', password: 'demo' }];
    this.staticTokens = new Set(opts.staticTokens ?? []);
    this.tokenTtlMs = opts.tokenTtlMs ?? DAY_DURATION;
    const seed = opts.randomSeed ?? 0x5eed;
    this.faultRng = mulberry32(seed);
    this.dataRng = mulberry32((seed ^ 0x9e3779b9) >>> 0);
    this.tenantId = guidFrom(mulberry32((seed ^ 0x7e4a47) >>> 0));
    this.faultState = { ...DEFAULT_FAULTS };
    if (opts.faults) this.setFaults(opts.faults);
    this.history = opts.operationHistory ?? 'seed';
  }

  /** Switches what GetOne and Put answers show of the operation history (see SimulatorOptions). */
  setOperationHistory(mode: OperationHistory): void {
    this.history = mode;
  }

  get operationHistory(): OperationHistory {
    return this.history;
  }

  /**
   * The next Put answer (one per call) reports LoyaltyPoints off by `delta` from what was written, as when
   * the register writes between the service applying a Put and answering it.
   */
  skewNextPutAnswer(delta: number): void {
    this.answerSkews.push(delta);
  }

  /**
   * The next `calls` GetOne requests for this customer answer `null` although it exists (as a wrong token or
   * base URL, saved for a moment, answers for every id).
   */
  hideFromGetOne(id: string, calls: number): void {
    this.hiddenFromGetOne.set(id.toLowerCase(), calls);
  }

  /** Points of each recent version of a record, by its Modified (the last 50 per customer). */
  private rememberVersion(c: FullCustomer): void {
    let v = this.pointsAt.get(c.Id);
    if (!v) {
      v = new Map();
      this.pointsAt.set(c.Id, v);
    }
    v.set(String(c.Modified), c.LoyaltyPoints ?? 0);
    if (v.size > 50) v.delete(v.keys().next().value as string);
  }

  /** A strictly increasing moment in µs: `Modified` changes on every write, even two in one millisecond. */
  private stamp(): number {
    let us = Date.now() * 1000;
    if (us <= this.lastStampMicros) us = this.lastStampMicros + 1;
    this.lastStampMicros = us;
    return us;
  }

  /** A record as GetOne answers it: under 'seed', without any loyalty operation. */
  private asGetOne(c: FullCustomer): string {
    if (this.history === 'full' || c.CustomerLoyaltyPointOperations === null) return serializeFullRecord(c);
    return serializeFullRecord({ ...c, CustomerLoyaltyPointOperations: [] });
  }

  /** A record as a Put answers it: under 'seed', listing only the operation that Put made. */
  private asPutAnswer(c: FullCustomer, op: LoyaltyOperation | undefined): string {
    const skew = this.answerSkews.shift() ?? 0;
    const shown = skew ? { ...c, LoyaltyPoints: (c.LoyaltyPoints ?? 0) + skew } : c;
    if (this.history === 'full') return serializeFullRecord(shown);
    return serializeFullRecord({ ...shown, CustomerLoyaltyPointOperations: op ? [op] : [] });
  }

  static async start(opts: SimulatorOptions = {}): Promise<ITRetailSimulator> {
    const server = createServer();
    server.keepAliveTimeout = 5000;
    const host = opts.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address() as AddressInfo;
    const urlHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    const sim = new ITRetailSimulator(server, `http://${urlHost}:${addr.port}`, opts);
    server.on('connection', (s: Socket) => {
      sim.sockets.add(s);
      s.on('close', () => sim.sockets.delete(s));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      sim.handle(req, res).catch(() => {
        if (!res.headersSent && !res.destroyed) sim.sendJson(res, 500, { Message: MSG_ERROR });
        else res.destroy();
      });
    });
    server.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
      else socket.destroy();
    });
    return sim;
  }

  // ----- held calls -------------------------------------------------------------------------------------

  /**
   * Holds every request of these calls until releaseCalls() (a deterministic "call in flight" for tests).
   * A write for which `applyWritesFirst` says yes is applied first and only its answer is held (a write
   * applied whose answer is lost when the client goes away); any other held request is carried out when
   * released, unless its client has gone by then (then nothing is applied).
   */
  holdCalls(
    calls: CallName[],
    opts: { applyWritesFirst?: boolean | ((customerId: string | undefined) => boolean) } = {},
  ): void {
    const a = opts.applyWritesFirst;
    this.gate = { calls: [...calls], applyFirst: typeof a === 'function' ? a : () => a === true };
  }

  /** Stops holding and lets every held request go on. */
  releaseCalls(): void {
    this.gate = undefined;
    for (const h of [...this.gated]) h.release();
  }

  /** The requests held right now (a request whose client went away is no longer listed). */
  get heldCalls(): HeldCall[] {
    return [...this.gated].map(({ call, customerId, applied }) => ({
      call,
      applied,
      ...(customerId !== undefined ? { customerId } : {}),
    }));
  }

  private holdHere(res: ServerResponse, info: HeldCall): Promise<void> {
    return new Promise((resolve) => {
      const entry = {
        ...info,
        release: () => {
          this.gated.delete(entry);
          resolve();
        },
      };
      this.gated.add(entry);
      res.on('close', entry.release);
    });
  }

  // ----- faults -------------------------------------------------------------------------------------------

  get faults(): Faults {
    const f = { ...this.faultState };
    if (this.faultState.calls) f.calls = [...this.faultState.calls];
    return f;
  }

  setFaults(f: Partial<Faults>): void {
    this.faultState = mergeFaults(this.faultState, f);
  }

  resetFaults(): void {
    this.faultState = { ...DEFAULT_FAULTS };
  }

  // ----- tokens -------------------------------------------------------------------------------------------

  /** Every issued token answers 401 from now on. Static tokens too when includeStatic is set. */
  expireAllTokens(opts: { includeStatic?: boolean } = {}): void {
    this.tokens.clear();
    this.tokenUsers.clear();
    if (opts.includeStatic) this.staticTokens.clear();
  }

  /** Issues a token directly (as the /token endpoint would). */
  issueToken(): string {
    const token = randomBytes(96).toString('base64url');
    this.tokens.set(token, Date.now() + this.tokenTtlMs);
    if (this.tokens.size > 10_000) {
      const now = Date.now();
      for (const [t, exp] of this.tokens) {
        if (exp <= now) {
          this.tokens.delete(t);
          this.tokenUsers.delete(t);
        }
      }
    }
    return token;
  }

  private tokenValid(header: string | undefined): boolean {
    if (!header) return false;
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!m) return false;
    const token = m[1]!;
    if (this.staticTokens.has(token)) return true;
    const exp = this.tokens.get(token);
    if (exp === undefined) return false;
    if (exp <= Date.now()) {
      this.tokens.delete(token);
      return false;
    }
    return true;
  }

  // ----- state --------------------------------------------------------------------------------------------

  private indexEmail(c: FullCustomer): void {
    const e = normEmail(c.Email);
    if (!e) return;
    const ids = this.emailIndex.get(e);
    if (ids) ids.push(c.Id);
    else this.emailIndex.set(e, [c.Id]);
  }

  private unindexEmail(c: FullCustomer): void {
    const e = normEmail(c.Email);
    if (!e) return;
    const ids = this.emailIndex.get(e);
    if (!ids) return;
    const i = ids.indexOf(c.Id);
    if (i >= 0) ids.splice(i, 1);
    if (ids.length === 0) this.emailIndex.delete(e);
  }

  /** Ids of live (not deleted) customers with this email, other than `exceptId`. */
  private liveWithEmail(email: string | null, exceptId?: string): string[] {
    const e = normEmail(email);
    if (!e) return [];
    const ids = this.emailIndex.get(e) ?? [];
    return ids.filter((id) => id !== exceptId && this.customers.get(id)?.Deleted === false);
  }

  private put(c: FullCustomer): void {
    this.rememberVersion(c);
    const old = this.customers.get(c.Id);
    if (old) this.unindexEmail(old);
    this.customers.set(c.Id, c);
    this.indexEmail(c);
  }

  private nextCardNo(): string {
    this.cardSeq += 1;
    return flat(`00612${String(this.cardSeq).padStart(8, '0')}`);
  }

  private blankCustomer(id: string): FullCustomer {
    return {
      Id: id,
      CardNo: null,
      LastName: null,
      FirstName: null,
      BirthDate: null,
      Address1: null,
      Address2: null,
      Phone: null,
      City: null,
      State: null,
      Zip: null,
      CashBack: null,
      Discount: null,
      FrequentShopper: null,
      WriteChecks: null,
      Type: null,
      Purchases: null,
      NumberOfChecks: null,
      PointsEarned: null,
      Deleted: false,
      Created: null,
      Modified: null,
      ModifiedBy: null,
      ReceiptType: null,
      Email: null,
      Attributes: null,
      TenantId: null,
      PaymentToken: null,
      Inc: null,
      Balance: null,
      BalanceLimit: null,
      LoyaltyPoints: null,
      expiration_date: null,
      CustomerBalanceOperations: null,
      CustomerCoupons: null,
      CustomerGroupCustomers: null,
      CustomerLoyaltyPointOperations: null,
      TransactionLoyaltyOperations: null,
    };
  }

  /** Explicit customers (emails are not checked for uniqueness: this is data already in the POS). */
  seedCustomers(records: Partial<FullCustomer>[]): FullCustomer[] {
    if (!Array.isArray(records)) throw new SimulatorError('INVALID', 'records must be an array');
    const out: FullCustomer[] = [];
    const built: FullCustomer[] = [];
    for (const r of records) {
      if (r === null || typeof r !== 'object')
        throw new SimulatorError('INVALID', 'each record must be an object');
      let id: string;
      if (r.Id === undefined || r.Id === null) id = guidFrom(this.dataRng);
      else if (typeof r.Id === 'string' && GUID_RE.test(r.Id)) id = r.Id.replace(GUID_RE, '$1').toLowerCase();
      else throw new SimulatorError('INVALID', 'Id must be a GUID');
      const c = this.blankCustomer(id);
      c.CardNo = this.nextCardNo();
      c.Created = formatLocalDateTime(new Date());
      c.TenantId = this.tenantId;
      c.Inc = ++this.incSeq;
      c.LoyaltyPoints = 0;
      c.CustomerBalanceOperations = [];
      c.CustomerCoupons = [];
      c.CustomerGroupCustomers = [];
      c.CustomerLoyaltyPointOperations = [];
      c.TransactionLoyaltyOperations = [];
      for (const [key, kind] of FULL_RECORD_WIRE) {
        if (key === 'Id' || !(key in r)) continue;
        const v = (r as Record<string, unknown>)[key];
        try {
          (c as unknown as Record<string, unknown>)[key] = bindField(kind, v);
        } catch {
          throw new SimulatorError('INVALID', `field ${key} has the wrong type`);
        }
      }
      built.push(c);
    }
    for (const c of built) {
      this.put(c);
      out.push(copyCustomer(c));
    }
    return out;
  }

  /** N realistic generated customers; fast enough for hundreds of thousands. */
  generateCustomers(
    n: number,
    opts: {
      emailDomain?: string;
      deletedShare?: number;
      duplicateEmailShare?: number;
      noEmailShare?: number;
    } = {},
  ): void {
    if (!Number.isInteger(n) || n < 0) throw new SimulatorError('INVALID', 'n must be a whole number >= 0');
    const domain = opts.emailDomain ?? 'example.com';
    const deletedShare = opts.deletedShare ?? 0.02;
    const dupShare = opts.duplicateEmailShare ?? 0;
    const noEmailShare = opts.noEmailShare ?? 0;
    const rng = this.dataRng;
    const base = Date.UTC(2019, 0, 1);
    const span = 5 * 365 * 24 * 3600 * 1000;
    const recentEmails: string[] = [];
    const start = this.customers.size;
    for (let i = 0; i < n; i++) {
      const id = guidFrom(rng);
      const first = FIRST_NAMES[Math.floor(rng() * FIRST_NAMES.length)]!;
      const last = LAST_NAMES[Math.floor(rng() * LAST_NAMES.length)]!;
      const c = this.blankCustomer(id);
      c.CardNo = this.nextCardNo();
      c.FirstName = first;
      c.LastName = last;
      const r = rng();
      let email: string | null;
      if (recentEmails.length > 0 && r < dupShare) {
        const prior = recentEmails[Math.floor(rng() * recentEmails.length)]!;
        const v = rng();
        email = v < 0.33 ? prior.toUpperCase() : v < 0.66 ? ` ${prior} ` : prior;
      } else if (r < dupShare + noEmailShare) {
        email = null;
      } else {
        const local = `${first}.${last}`.toLowerCase().replace(/[^a-z.]/g, '');
        email = `${local}${start + i + 1}@${domain}`;
        if (recentEmails.length < 1000) recentEmails.push(email);
        else recentEmails[Math.floor(rng() * 1000)] = email;
      }
      c.Email = flat(email);
      c.Phone =
        rng() < 0.8
          ? flat(`${2 + Math.floor(rng() * 8)}${String(Math.floor(rng() * 1e9)).padStart(9, '0')}`)
          : null;
      if (rng() < 0.5) {
        const [city, state, zip] = CITIES[Math.floor(rng() * CITIES.length)]!;
        c.Address1 = flat(`${1 + Math.floor(rng() * 9999)} ${STREETS[Math.floor(rng() * STREETS.length)]}`);
        c.City = city;
        c.State = state;
        c.Zip = zip;
      }
      if (rng() < 0.2) {
        c.BirthDate = flat(
          `${1940 + Math.floor(rng() * 65)}-${pad2(1 + Math.floor(rng() * 12))}-${pad2(
            1 + Math.floor(rng() * 28),
          )}T00:00:00`,
        );
      }
      const created = new Date(base + Math.floor(rng() * span));
      c.Created = formatLocalDateTime(created);
      c.Modified =
        rng() < 0.7 ? formatLocalDateTime(new Date(created.getTime() + Math.floor(rng() * 1e9))) : null;
      c.ModifiedBy = 1;
      c.CashBack = 0;
      c.Discount = rng() < 0.3 ? 10 : 0;
      c.WriteChecks = rng() < 0.5;
      c.Purchases = Math.round(rng() * 500000) / 100;
      c.NumberOfChecks = 0;
      c.Attributes = 4;
      c.TenantId = this.tenantId;
      c.Inc = ++this.incSeq;
      c.Balance = rng() < 0.1 ? Math.round(rng() * 40000) / 100 : null;
      c.BalanceLimit = rng() < 0.1 ? 500 : null;
      const pts = rng() < 0.6 ? Math.floor(rng() * 2000) : 0;
      c.LoyaltyPoints = pts;
      c.PointsEarned = pts;
      c.expiration_date =
        rng() < 0.1
          ? `${2026 + Math.floor(rng() * 3)}-${pad2(1 + Math.floor(rng() * 12))}-01T00:00:00`
          : null;
      c.Deleted = rng() < deletedShare;
      c.CustomerBalanceOperations = EMPTY;
      c.CustomerCoupons = EMPTY;
      c.CustomerGroupCustomers = EMPTY;
      c.CustomerLoyaltyPointOperations = EMPTY;
      c.TransactionLoyaltyOperations = EMPTY;
      this.customers.set(id, c);
      this.indexEmail(c);
    }
  }

  private mustGet(id: string): FullCustomer {
    const key = typeof id === 'string' ? id.replace(GUID_RE, '$1').toLowerCase() : '';
    const c = this.customers.get(key);
    if (!c) throw new SimulatorError('NOT_FOUND', 'no such customer');
    return c;
  }

  /** An in-store (register) points change: records a non-manual operation with a transaction id. */
  adjustPoints(id: string, delta: number): FullCustomer {
    if (!Number.isInteger(delta)) throw new SimulatorError('INVALID', 'delta must be a whole number');
    const c = this.mustGet(id);
    const now = new Date();
    const after = (c.LoyaltyPoints ?? 0) + delta;
    const op: LoyaltyOperation = {
      Id: guidFrom(this.dataRng),
      TenantId: c.TenantId ?? this.tenantId,
      CustomerId: c.Id,
      LoyaltyPointsAdded: delta,
      LoyaltyPointsAfterAdd: after,
      OperationDate: isoOffset(now),
      IsManualUpdate: false,
      TransactionId: guidFrom(this.dataRng),
      Tenant: null,
      Transaction: null,
    };
    c.LoyaltyPoints = after;
    c.Modified = formatLocalMicros(this.stamp());
    this.rememberVersion(c);
    c.CustomerLoyaltyPointOperations = [...(c.CustomerLoyaltyPointOperations ?? []), op];
    return copyCustomer(c);
  }

  /** Feeds GetCustomerProductPurchases (the date's local calendar day). */
  recordPurchase(id: string, upcs: string[], date: Date): void {
    const c = this.mustGet(id);
    if (!Array.isArray(upcs) || !upcs.every((u) => typeof u === 'string')) {
      throw new SimulatorError('INVALID', 'upcs must be a list of strings');
    }
    if (!(date instanceof Date) || Number.isNaN(date.getTime()))
      throw new SimulatorError('INVALID', 'bad date');
    const key = `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())}`;
    let day = this.purchases.get(key);
    if (!day) {
      day = new Map();
      this.purchases.set(key, day);
    }
    const list = day.get(c.Id) ?? [];
    list.push(...upcs);
    day.set(c.Id, list);
  }

  softDelete(id: string): void {
    const c = this.mustGet(id);
    c.Deleted = true;
    c.Modified = formatLocalMicros(this.stamp());
  }

  hardDelete(id: string): void {
    const c = this.mustGet(id);
    this.unindexEmail(c);
    this.customers.delete(c.Id);
  }

  getCustomer(id: string): FullCustomer | undefined {
    const key = typeof id === 'string' ? id.replace(GUID_RE, '$1').toLowerCase() : '';
    const c = this.customers.get(key);
    return c ? copyCustomer(c) : undefined;
  }

  listCustomers(): FullCustomer[] {
    return Array.from(this.customers.values(), copyCustomer);
  }

  /** Trimmed, case-insensitive; deleted customers included. */
  findByEmail(email: string): FullCustomer[] {
    const e = normEmail(email);
    if (!e) return [];
    return (this.emailIndex.get(e) ?? []).map((id) => copyCustomer(this.customers.get(id)!));
  }

  get customerCount(): number {
    return this.customers.size;
  }

  // ----- call log -----------------------------------------------------------------------------------------

  get calls(): CallLogEntry[] {
    return this.log;
  }

  callCounts(): Partial<Record<CallName, number>> {
    return { ...this.counts };
  }

  clearCalls(): void {
    this.log.length = 0;
    this.counts = {};
  }

  private record(e: CallLogEntry): void {
    if (this.log.length >= CALL_LOG_LIMIT) this.log.splice(0, CALL_LOG_LIMIT / 10);
    this.log.push(e);
  }

  // ----- lifecycle ----------------------------------------------------------------------------------------

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const res of this.held) res.destroy();
    this.held.clear();
    this.releaseCalls();
    this.server.closeAllConnections();
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  // ----- HTTP ---------------------------------------------------------------------------------------------

  private sendJson(
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ): void {
    this.sendRaw(res, status, JSON.stringify(body), headers);
  }

  private sendRaw(
    res: ServerResponse,
    status: number,
    text: string,
    headers: Record<string, string> = {},
  ): void {
    if (res.destroyed || res.headersSent) return;
    res.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(text),
      ...headers,
    });
    res.end(text);
  }

  private readBody(req: IncomingMessage, limit: number): Promise<string> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > limit) {
          reject(new ServiceRefusal(413, { Message: 'The request body is too large.' }));
          req.resume();
          return;
        }
        chunks.push(c);
      });
      req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
      req.on('error', reject);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const url = new URL(req.url ?? '/', 'http://sim.invalid');
    if (url.pathname.startsWith('/__sim/') || url.pathname === '/__sim') {
      await this.handleControl(req, res, method, url);
      return;
    }
    const route = routeOf(method, url.pathname);
    const entry: CallLogEntry = {
      at: started,
      call: route.call,
      method,
      path: url.pathname + url.search,
      status: 0,
      durationMs: 0,
    };
    const finish = (status: CallLogEntry['status'], fault?: FaultKind) => {
      entry.status = status;
      if (fault) entry.fault = fault;
      entry.durationMs = Date.now() - started;
      this.record(entry);
    };
    if (route.call !== 'unknown') this.counts[route.call] = (this.counts[route.call] ?? 0) + 1;

    let bodyText = '';
    try {
      bodyText = await this.readBody(req, MAX_API_BODY);
    } catch (e) {
      if (e instanceof ServiceRefusal) {
        this.sendJson(res, e.status, e.body, { Connection: 'close' });
        finish(e.status);
        return;
      }
      throw e;
    }

    if (route.call === 'unknown') {
      this.sendJson(res, 404, {
        Message: `No HTTP resource was found that matches the request URI '${url.pathname}'.`,
      });
      finish(404);
      return;
    }
    const call = route.call;
    const isWrite = call === 'CreateCustomer' || call === 'UpdateCustomer';

    const gate = this.gate?.calls.includes(call) ? this.gate : undefined;
    const writeId = isWrite ? idInBody(bodyText) : undefined;
    const applyThenHold = !!gate && isWrite && gate.applyFirst(writeId);
    if (gate && !applyThenHold) {
      await this.holdHere(res, { call, applied: false, ...(writeId ? { customerId: writeId } : {}) });
      if (res.destroyed || this.stopped) {
        finish('drop');
        return;
      }
    }

    // Faults: decided before anything is applied. The rolls are taken for every eligible request so the
    // sequence stays deterministic for a given seed whatever the rates are.
    const f = this.faultState;
    const eligible = !f.calls || f.calls.includes(call);
    let writeRoll = 1;
    if (eligible) {
      const jitterRoll = this.faultRng();
      const roll = this.faultRng();
      if (call === 'CreateCustomer' || call === 'UpdateCustomer') writeRoll = this.faultRng();
      const delay = f.latencyMs + jitterRoll * f.jitterMs;
      if (delay > 0) await new Promise((r) => setTimeout(r, delay));
      if (res.destroyed || this.stopped) {
        finish('drop');
        return;
      }
      if (roll < f.hangRate) {
        this.held.add(res);
        res.on('close', () => this.held.delete(res));
        finish('hang', 'hang');
        return;
      }
      if (roll < f.hangRate + f.errorRate) {
        this.sendJson(res, 500, { Message: MSG_ERROR });
        finish(500, 'error');
        return;
      }
      if (roll < f.hangRate + f.errorRate + f.throttleRate) {
        this.sendJson(res, 429, { Message: MSG_THROTTLED }, { 'Retry-After': String(f.retryAfterSeconds) });
        finish(429, 'throttle');
        return;
      }
    }

    if (route.badMethod) {
      this.sendJson(res, 405, {
        Message: `The requested resource does not support http method '${method}'.`,
      });
      finish(405);
      return;
    }

    if (call === 'token') {
      const status = this.handleToken(res, bodyText);
      finish(status);
      return;
    }

    const user = this.tokenUsers.get(/^Bearer\s+(\S+)/i.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (user) entry.user = user;
    if (!this.tokenValid(req.headers.authorization)) {
      this.sendJson(res, 401, { Message: MSG_DENIED });
      finish(401);
      return;
    }

    try {
      switch (call) {
        case 'GetAllCustomers': {
          const status = await this.streamAllCustomers(res);
          finish(status);
          return;
        }
        case 'GetCustomerProductPurchases': {
          this.sendRaw(res, 200, this.purchasesFor(url.searchParams));
          finish(200);
          return;
        }
        case 'GetCustomer': {
          const id = queryParam(url.searchParams, 'Id');
          if (id === undefined || !GUID_RE.test(id)) throw new ServiceRefusal(400, INVALID);
          const key = id.replace(GUID_RE, '$1').toLowerCase();
          entry.customerId = key;
          const hidden = this.hiddenFromGetOne.get(key) ?? 0;
          if (hidden > 0) {
            if (hidden === 1) this.hiddenFromGetOne.delete(key);
            else this.hiddenFromGetOne.set(key, hidden - 1);
          }
          const c = hidden > 0 ? undefined : this.customers.get(key);
          this.sendRaw(res, 200, c ? this.asGetOne(c) : 'null');
          finish(200);
          return;
        }
        case 'CreateCustomer':
        case 'UpdateCustomer': {
          const c = call === 'CreateCustomer' ? this.create(bodyText) : this.update(bodyText);
          const op = call === 'UpdateCustomer' ? this.lastPutOp : undefined;
          if (call === 'UpdateCustomer' && this.lastOverwrote) {
            entry.overwrote = this.lastOverwrote;
            entry.wrote = c.LoyaltyPoints ?? 0;
          }
          entry.customerId = c.Id;
          if (applyThenHold) {
            await this.holdHere(res, { call, customerId: c.Id, applied: true });
            if (res.destroyed || this.stopped) {
              finish('drop', 'applied-then-drop');
              return;
            }
          }
          if (eligible && writeRoll < f.writeAppliedThenErrorRate) {
            this.sendJson(res, 500, { Message: MSG_ERROR });
            finish(500, 'applied-then-error');
            return;
          }
          if (eligible && writeRoll < f.writeAppliedThenErrorRate + f.writeAppliedThenDropRate) {
            req.socket.destroy();
            finish('drop', 'applied-then-drop');
            return;
          }
          this.sendRaw(res, 200, call === 'UpdateCustomer' ? this.asPutAnswer(c, op) : this.asGetOne(c));
          finish(200);
          return;
        }
      }
    } catch (e) {
      if (e instanceof ServiceRefusal) {
        this.sendJson(res, e.status, e.body);
        finish(e.status);
        return;
      }
      this.sendJson(res, 500, { Message: MSG_ERROR });
      finish(500);
    }
  }

  private handleToken(res: ServerResponse, bodyText: string): number {
    const form = new URLSearchParams(bodyText);
    if (form.get('grant_type') !== 'password') {
      this.sendJson(res, 400, { error: 'unsupported_grant_type' });
      return 400;
    }
    const username = form.get('username') ?? '';
    const password = form.get('password') ?? '';
    const ok = this.users.some(
      (u) => u.username.toLowerCase() === username.trim().toLowerCase() && u.password === password,
    );
    if (!ok) {
      this.sendJson(res, 400, {
        error: 'invalid_grant',
        error_description: 'The user name or password is incorrect.',
      });
      return 400;
    }
    const token = this.issueToken();
    this.tokenUsers.set(token, username.trim().toLowerCase());
    this.sendJson(res, 200, {
      access_token: token,
      token_type: 'bearer',
      expires_in: Math.max(0, Math.floor(this.tokenTtlMs / 1000) - 1),
    });
    return 200;
  }

  /** Streams every customer as a summary record, in chunks, waiting for the socket to drain. */
  private async streamAllCustomers(res: ServerResponse): Promise<number> {
    const st = this.streams;
    st.active++;
    st.lastBytes = 0;
    st.lastChunks = 0;
    const write = (text: string): boolean => {
      st.lastBytes += Buffer.byteLength(text);
      st.lastChunks++;
      const ok = res.write(text);
      if (res.writableLength > st.maxPendingBytes) st.maxPendingBytes = res.writableLength;
      return ok;
    };
    try {
      res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
      let buf = '[';
      let first = true;
      for (const c of this.customers.values()) {
        if (!first) buf += ',';
        first = false;
        buf += serializeSummary(c);
        if (buf.length < STREAM_CHUNK_CHARS) continue;
        if (res.destroyed) {
          st.aborted++;
          return 200;
        }
        const ok = write(buf);
        buf = '';
        if (!ok) {
          st.drainWaits++;
          const open = await new Promise<boolean>((resolve) => {
            const onDrain = () => {
              res.off('close', onClose);
              resolve(true);
            };
            const onClose = () => {
              res.off('drain', onDrain);
              resolve(false);
            };
            res.once('drain', onDrain);
            res.once('close', onClose);
          });
          if (!open) {
            st.aborted++;
            return 200;
          }
        }
      }
      buf += ']';
      if (res.destroyed) {
        st.aborted++;
        return 200;
      }
      st.lastBytes += Buffer.byteLength(buf);
      st.lastChunks++;
      res.end(buf);
      st.completed++;
      return 200;
    } finally {
      st.active--;
    }
  }

  /** How GetAllCustomers streams went: bytes and chunks of the latest, the most ever queued unsent. */
  streamStats(): {
    active: number;
    completed: number;
    aborted: number;
    lastBytes: number;
    lastChunks: number;
    maxPendingBytes: number;
    drainWaits: number;
  } {
    return { ...this.streams };
  }

  private purchasesFor(params: URLSearchParams): string {
    const raw = queryParam(params, 'date');
    const m = raw === undefined ? null : /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(raw.trim());
    if (!m) throw new ServiceRefusal(400, INVALID);
    const month = Number(m[1]);
    const day = Number(m[2]);
    const year = Number(m[3]);
    const d = new Date(year, month - 1, day);
    if (d.getFullYear() !== year || d.getMonth() !== month - 1 || d.getDate() !== day) {
      throw new ServiceRefusal(400, INVALID);
    }
    const entries = this.purchases.get(`${year}-${pad2(month)}-${pad2(day)}`);
    const out: { Id: string; CardNumber: string | null; ProductsPurchased: string[] }[] = [];
    if (entries) {
      for (const [id, upcs] of entries) {
        const c = this.customers.get(id);
        if (!c) continue;
        out.push({ Id: id, CardNumber: c.CardNo, ProductsPurchased: upcs });
      }
    }
    return JSON.stringify(out);
  }

  private parseJsonObject(text: string): Record<string, unknown> {
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new ServiceRefusal(400, INVALID);
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new ServiceRefusal(400, INVALID);
    return body as Record<string, unknown>;
  }

  private create(text: string): FullCustomer {
    const body = this.parseJsonObject(text);
    const lk = lowerKeys(body);
    const str = (name: string): string | null => {
      const [, v] = pick(body, name, lk);
      if (v === undefined || v === null) return null;
      if (typeof v !== 'string') throw new ServiceRefusal(400, INVALID);
      return v.trim() === '' ? null : v.trim();
    };
    const first = str('FirstName');
    const last = str('LastName');
    const email = str('Email');
    const phone = str('Phone');
    if (!first) throw new ServiceRefusal(400, { Message: 'FirstName is required.' });
    if (!last) throw new ServiceRefusal(400, { Message: 'LastName is required.' });
    if (!email) throw new ServiceRefusal(400, { Message: 'Email is required.' });
    if (phone !== null && !/^\d{10}$/.test(phone)) throw new ServiceRefusal(400, { Message: MSG_PHONE });
    if (this.liveWithEmail(email).length > 0) throw new ServiceRefusal(400, { Message: MSG_EMAIL_TAKEN });
    const c = this.blankCustomer(guidFrom(this.dataRng));
    c.CardNo = this.nextCardNo();
    c.FirstName = first;
    c.LastName = last;
    c.Email = email;
    c.Phone = phone;
    c.LoyaltyPoints = 0;
    c.Created = formatLocalDateTime(new Date());
    c.TenantId = this.tenantId;
    c.Inc = ++this.incSeq;
    c.CustomerBalanceOperations = [];
    c.CustomerCoupons = [];
    c.CustomerGroupCustomers = [];
    c.CustomerLoyaltyPointOperations = [];
    c.TransactionLoyaltyOperations = [];
    this.put(c);
    return c;
  }

  private update(text: string): FullCustomer {
    const body = this.parseJsonObject(text);
    const lk = lowerKeys(body);
    const [hasId, rawId] = pick(body, 'Id', lk);
    if (!hasId || typeof rawId !== 'string' || !GUID_RE.test(rawId)) throw new ServiceRefusal(400, INVALID);
    const id = rawId.replace(GUID_RE, '$1').toLowerCase();
    const old = this.customers.get(id);
    if (!old) throw new ServiceRefusal(400, { Message: 'Customer not found.' });
    const next = this.blankCustomer(id);
    const target = next as unknown as Record<string, unknown>;
    for (const [key, kind] of FULL_RECORD_WIRE) {
      if (key === 'Id') continue;
      const [, v] = pick(body, key, lk);
      target[key] = bindField(kind, v);
    }
    const newEmail = normEmail(next.Email);
    if (newEmail && newEmail !== normEmail(old.Email) && this.liveWithEmail(next.Email, id).length > 0) {
      throw new ServiceRefusal(400, { Message: MSG_EMAIL_TAKEN });
    }
    // Which version of the record was this Put based on? Points changed since then are written over.
    const readPoints = this.pointsAt.get(id)?.get(String(next.Modified));
    this.lastOverwrote =
      readPoints !== undefined && next.Modified !== old.Modified ? (old.LoyaltyPoints ?? 0) - readPoints : 0;
    const micros = this.stamp();
    const now = new Date(Math.floor(micros / 1000));
    next.Modified = isoMicros(micros);
    // The history is the service's own: a Put cannot rewrite it (the seed's GetOne shows none to send back).
    next.CustomerLoyaltyPointOperations = old.CustomerLoyaltyPointOperations;
    this.lastPutOp = undefined;
    if (next.LoyaltyPoints !== old.LoyaltyPoints) {
      const op: LoyaltyOperation = {
        Id: guidFrom(this.dataRng),
        TenantId: next.TenantId ?? old.TenantId ?? this.tenantId,
        CustomerId: id,
        LoyaltyPointsAdded: (next.LoyaltyPoints ?? 0) - (old.LoyaltyPoints ?? 0),
        LoyaltyPointsAfterAdd: next.LoyaltyPoints,
        OperationDate: isoOffset(now),
        IsManualUpdate: true,
        TransactionId: null,
        Tenant: null,
        Transaction: null,
      };
      next.CustomerLoyaltyPointOperations = [...(next.CustomerLoyaltyPointOperations ?? []), op];
      this.lastPutOp = op;
    }
    this.put(next);
    return next;
  }

  // ----- control routes -----------------------------------------------------------------------------------

  private stateSummary() {
    let deleted = 0;
    for (const c of this.customers.values()) if (c.Deleted) deleted++;
    return {
      url: this.url,
      customers: this.customers.size,
      deleted,
      tokens: this.tokens.size,
      faults: this.faults,
      calls: this.callCounts(),
      streams: this.streamStats(),
    };
  }

  private async handleControl(
    req: IncomingMessage,
    res: ServerResponse,
    method: string,
    url: URL,
  ): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean).slice(1).map(decodeURIComponent);
    let body: Record<string, unknown> = {};
    try {
      if (method === 'POST') {
        const text = await this.readBody(req, MAX_SIM_BODY);
        if (text.trim()) {
          const parsed: unknown = JSON.parse(text);
          if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
            throw new SimulatorError('INVALID', 'body must be a JSON object');
          }
          body = parsed as Record<string, unknown>;
        }
      } else {
        req.resume();
      }
      const route = `${method} ${parts.map((p, i) => (parts[0] === 'customers' && i === 1 ? ':id' : p)).join('/')}`;
      const id = parts[1] ?? '';
      switch (route) {
        case 'GET state':
          return this.sendJson(res, 200, this.stateSummary());
        case 'GET customers': {
          const email = url.searchParams.get('email');
          const list = email !== null ? this.findByEmail(email) : this.listCustomers().slice(0, 1000);
          return this.sendRaw(res, 200, `[${list.map(serializeFullRecord).join(',')}]`);
        }
        case 'GET customers/:id': {
          const c = this.getCustomer(id);
          if (!c) return this.sendJson(res, 404, { error: 'no such customer' });
          return this.sendRaw(res, 200, serializeFullRecord(c));
        }
        case 'POST customers/:id/points': {
          const c = this.adjustPoints(id, body.delta as number);
          return this.sendRaw(res, 200, serializeFullRecord(c));
        }
        case 'POST customers/:id/purchases': {
          const date = body.date === undefined ? new Date() : new Date(String(body.date));
          this.recordPurchase(id, body.upcs as string[], date);
          return this.sendJson(res, 200, { ok: true });
        }
        case 'POST customers/:id/delete': {
          if (body.hard === true) this.hardDelete(id);
          else this.softDelete(id);
          return this.sendJson(res, 200, { ok: true });
        }
        case 'POST faults':
          this.setFaults(body as Partial<Faults>);
          return this.sendJson(res, 200, this.faults);
        case 'POST history': {
          if (body.mode !== 'seed' && body.mode !== 'full') {
            throw new SimulatorError('INVALID', "mode must be 'seed' or 'full'");
          }
          this.setOperationHistory(body.mode);
          return this.sendJson(res, 200, { mode: this.history });
        }
        case 'POST faults/reset':
          this.resetFaults();
          return this.sendJson(res, 200, this.faults);
        case 'POST expire-tokens':
          this.expireAllTokens({ includeStatic: body.includeStatic === true });
          return this.sendJson(res, 200, { ok: true });
        case 'POST seed': {
          if (Array.isArray(body.customers)) {
            const created = this.seedCustomers(body.customers as Partial<FullCustomer>[]);
            return this.sendRaw(res, 200, `[${created.map(serializeFullRecord).join(',')}]`);
          }
          if (typeof body.generate === 'number') {
            this.generateCustomers(body.generate, {
              emailDomain: typeof body.emailDomain === 'string' ? body.emailDomain : undefined,
              deletedShare: typeof body.deletedShare === 'number' ? body.deletedShare : undefined,
              duplicateEmailShare:
                typeof body.duplicateEmailShare === 'number' ? body.duplicateEmailShare : undefined,
            });
            return this.sendJson(res, 200, { customers: this.customers.size });
          }
          throw new SimulatorError('INVALID', 'seed body needs customers:[...] or generate:n');
        }
        case 'GET calls':
          return this.sendJson(res, 200, this.callCounts());
        case 'POST calls/clear':
          this.clearCalls();
          return this.sendJson(res, 200, { ok: true });
        default:
          return this.sendJson(res, 404, { error: `unknown control route ${method} ${url.pathname}` });
      }
    } catch (e) {
      if (e instanceof SimulatorError) {
        return this.sendJson(res, e.code === 'NOT_FOUND' ? 404 : 400, { error: e.message });
      }
      if (e instanceof SyntaxError) return this.sendJson(res, 400, { error: 'body is not valid JSON' });
      if (e instanceof ServiceRefusal) return this.sendJson(res, e.status, e.body);
      throw e;
    }
  }
}

/** Query parameter lookup, case-insensitive on the name (as ASP.NET binds). */
function queryParam(params: URLSearchParams, name: string): string | undefined {
  const want = name.toLowerCase();
  for (const [k, v] of params) if (k.toLowerCase() === want) return v;
  return undefined;
}

/** The Id a write's JSON body names, if any (for holdCalls; never throws). */
function idInBody(text: string): string | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      const id = (v as Record<string, unknown>).Id;
      return typeof id === 'string' ? id : undefined;
    }
  } catch {
    // not JSON: the call itself will refuse it
  }
  return undefined;
}
