import { z } from 'zod';

/**
 * A shop's rules for turning loyalty points into a discount code, set on the Settings page. The storefront
 * shows a balance's value with them (`GET <proxy>/balance`); redemption follows them.
 */
export interface RedemptionRules {
  /** Shoppers may redeem points. */
  enabled: boolean;
  /** Points worth one unit of the shop's currency (100 → 100 points = $1.00). */
  pointsPerUnit: number;
  /** The fewest points one redemption takes. */
  minimumPoints: number;
  /** Redemptions are multiples of this many points. */
  stepPoints: number;
  /** The most points one redemption takes. */
  maximumPoints: number;
  /** A code expires this many days after it is issued. */
  codeLifetimeDays: number;
  /** A code that expires unused gives its points back. */
  giveBackExpired: boolean;
  /** ISO 4217 code of the shop's currency (the value and the codes are in it). */
  currency: string;
}

export const DEFAULT_REDEMPTION_RULES: Readonly<RedemptionRules> = Object.freeze({
  enabled: false,
  pointsPerUnit: 100,
  minimumPoints: 500,
  stepPoints: 100,
  maximumPoints: 10_000,
  codeLifetimeDays: 30,
  giveBackExpired: true,
  currency: 'USD',
});

const MAX_POINTS = 10_000_000;

const count = (min: number, max: number) =>
  z
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(min, `must be at least ${min}`)
    .max(max, `must be at most ${max.toLocaleString('en-US')}`);

const flag = z.boolean({ error: 'must be true or false' });

/** One field at a time (what the page may send); every field optional. */
export const redemptionPatchSchema = z.strictObject({
  enabled: flag.optional(),
  pointsPerUnit: count(1, 1_000_000).optional(),
  minimumPoints: count(1, MAX_POINTS).optional(),
  stepPoints: count(1, MAX_POINTS).optional(),
  maximumPoints: count(1, MAX_POINTS).optional(),
  codeLifetimeDays: count(1, 365).optional(),
  giveBackExpired: flag.optional(),
  currency: z
    .string({ error: 'must be a currency code such as USD' })
    .trim()
    .toUpperCase()
    .refine(
      (v) => /^[A-Z]{3}$/.test(v) && currencyDigits(v) !== undefined,
      'must be a currency code such as USD',
    )
    .optional(),
});

/** Decimal places of a currency's minor unit (USD 2, JPY 0), or undefined for an unknown code. */
function currencyDigits(currency: string): number | undefined {
  try {
    return new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions()
      .maximumFractionDigits;
  } catch {
    return undefined;
  }
}

/** The problems of a complete set of rules taken together, by field (empty when they fit). */
function redemptionRuleProblems(r: RedemptionRules): Record<string, string> {
  const out: Record<string, string> = {};
  if (r.minimumPoints > r.maximumPoints) out.maximumPoints = 'must be at least the minimum';
  if (r.minimumPoints % r.stepPoints !== 0) out.minimumPoints = 'must be a multiple of the step';
  if (r.maximumPoints % r.stepPoints !== 0) out.maximumPoints ??= 'must be a multiple of the step';
  const minor = 10 ** (currencyDigits(r.currency) ?? 2);
  if ((r.stepPoints * minor) % r.pointsPerUnit !== 0) {
    out.stepPoints = `must be worth a whole ${minor === 1 ? 'unit' : 'cent'} (${r.pointsPerUnit} points = 1 ${r.currency})`;
  }
  return out;
}

/**
 * The rules after a patch, or a ZodError naming each refused field under `redemption.*` (field checks
 * first, then how the fields fit together). Nothing is saved by the caller on an error.
 */
export function applyRedemptionPatch(current: RedemptionRules, patch: unknown): RedemptionRules {
  const parsed = redemptionPatchSchema.safeParse(patch);
  if (!parsed.success) {
    throw new z.ZodError(parsed.error.issues.map((i) => ({ ...i, path: ['redemption', ...i.path] })));
  }
  const next: RedemptionRules = { ...current };
  for (const [k, v] of Object.entries(parsed.data)) {
    if (v !== undefined) (next as unknown as Record<string, unknown>)[k] = v;
  }
  const problems = redemptionRuleProblems(next);
  if (Object.keys(problems).length) {
    throw new z.ZodError(
      Object.entries(problems).map(([field, message]) => ({
        code: 'custom' as const,
        path: ['redemption', field],
        message,
        input: next[field as keyof RedemptionRules],
      })),
    );
  }
  return next;
}

/** Stored rules (JSON in the settings hash), with defaults for anything missing or unreadable. */
export function readRedemptionRules(stored: string | undefined): RedemptionRules {
  if (!stored) return { ...DEFAULT_REDEMPTION_RULES };
  try {
    const parsed = redemptionPatchSchema.safeParse(JSON.parse(stored));
    if (parsed.success) {
      const merged = { ...DEFAULT_REDEMPTION_RULES };
      for (const [k, v] of Object.entries(parsed.data)) {
        if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
      }
      return merged;
    }
  } catch {
    // fall through to the defaults
  }
  return { ...DEFAULT_REDEMPTION_RULES };
}

/**
 * What `points` are worth under the rules, as a decimal string in the currency's minor unit, rounded down
 * (1,240 points at 100 per dollar → "12.40"). Integer arithmetic: no floating-point rounding.
 */
export function pointsValue(
  points: number,
  rules: Pick<RedemptionRules, 'pointsPerUnit' | 'currency'>,
): string {
  const digits = currencyDigits(rules.currency) ?? 2;
  const whole = Math.max(0, Math.floor(points));
  const minor = (BigInt(whole) * 10n ** BigInt(digits)) / BigInt(rules.pointsPerUnit);
  if (digits === 0) return minor.toString();
  const s = minor.toString().padStart(digits + 1, '0');
  return `${s.slice(0, -digits)}.${s.slice(-digits)}`;
}
