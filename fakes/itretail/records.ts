import { FULL_RECORD_FIELDS } from '../../src/itretail/schemas.js';

/**
 * The IT Retail customer record as the simulator keeps and writes it: the full record's fields in wire order
 * and how a Put body binds to each (as the .NET model binder does), the GetAllCustomers summary, four-decimal
 * money and zone-less local dates, and the service's error answers.
 */
export interface LoyaltyOperation {
  Id: string;
  TenantId: string | null;
  CustomerId: string;
  LoyaltyPointsAdded: number | null;
  LoyaltyPointsAfterAdd: number | null;
  OperationDate: string | null;
  IsManualUpdate: boolean | null;
  TransactionId: string | null;
  Tenant: unknown;
  Transaction: unknown;
  [k: string]: unknown;
}

/** The full customer record as GetOne answers it; property order is the wire order. */
export interface FullCustomer {
  Id: string;
  CardNo: string | null;
  LastName: string | null;
  FirstName: string | null;
  BirthDate: string | null;
  Address1: string | null;
  Address2: string | null;
  Phone: string | null;
  City: string | null;
  State: string | null;
  Zip: string | null;
  CashBack: number | null;
  Discount: number | null;
  FrequentShopper: boolean | null;
  WriteChecks: boolean | null;
  Type: number | null;
  Purchases: number | null;
  NumberOfChecks: number | null;
  PointsEarned: number | null;
  Deleted: boolean;
  Created: string | null;
  Modified: string | null;
  ModifiedBy: number | null;
  ReceiptType: number | null;
  Email: string | null;
  Attributes: number | null;
  TenantId: string | null;
  PaymentToken: string | null;
  Inc: number | null;
  Balance: number | null;
  BalanceLimit: number | null;
  LoyaltyPoints: number | null;
  expiration_date: string | null;
  CustomerBalanceOperations: unknown[] | null;
  CustomerCoupons: unknown[] | null;
  CustomerGroupCustomers: unknown[] | null;
  CustomerLoyaltyPointOperations: LoyaltyOperation[] | null;
  TransactionLoyaltyOperations: unknown[] | null;
}

type FieldKind = 'guid' | 'string' | 'int' | 'money' | 'bool' | 'nonNullBool' | 'date' | 'list';

/** How a Put body binds to each field of the full record (as the .NET model binder does). */
const FIELD_KINDS: Record<(typeof FULL_RECORD_FIELDS)[number], FieldKind> = {
  Id: 'guid',
  CardNo: 'string',
  LastName: 'string',
  FirstName: 'string',
  BirthDate: 'date',
  Address1: 'string',
  Address2: 'string',
  Phone: 'string',
  City: 'string',
  State: 'string',
  Zip: 'string',
  CashBack: 'money',
  Discount: 'int',
  FrequentShopper: 'bool',
  WriteChecks: 'bool',
  Type: 'int',
  Purchases: 'money',
  NumberOfChecks: 'int',
  PointsEarned: 'int',
  Deleted: 'nonNullBool',
  Created: 'date',
  Modified: 'date',
  ModifiedBy: 'int',
  ReceiptType: 'int',
  Email: 'string',
  Attributes: 'int',
  TenantId: 'guid',
  PaymentToken: 'string',
  Inc: 'int',
  Balance: 'money',
  BalanceLimit: 'money',
  LoyaltyPoints: 'int',
  expiration_date: 'date',
  CustomerBalanceOperations: 'list',
  CustomerCoupons: 'list',
  CustomerGroupCustomers: 'list',
  CustomerLoyaltyPointOperations: 'list',
  TransactionLoyaltyOperations: 'list',
};

/**
 * Every field of the full record, in the order GetOne writes them (the documented list in
 * src/itretail/schemas.ts), with how a Put body binds to it.
 */
export const FULL_RECORD_WIRE: readonly (readonly [keyof FullCustomer, FieldKind])[] = FULL_RECORD_FIELDS.map(
  (k) => [k, FIELD_KINDS[k]] as const,
);

/** Summary record (GetAllCustomers) fields in wire order. */
export const SUMMARY_FIELDS = [
  'Id',
  'CardNo',
  'LastName',
  'FirstName',
  'BirthDate',
  'Phone',
  'Discount',
  'Deleted',
  'Email',
  'Balance',
  'BalanceLimit',
  'LoyaltyPoints',
  'ExpirationDate',
  'InstoreChargeEnabled',
] as const;

export const MONEY_FIELDS = ['CashBack', 'Purchases', 'Balance', 'BalanceLimit'] as const;

/** Thrown by the simulator's own (non-HTTP) API on bad input. */
export class SimulatorError extends Error {
  constructor(
    readonly code: 'NOT_FOUND' | 'INVALID' | 'EMAIL_TAKEN',
    message: string,
  ) {
    super(message);
    this.name = 'SimulatorError';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Small helpers

export const GUID_RE = /^\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?$/i;
const DATE_PREFIX_RE = /^\d{4}-\d{2}-\d{2}(T[\d:.]+)?(Z|[+-]\d{2}:?\d{2})?$/;
export const DAY_DURATION = 14 * 24 * 3600 * 1000;

const HEX_CODES = '0123456789abcdef'.split('').map((c) => c.charCodeAt(0));
const GUID_CODES: number[] = new Array(36).fill(45);
const GUID_SLOTS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];

/** A version-4 GUID drawn from the given PRNG (built as one flat string: cheap to keep 250,000 of). */
export function guidFrom(rng: () => number): string {
  for (let i = 0; i < 16; i += 4) {
    const x = Math.floor(rng() * 4294967296);
    for (let j = 0; j < 4; j++) {
      let byte = (x >>> (8 * j)) & 0xff;
      if (i + j === 6) byte = (byte & 0x0f) | 0x40;
      if (i + j === 8) byte = (byte & 0x3f) | 0x80;
      const slot = GUID_SLOTS[i + j]!;
      GUID_CODES[slot] = HEX_CODES[byte >>> 4]!;
      GUID_CODES[slot + 1] = HEX_CODES[byte & 0x0f]!;
    }
  }
  return String.fromCharCode.apply(null, GUID_CODES);
}

export const pad2 = (n: number) => String(n).padStart(2, '0');

/**
 * Flattens a concatenated string so that a stored value does not keep its whole concatenation tree alive
 * (matters with hundreds of thousands of generated records). Reading a character makes V8 flatten it.
 */
export function flat<T extends string | null>(s: T): T {
  if (s !== null && s.length > 0) s.charCodeAt(0);
  return s;
}

/** .NET-style local date-time without a zone: `2021-03-04T08:27:35.56` (trailing fraction zeros dropped). */
export function formatLocalDateTime(d: Date): string {
  const base = `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}T${pad2(d.getHours())}:${pad2(
    d.getMinutes(),
  )}:${pad2(d.getSeconds())}`;
  const frac = String(d.getMilliseconds()).padStart(3, '0').replace(/0+$/, '');
  return flat(frac ? `${base}.${frac}` : base);
}

/** `Modified` as a Put answer shows it in the seed: UTC with microseconds, `2021-07-28T15:24:47.763091Z`. */
export function isoMicros(us: number): string {
  const d = new Date(Math.floor(us / 1000));
  return `${d.toISOString().slice(0, 19)}.${String(us % 1_000_000).padStart(6, '0')}Z`;
}

/** `Modified` of a register change: local time without a zone, to the microsecond (trailing zeros dropped). */
export function formatLocalMicros(us: number): string {
  const d = new Date(Math.floor(us / 1000));
  const base = formatLocalDateTime(d).replace(/\.\d+$/, '');
  const frac = String(us % 1_000_000)
    .padStart(6, '0')
    .replace(/0+$/, '');
  return frac ? `${base}.${frac}` : base;
}

/** ISO with offset as the service writes loyalty operation dates: `2021-07-28T15:24:47.763+00:00`. */
export function isoOffset(d: Date): string {
  return d.toISOString().replace('Z', '+00:00');
}

/** Money with exactly four decimals, as raw JSON number text. */
export function formatMoney(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'null';
  return v.toFixed(4);
}

const MONEY_SET: ReadonlySet<string> = new Set(MONEY_FIELDS);
const FULL_KEYS_JSON = FULL_RECORD_WIRE.map(([k]) => JSON.stringify(k));

/** Serialises a full record in wire order with four-decimal money. */
export function serializeFullRecord(c: FullCustomer): string {
  let s = '{';
  for (let i = 0; i < FULL_RECORD_WIRE.length; i++) {
    const key = FULL_RECORD_WIRE[i]![0];
    if (i) s += ',';
    s += FULL_KEYS_JSON[i];
    s += ':';
    const v = c[key];
    s += MONEY_SET.has(key) ? formatMoney(v as number | null) : v === undefined ? 'null' : JSON.stringify(v);
  }
  return `${s}}`;
}

function jsonOrNull(v: unknown): string {
  return v === undefined ? 'null' : JSON.stringify(v);
}

/** Serialises the GetAllCustomers summary of a record (`ExpirationDate` casing). */
export function serializeSummary(c: FullCustomer): string {
  return (
    `{"Id":${JSON.stringify(c.Id)},"CardNo":${jsonOrNull(c.CardNo)},"LastName":${jsonOrNull(c.LastName)}` +
    `,"FirstName":${jsonOrNull(c.FirstName)},"BirthDate":${jsonOrNull(c.BirthDate)},"Phone":${jsonOrNull(c.Phone)}` +
    `,"Discount":${jsonOrNull(c.Discount)},"Deleted":${c.Deleted === true},"Email":${jsonOrNull(c.Email)}` +
    `,"Balance":${formatMoney(c.Balance)},"BalanceLimit":${formatMoney(c.BalanceLimit)}` +
    `,"LoyaltyPoints":${jsonOrNull(c.LoyaltyPoints)},"ExpirationDate":${jsonOrNull(c.expiration_date)}` +
    `,"InstoreChargeEnabled":${instoreChargeEnabled(c)}}`
  );
}

/** The summary's InstoreChargeEnabled is not part of the full record; it follows from a positive limit. */
function instoreChargeEnabled(c: FullCustomer): boolean {
  return typeof c.BalanceLimit === 'number' && c.BalanceLimit > 0;
}

export function normEmail(e: string | null | undefined): string | null {
  if (typeof e !== 'string') return null;
  const t = e.trim().toLowerCase();
  return t ? t : null;
}

export function copyCustomer(c: FullCustomer): FullCustomer {
  const out = { ...c };
  out.CustomerBalanceOperations = c.CustomerBalanceOperations
    ? c.CustomerBalanceOperations.map(copyAny)
    : null;
  out.CustomerCoupons = c.CustomerCoupons ? c.CustomerCoupons.map(copyAny) : null;
  out.CustomerGroupCustomers = c.CustomerGroupCustomers ? c.CustomerGroupCustomers.map(copyAny) : null;
  out.CustomerLoyaltyPointOperations = c.CustomerLoyaltyPointOperations
    ? c.CustomerLoyaltyPointOperations.map((o) => ({ ...o }))
    : null;
  out.TransactionLoyaltyOperations = c.TransactionLoyaltyOperations
    ? c.TransactionLoyaltyOperations.map(copyAny)
    : null;
  return out;
}

function copyAny<T>(v: T): T {
  return v !== null && typeof v === 'object' ? structuredClone(v) : v;
}

/** Shared frozen empty list for generated records (lists are replaced, never mutated in place). */
export const EMPTY = Object.freeze([]) as unknown as never[];

/** The simulated service's refusal: its HTTP status and the body it answers with. */
export class ServiceRefusal extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(typeof body === 'object' && body && 'Message' in body ? String(body.Message) : 'bad request');
  }
}

export const INVALID = { Message: 'The request is invalid.' };
export const MSG_EMAIL_TAKEN = 'A customer with this email already exists.';
export const MSG_PHONE = 'Phone must be an unformatted 10 digit number.';
export const MSG_ERROR = 'An error has occurred.';
export const MSG_THROTTLED = 'Too many requests. Please retry later.';
export const MSG_DENIED = 'Authorization has been denied for this request.';

/** Reads a property the way the .NET binder does: exact name first, else case-insensitive. */
export function pick(
  body: Record<string, unknown>,
  name: string,
  lowerIndex: Map<string, string>,
): [boolean, unknown] {
  if (Object.hasOwn(body, name)) return [true, body[name]];
  const alt = lowerIndex.get(name.toLowerCase());
  if (alt !== undefined) return [true, body[alt]];
  return [false, undefined];
}

export function lowerKeys(body: Record<string, unknown>): Map<string, string> {
  const m = new Map<string, string>();
  for (const k of Object.keys(body)) if (!m.has(k.toLowerCase())) m.set(k.toLowerCase(), k);
  return m;
}

export function bindField(kind: FieldKind, v: unknown): unknown {
  if (v === null || v === undefined) {
    return kind === 'nonNullBool' ? false : null;
  }
  switch (kind) {
    case 'guid':
      if (typeof v === 'string' && GUID_RE.test(v)) return v.replace(GUID_RE, '$1').toLowerCase();
      break;
    case 'string':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean') return String(v);
      break;
    case 'int': {
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
      if (typeof n === 'number' && Number.isInteger(n)) return n;
      break;
    }
    case 'money': {
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
      if (typeof n === 'number' && Number.isFinite(n)) return n;
      break;
    }
    case 'bool':
    case 'nonNullBool':
      if (typeof v === 'boolean') return v;
      if (v === 'true' || v === 'false') return v === 'true';
      break;
    case 'date':
      if (typeof v === 'string' && DATE_PREFIX_RE.test(v) && !Number.isNaN(Date.parse(v))) return v;
      break;
    case 'list':
      if (Array.isArray(v)) return v.map(copyAny);
      break;
  }
  throw new ServiceRefusal(400, INVALID);
}
