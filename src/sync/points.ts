/**
 * The points rule (shared/POINTS.md), pure. An order's facts only ever accumulate (paid once, refunds by
 * id, cancelled), so merging is commutative and idempotent, and the worth derived from the facts is the
 * same whatever order and however often the events arrive.
 *
 *   worth = paid && !cancelled && (!test || testIncluded)
 *           ? floor(rateMilli × max(0, paidSubtotalCents − Σ refunds) / 100 000) : 0
 */

/** What the payment told us. Fixed by the first paid event merged; later ones never change it. */
export interface PaidFacts {
  /** Order subtotal before any refund, in cents. */
  subtotalCents: number;
  /** Points per dollar × 1000, the shop's rate when the payment was first merged. */
  rateMilli: number;
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
  /** Refund id → refunded line-item subtotal in cents. */
  refunds?: Record<string, number>;
  cancelled?: boolean;
  /** Identity seen on a non-paid event (kept only until a paid event supplies its own). */
  email?: string;
  name?: string;
  shopifyCustomerId?: string;
}

export interface OrderState {
  paid?: PaidFacts;
  refunds: Record<string, number>;
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

/** Folds one event's facts into a state (pure; the Redis merge in order-state.ts has the same semantics). */
export function mergeFacts(state: OrderState, facts: OrderFacts): OrderState {
  const next: OrderState = { ...state, refunds: { ...state.refunds } };
  if (facts.paid && !next.paid) next.paid = { ...facts.paid };
  for (const [id, cents] of Object.entries(facts.refunds ?? {})) {
    if (!(id in next.refunds)) next.refunds[id] = cents;
  }
  if (facts.cancelled) next.cancelled = true;
  next.email ??= facts.paid?.email ?? facts.email;
  next.name ??= facts.paid?.name ?? facts.name;
  next.shopifyCustomerId ??= facts.paid?.shopifyCustomerId ?? facts.shopifyCustomerId;
  return next;
}

export function refundedCents(state: Pick<OrderState, 'refunds'>): number {
  let sum = 0;
  for (const c of Object.values(state.refunds)) sum += c;
  return sum;
}

/** Cents that earn points now: paid subtotal less refunds, never below 0 (0 before payment). */
export function eligibleCents(state: Pick<OrderState, 'paid' | 'refunds'>): number {
  if (!state.paid) return 0;
  return Math.max(0, state.paid.subtotalCents - refundedCents(state));
}

/** floor(rateMilli × cents / 100 000), exact for any safe integers (BigInt product). */
export function pointsFor(rateMilli: number, cents: number): number {
  if (cents <= 0 || rateMilli <= 0) return 0;
  return Number((BigInt(rateMilli) * BigInt(cents)) / 100_000n);
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
  return pointsFor(state.paid.rateMilli, eligibleCents(state));
}
