import { AppError } from '../errors.js';

/**
 * Money and rates as integers. Shopify sends money as decimal strings ("52.38") and sometimes as JSON
 * numbers (a refund line's `subtotal`); IT Retail as numbers with four places. Nothing here goes through
 * floating-point arithmetic: the text is parsed digit by digit.
 */

export class MoneyFormatError extends AppError {
  override readonly code = 'MONEY_FORMAT' as const;
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

/** Largest amount accepted, in cents (10^13 cents = 100 billion): keeps every product below 2^53. */
const MAX_CENTS = 10 ** 13;

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;

function describe(input: unknown): string {
  if (typeof input === 'string') return JSON.stringify(input.length > 40 ? `${input.slice(0, 40)}…` : input);
  return String(input);
}

/**
 * Decimal places of a currency's minor unit (ISO 4217). Shopify shop currencies are mostly 2; KWD, BHD,
 * OMR, JOD (and IQD, LYD, TND) have 3; JPY, KRW and a few others 0. Unknown codes: 2.
 */
const EXPONENTS: Record<string, number> = {
  BHD: 3,
  IQD: 3,
  JOD: 3,
  KWD: 3,
  LYD: 3,
  OMR: 3,
  TND: 3,
  BIF: 0,
  CLP: 0,
  DJF: 0,
  GNF: 0,
  ISK: 0,
  JPY: 0,
  KMF: 0,
  KRW: 0,
  PYG: 0,
  RWF: 0,
  UGX: 0,
  VND: 0,
  VUV: 0,
  XAF: 0,
  XOF: 0,
  XPF: 0,
};

export function currencyExponent(code: string | null | undefined): number {
  if (typeof code !== 'string') return 2;
  return EXPONENTS[code.trim().toUpperCase()] ?? 2;
}

/**
 * A decimal amount → integer minor units of a currency with `exponent` decimal places ("12.345", 3 → 12345).
 * Digits past the exponent must be zeros (a sub-unit value is refused, never rounded).
 */
export function parseMinor(
  input: unknown,
  exponent: number,
  opts: { what?: string; allowNegative?: boolean } = {},
): number {
  return parseDecimal(input, exponent, opts);
}

/**
 * A decimal amount ("52.38", "52", "52.3", "320.1900", 10.25) → integer cents (5238).
 * Digits past the second decimal place must be zeros: an amount with sub-cent value is refused rather
 * than silently rounded. Negative amounts are refused unless `allowNegative`.
 */
export function parseCents(input: unknown, opts: { what?: string; allowNegative?: boolean } = {}): number {
  return parseDecimal(input, 2, opts);
}

function parseDecimal(
  input: unknown,
  exponent: number,
  opts: { what?: string; allowNegative?: boolean },
): number {
  const what = opts.what ?? 'amount';
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input))
      throw new MoneyFormatError(`${what} is not a finite number: ${describe(input)}`);
    // String(n) of a JSON number with ≤ 15 significant digits is its shortest exact decimal spelling.
    text = String(input);
    if (/e/i.test(text)) throw new MoneyFormatError(`${what} is out of range: ${describe(input)}`);
  } else if (typeof input === 'string') {
    text = input.trim();
  } else {
    throw new MoneyFormatError(
      `${what} must be a decimal string, got ${input === null ? 'null' : typeof input}`,
    );
  }
  const m = DECIMAL.exec(text);
  if (!m) throw new MoneyFormatError(`${what} is not a decimal amount: ${describe(input)}`);
  const [, minus, whole = '', frac = ''] = m;
  if (frac.length > exponent && /[^0]/.test(frac.slice(exponent))) {
    throw new MoneyFormatError(`${what} has more than ${exponent} decimal places: ${describe(input)}`);
  }
  const wholeDigits = whole.replace(/^0+(?=\d)/, '');
  if (wholeDigits.length > 12) throw new MoneyFormatError(`${what} is out of range: ${describe(input)}`);
  const unit = 10 ** exponent;
  const cents = Number(wholeDigits) * unit + Number(frac.slice(0, exponent).padEnd(exponent, '0') || '0');
  // The same ceiling in major units whatever the exponent (10^11), so every product stays exact.
  if (cents > (MAX_CENTS / 100) * unit)
    throw new MoneyFormatError(`${what} is out of range: ${describe(input)}`);
  if (minus && cents !== 0) {
    if (!opts.allowNegative) throw new MoneyFormatError(`${what} must not be negative: ${describe(input)}`);
    return -cents;
  }
  return cents;
}

/** Like parseCents, but null/undefined/"" give undefined instead of an error. */
export function parseOptionalCents(
  input: unknown,
  opts: { what?: string; allowNegative?: boolean } = {},
): number | undefined {
  if (input === null || input === undefined) return undefined;
  if (typeof input === 'string' && input.trim() === '') return undefined;
  return parseCents(input, opts);
}

/** Largest rate accepted (points per dollar). */
const MAX_RATE_MILLI = 9_999_999;

/**
 * Points per dollar as a decimal string with at most 3 decimals ("1", "1.5", "0.125") → thousandths
 * (1000, 1500, 125). Numbers are accepted too (1.5), through their decimal spelling.
 */
export function parseRateMilli(input: unknown): number {
  let text: string;
  if (typeof input === 'number' && Number.isFinite(input) && !/e/i.test(String(input))) text = String(input);
  else if (typeof input === 'string') text = input.trim();
  else throw new MoneyFormatError(`points per dollar must be a decimal string, got ${describe(input)}`);
  const m = /^(\d+)(?:\.(\d{1,3}))?$/.exec(text);
  if (!m) {
    throw new MoneyFormatError(
      `points per dollar must be a non-negative number with at most 3 decimals, got ${describe(input)}`,
    );
  }
  const whole = (m[1] ?? '0').replace(/^0+(?=\d)/, '');
  if (whole.length > 4) throw new MoneyFormatError(`points per dollar is out of range: ${describe(input)}`);
  const milli = Number(whole) * 1000 + Number((m[2] ?? '').padEnd(3, '0'));
  if (milli > MAX_RATE_MILLI)
    throw new MoneyFormatError(`points per dollar is out of range: ${describe(input)}`);
  return milli;
}

/** Integer cents → "52.38" (for messages and reports). */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const a = Math.abs(cents);
  return `${sign}${Math.floor(a / 100)}.${String(a % 100).padStart(2, '0')}`;
}
