import type { CustomerRecord } from '../itretail/schemas.js';

/**
 * Deciding whether a points Put whose answer was lost landed, from what the record shows — never from
 * what we hope. IT Retail's GetOne lists no loyalty-operation history (its own article shows a customer with
 * 500 points and `CustomerLoyaltyPointOperations: []`), and Put has no compare-and-set, so the evidence is:
 *
 *   - an operation ending at the written points that was not there before (only when GetOne lists any);
 *   - `Modified` unchanged and the points as they were read          → not landed (nothing wrote at all);
 *   - `Modified` changed and the points exactly what was written     → landed;
 *   - anything else (the register wrote too, or the record moved some other way) → uncertain: a person
 *     decides, the order is not applied again and the customer is not written until then.
 */

/** A points write, recorded (durably, in Redis) right before its Put is sent. */
export interface PendingIntent {
  /** Unique per write: counts the write once in the ledger, whoever confirms it. */
  id: string;
  /**
   * 'order': an order's points (moves its ledger). 'restore': gives back a register change overwritten.
   * 'redeem': points taken for a storefront discount code, or given back (moves the redemption's ledger).
   */
  kind: 'order' | 'restore' | 'redeem';
  /**
   * The order (kind 'order'), the write whose register change this restores (kind 'restore'), or the
   * redemption (`<Shopify customer>:<key>`, kind 'redeem').
   */
  ref: string;
  orderId?: string;
  orderName?: string;
  jobId?: string;
  /** Ledger change this write stands for (worth − applied at the time; the amount restored). */
  delta: number;
  before: number;
  after: number;
  shortfall: number;
  /** Manual operations ending at `after` before the Put (null: the record had no list). */
  matchingOpsBefore: number | null;
  modifiedBefore: string | null;
  at: string;
  /** Until then the Put may still be in flight (its request timeout and a margin): nobody judges it sooner. */
  inFlightUntil: number;
  /** Set when the writer saw its Put end without an answer (timeout, error): no need to wait any longer. */
  endedAt?: number;
}

type Verdict = 'landed' | 'not-landed' | 'uncertain';

export interface Judgement {
  verdict: Verdict;
  /** Plain words for the log and the page. */
  why: string;
}

/** A write nobody could decide, kept for a person: both readings and what the record showed. */
export interface UncertainWrite {
  intent: PendingIntent;
  itrCustomerId: string;
  observed: { points: number; modified: string | null };
  why: string;
  at: string;
}

export const pointsOf = (r: Pick<CustomerRecord, 'LoyaltyPoints'>) =>
  typeof r.LoyaltyPoints === 'number' ? Math.trunc(r.LoyaltyPoints) : 0;

/** Manual operations ending at `after` (null when the record carries no list). */
export function matchingManualOps(r: CustomerRecord, after: number): number | null {
  const ops = r.CustomerLoyaltyPointOperations;
  if (!Array.isArray(ops)) return null;
  let n = 0;
  for (const op of ops) if (op && op.IsManualUpdate !== false && op.LoyaltyPointsAfterAdd === after) n++;
  return n;
}

export function judgeWrite(intent: PendingIntent, r: CustomerRecord): Judgement {
  const nowOps = matchingManualOps(r, intent.after);
  if (intent.matchingOpsBefore !== null && nowOps !== null && nowOps > intent.matchingOpsBefore) {
    return { verdict: 'landed', why: `IT Retail lists a new operation ending at ${intent.after} points` };
  }
  const points = pointsOf(r);
  const modified = r.Modified ?? null;
  if (modified === intent.modifiedBefore) {
    if (points === intent.before) {
      return { verdict: 'not-landed', why: 'the record is unchanged since it was read before the write' };
    }
    return {
      verdict: 'uncertain',
      why: `the points moved from ${intent.before} to ${points} but the record's Modified did not`,
    };
  }
  if (points === intent.after) {
    return {
      verdict: 'landed',
      why: `the record was modified and holds exactly the ${intent.after} points written`,
    };
  }
  return {
    verdict: 'uncertain',
    why:
      points === intent.before
        ? `the record was modified since it was read but still holds ${points} points`
        : `the record was modified and holds ${points} points: neither ${intent.before} (not landed) nor ${intent.after} (landed)`,
  };
}

/**
 * The register change a Put overwrote, from its answer: the service reports the operation it made as
 * `LoyaltyPointsAdded` against the value it held, so a difference from what we meant to add is what the
 * register added between our GetOne and our Put (0 when none, or when the answer says nothing).
 * An answer listing no operation (`[]`) for a Put that moved the points: the Put made none, so the record
 * already held the points written — the register had moved them by exactly our change, and we wrote over it.
 */
export function overwrittenByPut(
  intent: Pick<PendingIntent, 'before' | 'after'>,
  answer: CustomerRecord,
): number {
  const ops = answer.CustomerLoyaltyPointOperations;
  const last = Array.isArray(ops) ? ops.at(-1) : undefined;
  if (Array.isArray(ops) && ops.length === 0 && pointsOf(answer) === intent.after) {
    return intent.after - intent.before;
  }
  if (!last || typeof last.LoyaltyPointsAdded !== 'number') return 0;
  if (typeof last.LoyaltyPointsAfterAdd === 'number' && last.LoyaltyPointsAfterAdd !== intent.after) return 0;
  return intent.after - intent.before - last.LoyaltyPointsAdded;
}
