/**
 * The points rule (POINTS.md), pure. An order's facts only ever accumulate — paid once, refunds by id,
 * cancelled, and the newest snapshot of the order by `updated_at` — so merging is commutative and
 * idempotent, and the worth derived from the facts is the same whatever order and however often the events
 * arrive.
 *
 *   worth = paid && !cancelled && (!test || testIncluded)
 *           ? floor(rate × max(0, eligible(newest snapshot) − Σ eligible(refunds it does not list))) : 0
 *
 * All money is in integer minor units of the shop's currency (`shop_money`) with that currency's exponent
 * (2 for USD, 3 for KWD, 0 for JPY); the rate is points per major unit × 1000. Arithmetic is exact (BigInt
 * for the product).
 */

/** What the merchant chose for what earns points. Fixed for an order when it is paid. */
export interface PointsRules {
  /** In a tax-inclusive shop (`taxes_included`), take the line items' tax out of the subtotal. */
  excludeTax: boolean;
  /** Gift-card lines (`gift_card: true`) earn nothing: the points are earned when the card is spent. */
  excludeGiftCards: boolean;
  /** Add the shipping lines' discounted price. */
  includeShipping: boolean;
}

export const DEFAULT_POINTS_RULES: Readonly<PointsRules> = Object.freeze({
  excludeTax: true,
  excludeGiftCards: true,
  includeShipping: false,
});

/** Orders paid before the rules were kept with them earn on the subtotal as Shopify gives it. */
const LEGACY_POINTS_RULES: Readonly<PointsRules> = Object.freeze({
  excludeTax: false,
  excludeGiftCards: false,
  includeShipping: false,
});

/**
 * An order as one payload showed it (orders/paid, orders/updated, orders/cancelled, or an Admin API read).
 * Amounts are the current ones (after the edits and the refunds it lists), shop money, minor units.
 */
export interface OrderSnapshot {
  /** `updated_at` in ms (0 when the payload has none: any dated snapshot is newer). */
  at: number;
  /** Exponent of the shop currency. */
  exp: number;
  /** `current_subtotal_price` (after discounts, edits and listed refunds; before shipping). */
  subtotal: number;
  /** Tax of every line item at its current quantity. */
  lineTax: number;
  /** Gift-card lines at their current quantity, and their tax. */
  giftCards: number;
  giftCardTax: number;
  /** Shipping lines' discounted price. */
  shipping: number;
  taxesIncluded: boolean;
  /** Refunds the snapshot lists: its subtotal already reflects them. */
  refundIds: string[];
}

/** One refund's amounts in shop money (minor units of exponent `exp`). */
export interface RefundAmounts {
  exp: number;
  /** Σ refunded line subtotals (all lines, gift cards included), and their tax. */
  lines: number;
  tax: number;
  /** The gift-card lines among them, and their tax. */
  giftCards: number;
  giftCardTax: number;
  /** Shipping given back (refund_shipping_lines, else `shipping_refund` order adjustments). */
  shipping: number;
}

/** A refund stored before its parts were kept: line subtotals in cents only. */
export type RefundFact = number | RefundAmounts;

/** What the payment told us. Fixed by the first paid event merged; later ones never change it. */
export interface PaidFacts {
  /**
   * The paid payload's subtotal before its refunds, in minor units of `exp`. Decides the worth only for an
   * order stored before snapshots were kept (a snapshot, when there is one, decides).
   */
  subtotalCents: number;
  /** Exponent of `subtotalCents` (default 2). */
  exp?: number;
  /** Points per major unit × 1000, the shop's rate when the payment was first merged. */
  rateMilli: number;
  /** The shop's points rules when the payment was first merged (undefined: paid before they were kept). */
  rules?: PointsRules;
  test: boolean;
  /**
   * Whether a test order earns points: the shop's setting when the payment was first merged, so switching
   * it later neither takes back nor grants the points of orders paid before. Undefined for orders stored
   * before this was kept: the setting at the time of each job decides.
   */
  testIncluded?: boolean;
  paidAt?: string;
  name?: string;
  email?: string;
  shopifyCustomerId?: string;
}

/** The facts one event contributes. */
export interface OrderFacts {
  paid?: PaidFacts;
  /** Refund id → its amounts. */
  refunds?: Record<string, RefundFact>;
  snapshot?: OrderSnapshot;
  cancelled?: boolean;
  /** Identity seen on a non-paid event (kept only until a paid event supplies its own). */
  email?: string;
  name?: string;
  shopifyCustomerId?: string;
}

export interface OrderState {
  paid?: PaidFacts;
  refunds: Record<string, RefundFact>;
  /** The newest snapshot merged so far. */
  snapshot?: OrderSnapshot;
  cancelled: boolean;
  email?: string;
  name?: string;
  shopifyCustomerId?: string;
  /** Ledger: points already applied to IT Retail for this order, and to which customer. */
  appliedPoints: number;
  itrCustomerId?: string;
  /** The buyer's names and phone from the order (for a customer that has to be created). */
  buyer?: { firstName?: string; lastName?: string; phone?: string };
}

export function emptyOrderState(): OrderState {
  return { refunds: {}, cancelled: false, appliedPoints: 0 };
}

/** A snapshot's canonical text: decides between two snapshots with the same `updated_at`. */
export function snapshotText(s: OrderSnapshot): string {
  return JSON.stringify([
    s.at,
    s.exp,
    s.subtotal,
    s.lineTax,
    s.giftCards,
    s.giftCardTax,
    s.shipping,
    s.taxesIncluded ? 1 : 0,
    [...s.refundIds].sort(),
  ]);
}

/** Whether `b` replaces `a`: later `updated_at`, or the same and the greater canonical text (any order, same winner). */
function isNewerSnapshot(a: OrderSnapshot | undefined, b: OrderSnapshot): boolean {
  if (!a) return true;
  if (b.at !== a.at) return b.at > a.at;
  return snapshotText(b) > snapshotText(a);
}

/** Folds one event's facts into a state (pure; the Redis merge in order-state.ts has the same semantics). */
export function mergeFacts(state: OrderState, facts: OrderFacts): OrderState {
  const next: OrderState = { ...state, refunds: { ...state.refunds } };
  if (facts.paid && !next.paid) next.paid = { ...facts.paid };
  for (const [id, amounts] of Object.entries(facts.refunds ?? {})) {
    if (!(id in next.refunds)) next.refunds[id] = amounts;
  }
  if (facts.snapshot && isNewerSnapshot(next.snapshot, facts.snapshot)) next.snapshot = facts.snapshot;
  if (facts.cancelled) next.cancelled = true;
  next.email ??= facts.paid?.email ?? facts.email;
  next.name ??= facts.paid?.name ?? facts.name;
  next.shopifyCustomerId ??= facts.paid?.shopifyCustomerId ?? facts.shopifyCustomerId;
  return next;
}

function refundAmounts(r: RefundFact): RefundAmounts {
  return typeof r === 'number' ? { exp: 2, lines: r, tax: 0, giftCards: 0, giftCardTax: 0, shipping: 0 } : r;
}

/** What a refund takes off the eligible amount under `rules` (`listed`: its lines are already out of the snapshot). */
function refundEligible(r: RefundAmounts, rules: PointsRules, taxesIncluded: boolean, listed: boolean) {
  let v = 0;
  if (!listed) {
    const taxOut = rules.excludeTax && taxesIncluded;
    v += r.lines - r.giftCards - (taxOut ? r.tax - r.giftCardTax : 0);
    if (!rules.excludeGiftCards) v += r.giftCards - (taxOut ? r.giftCardTax : 0);
  }
  // Shipping lines never reflect refunds, so shipping given back counts whether or not the snapshot lists it.
  if (rules.includeShipping) v += r.shipping;
  return v;
}

/** The snapshot's eligible amount under `rules`. */
function snapshotEligible(s: OrderSnapshot, rules: PointsRules): number {
  const taxOut = rules.excludeTax && s.taxesIncluded;
  let v = s.subtotal - (taxOut ? s.lineTax : 0);
  if (rules.excludeGiftCards) v -= s.giftCards - (taxOut ? s.giftCardTax : 0);
  if (rules.includeShipping) v += s.shipping;
  return v;
}

/** The snapshot that decides: the newest merged, else (orders stored before snapshots) the paid subtotal. */
function decidingSnapshot(state: Pick<OrderState, 'paid' | 'snapshot'>): OrderSnapshot | undefined {
  if (state.snapshot) return state.snapshot;
  if (!state.paid) return undefined;
  return {
    at: 0,
    exp: state.paid.exp ?? 2,
    subtotal: state.paid.subtotalCents,
    lineTax: 0,
    giftCards: 0,
    giftCardTax: 0,
    shipping: 0,
    taxesIncluded: false,
    refundIds: [],
  };
}

/**
 * The amount that earns points now, in minor units of exponent `exp` (the largest exponent among the facts,
 * so every amount is scaled up exactly): the deciding snapshot less the refunds it does not list, never
 * below 0; 0 before payment.
 */
function eligibleMinor(state: Pick<OrderState, 'paid' | 'refunds' | 'snapshot'>): {
  minor: number;
  exp: number;
} {
  const snap = decidingSnapshot(state);
  if (!state.paid || !snap) return { minor: 0, exp: 2 };
  const rules = state.paid.rules ?? LEGACY_POINTS_RULES;
  const refunds = Object.entries(state.refunds).map(([id, r]) => [id, refundAmounts(r)] as const);
  const exp = Math.max(snap.exp, ...refunds.map(([, r]) => r.exp));
  const listed = new Set(snap.refundIds);
  let minor = snapshotEligible(snap, rules) * 10 ** (exp - snap.exp);
  for (const [id, r] of refunds) {
    minor -= refundEligible(r, rules, snap.taxesIncluded, listed.has(id)) * 10 ** (exp - r.exp);
  }
  return { minor: Math.max(0, minor), exp };
}

/** Cents (minor units) that earn points now; see eligibleMinor for the exponent. */
export function eligibleCents(state: Pick<OrderState, 'paid' | 'refunds' | 'snapshot'>): number {
  return eligibleMinor(state).minor;
}

/** floor(rateMilli × minor / (1000 × 10^exp)), exact for any safe integers (BigInt product). */
export function pointsFor(rateMilli: number, minor: number, exp = 2): number {
  if (minor <= 0 || rateMilli <= 0) return 0;
  return Number((BigInt(rateMilli) * BigInt(minor)) / (1000n * 10n ** BigInt(exp)));
}

export type WorthBasis = 'earning' | 'not-paid' | 'cancelled' | 'test-order';

/** Why an order is worth what it is worth (for the plain-words reason of a skipped job). */
export function worthBasis(state: OrderState, includeTestOrders: boolean): WorthBasis {
  if (state.cancelled) return 'cancelled';
  if (!state.paid) return 'not-paid';
  if (state.paid.test && !(state.paid.testIncluded ?? includeTestOrders)) return 'test-order';
  return 'earning';
}

/** The points the order is worth now. */
export function worth(state: OrderState, includeTestOrders: boolean): number {
  if (worthBasis(state, includeTestOrders) !== 'earning' || !state.paid) return 0;
  const { minor, exp } = eligibleMinor(state);
  return pointsFor(state.paid.rateMilli, minor, exp);
}
