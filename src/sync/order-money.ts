import { z } from 'zod';
import { currencyExponent, MoneyFormatError, parseMinor } from './money.js';
import type { RefundAmounts } from './points.js';

/**
 * The money of Shopify's REST order and refund shapes, read in the shop's currency (`shop_money` of every
 * `*_set`; the plain field only when the set is missing) into integer minor units with the currency's
 * exponent. Amounts are kept raw by the schemas and parsed once the currency is known.
 */

/** `{shop_money: {amount, currency_code}, presentment_money: …}` → the shop-money amount and currency. */
export const moneySetSchema = z
  .object({
    shop_money: z.object({ amount: z.unknown(), currency_code: z.string().nullish() }).nullish(),
  })
  .nullish()
  .transform((v) => ({ amount: v?.shop_money?.amount, currency: v?.shop_money?.currency_code ?? undefined }));
export type MoneySet = z.output<typeof moneySetSchema>;

const present = (v: unknown) => v !== null && v !== undefined && !(typeof v === 'string' && v.trim() === '');

/** Parses amounts in one currency; collects the first error instead of throwing. */
export class MoneyReader {
  error?: string;
  constructor(readonly exp: number) {}

  /** The shop-money amount of `set`, else `plain`; undefined when neither is present. */
  optional(set: MoneySet | undefined, plain: unknown, what: string): number | undefined {
    const raw = present(set?.amount) ? set?.amount : plain;
    if (!present(raw)) return undefined;
    try {
      return parseMinor(raw, this.exp, { what, allowNegative: true });
    } catch (e) {
      this.error ??= e instanceof MoneyFormatError ? e.message : String(e);
      return 0;
    }
  }

  amount(set: MoneySet | undefined, plain: unknown, what: string): number {
    return this.optional(set, plain, what) ?? 0;
  }
}

/** The exponent of the first currency code found among `sets`, else of `fallback`. */
export function exponentOf(sets: (MoneySet | undefined)[], fallback?: string | null): number {
  for (const s of sets) if (s?.currency) return currencyExponent(s.currency);
  return currencyExponent(fallback);
}

/** x × part / whole, rounded half up (a line's tax or discount for part of its quantity). */
function prorate(x: number, part: number, whole: number): number {
  if (whole <= 0 || part >= whole) return x;
  if (part <= 0) return 0;
  const num = BigInt(x) * BigInt(part) * 2n + BigInt(whole);
  return Number(num / (2n * BigInt(whole)));
}

const taxLine = z.object({ price: z.unknown().optional(), price_set: moneySetSchema });
const allocation = z.object({ amount: z.unknown().optional(), amount_set: moneySetSchema });

export const lineItemSchema = z.object({
  gift_card: z.boolean().nullish(),
  quantity: z.number().int().nonnegative().nullish(),
  current_quantity: z.number().int().nonnegative().nullish(),
  price: z.unknown().optional(),
  price_set: moneySetSchema,
  tax_lines: z.array(taxLine).nullish(),
  discount_allocations: z.array(allocation).nullish(),
});
export type LineItem = z.output<typeof lineItemSchema>;

export const shippingLineSchema = z.object({
  price: z.unknown().optional(),
  price_set: moneySetSchema,
  discounted_price: z.unknown().optional(),
  discounted_price_set: moneySetSchema,
});
export type ShippingLine = z.output<typeof shippingLineSchema>;

/** The current tax, gift-card value and gift-card tax of an order's line items. */
export function lineItemTotals(items: LineItem[], m: MoneyReader) {
  let lineTax = 0;
  let giftCards = 0;
  let giftCardTax = 0;
  for (const li of items) {
    const q = li.quantity ?? 0;
    const cq = li.current_quantity ?? q;
    let tax = 0;
    for (const t of li.tax_lines ?? []) tax += m.amount(t.price_set, t.price, 'line item tax');
    const taxNow = prorate(tax, cq, q);
    lineTax += taxNow;
    if (li.gift_card === true) {
      let discount = 0;
      for (const a of li.discount_allocations ?? [])
        discount += m.amount(a.amount_set, a.amount, 'line item discount');
      giftCards += m.amount(li.price_set, li.price, 'line item price') * cq - prorate(discount, cq, q);
      giftCardTax += taxNow;
    }
  }
  return { lineTax, giftCards, giftCardTax };
}

export function shippingTotal(lines: ShippingLine[], m: MoneyReader): number {
  let sum = 0;
  for (const s of lines) {
    const discounted = m.optional(s.discounted_price_set, s.discounted_price, 'shipping line price');
    sum += discounted ?? m.amount(s.price_set, s.price, 'shipping line price');
  }
  return sum;
}

const refundLineSchema = z.object({
  quantity: z.number().nullish(),
  subtotal: z.unknown().optional(),
  subtotal_set: moneySetSchema,
  total_tax: z.unknown().optional(),
  total_tax_set: moneySetSchema,
  line_item: z.object({ gift_card: z.boolean().nullish() }).nullish(),
});
const refundShippingSchema = z.object({
  subtotal_amount_set: moneySetSchema,
  amount_set: moneySetSchema,
});
const orderAdjustmentSchema = z.object({
  kind: z.string().nullish(),
  amount: z.unknown().optional(),
  amount_set: moneySetSchema,
});

/** The money parts of a refund payload (refunds/create, or one of an order's `refunds[]`). */
export const refundMoneySchema = z.object({
  refund_line_items: z.array(refundLineSchema).nullish(),
  refund_shipping_lines: z.array(refundShippingSchema).nullish(),
  order_adjustments: z.array(orderAdjustmentSchema).nullish(),
});
export type RefundMoney = z.output<typeof refundMoneySchema>;

/**
 * A refund's amounts in shop money. Shipping given back is read from `refund_shipping_lines` when there
 * are any, else from `shipping_refund` order adjustments (negative amounts); a `refund_discrepancy`
 * adjustment (money returned without items) takes no points, as it does not lower Shopify's subtotal.
 */
export function refundAmountsOf(
  r: RefundMoney,
  fallbackCurrency?: string,
): RefundAmounts & { error?: string } {
  const lines = r.refund_line_items ?? [];
  const exp = exponentOf(
    [
      ...lines.flatMap((l) => [l.subtotal_set, l.total_tax_set]),
      ...(r.order_adjustments ?? []).map((a) => a.amount_set),
    ],
    fallbackCurrency,
  );
  const m = new MoneyReader(exp);
  const out: RefundAmounts = { exp, lines: 0, tax: 0, giftCards: 0, giftCardTax: 0, shipping: 0 };
  for (const l of lines) {
    const sub = m.amount(l.subtotal_set, l.subtotal, 'refund line subtotal');
    const tax = m.amount(l.total_tax_set, l.total_tax, 'refund line tax');
    out.lines += sub;
    out.tax += tax;
    if (l.line_item?.gift_card === true) {
      out.giftCards += sub;
      out.giftCardTax += tax;
    }
  }
  const shippingLines = r.refund_shipping_lines ?? [];
  if (shippingLines.length) {
    for (const s of shippingLines) {
      const set = present(s.subtotal_amount_set.amount) ? s.subtotal_amount_set : s.amount_set;
      out.shipping += Math.abs(m.amount(set, undefined, 'refund shipping line'));
    }
  } else {
    for (const a of r.order_adjustments ?? []) {
      if (a.kind === 'shipping_refund')
        out.shipping += Math.abs(m.amount(a.amount_set, a.amount, 'order adjustment'));
    }
  }
  if (out.lines < 0 || out.tax < 0) m.error ??= 'refund line amounts must not be negative';
  return m.error ? { ...out, error: m.error } : out;
}
