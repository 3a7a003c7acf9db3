import { describe, expect, it } from 'vitest';
import { parseCents, parseRateMilli } from '../../src/sync/money.js';
import {
  eligibleCents,
  emptyOrderState,
  mergeFacts,
  type OrderFacts,
  type OrderState,
  pointsFor,
  worth,
  worthBasis,
} from '../../src/sync/points.js';
import { seeded } from '../helpers/prng.js';

const paid = (subtotal: string, rate = '1', test = false): OrderFacts => ({
  paid: { subtotalCents: parseCents(subtotal), rateMilli: parseRateMilli(rate), test, email: 'a@b.co' },
});
const refund = (id: string, subtotal: string): OrderFacts => ({ refunds: { [id]: parseCents(subtotal) } });
const cancelled: OrderFacts = { cancelled: true };

/** Folds events, returning the worth after each and the difference applied each time. */
function run(events: OrderFacts[], includeTest = false): { worths: number[]; applied: number[] } {
  let s: OrderState = emptyOrderState();
  const worths: number[] = [];
  const applied: number[] = [];
  for (const e of events) {
    s = mergeFacts(s, e);
    const w = worth(s, includeTest);
    worths.push(w);
    applied.push(w - s.appliedPoints);
    s = { ...s, appliedPoints: w };
  }
  return { worths, applied };
}

describe('the points table of POINTS.md, row by row', () => {
  it('paid "52.38" at r=1 is worth 52, +52', () => {
    expect(run([paid('52.38')])).toEqual({ worths: [52], applied: [52] });
  });

  it('then a refund of 10.25 → 42 (−10), a second refund of 20.00 → 22 (−20), cancelled → 0 (−22)', () => {
    const r = run([paid('52.38'), refund('r1', '10.25'), refund('r2', '20.00'), cancelled]);
    expect(r.worths).toEqual([52, 42, 22, 0]);
    expect(r.applied).toEqual([52, -10, -20, -22]);
  });

  it('refund 10.25 before paid "52.38": 0 then 42; applied 0 then +42', () => {
    expect(run([refund('r1', '10.25'), paid('52.38')])).toEqual({ worths: [0, 42], applied: [0, 42] });
  });

  it('cancelled before paid: 0 and stays 0, nothing ever applied', () => {
    const r = run([cancelled, paid('52.38'), refund('r1', '1.00'), paid('52.38')]);
    expect(r.worths).toEqual([0, 0, 0, 0]);
    expect(r.applied).toEqual([0, 0, 0, 0]);
  });

  it('paid delivered three times: 52, +52 once', () => {
    const r = run([paid('52.38'), paid('52.38'), paid('52.38')]);
    expect(r.worths).toEqual([52, 52, 52]);
    expect(r.applied).toEqual([52, 0, 0]);
  });

  it('paid "0.99" is worth 0: nothing applied', () => {
    expect(run([paid('0.99')])).toEqual({ worths: [0], applied: [0] });
  });

  it('r=2, paid "19.99" → 39; the shop then changes r to 5 (the order keeps 2); refund 9.99 → 20, −19', () => {
    // The rate is a fact of the paid event: a later paid event carrying the new rate changes nothing.
    const r = run([paid('19.99', '2'), paid('19.99', '5'), refund('r1', '9.99')]);
    expect(r.worths).toEqual([39, 39, 20]);
    expect(r.applied).toEqual([39, 0, -19]);
  });
});

describe('worth', () => {
  it('is 0 for a test order unless test orders are included', () => {
    const s = mergeFacts(emptyOrderState(), paid('10.00', '1', true));
    expect(worth(s, false)).toBe(0);
    expect(worthBasis(s, false)).toBe('test-order');
    expect(worth(s, true)).toBe(10);
    expect(worthBasis(s, true)).toBe('earning');
  });

  it('never goes below 0 when refunds exceed the subtotal', () => {
    const s = [paid('10.00'), refund('a', '8.00'), refund('b', '8.00')].reduce(mergeFacts, emptyOrderState());
    expect(eligibleCents(s)).toBe(0);
    expect(worth(s, false)).toBe(0);
  });

  it('counts one refund id once, whatever amount a repeat carries', () => {
    const s = [paid('10.00'), refund('a', '3.00'), refund('a', '3.00')].reduce(mergeFacts, emptyOrderState());
    expect(worth(s, false)).toBe(7);
  });

  it('explains a worth of 0', () => {
    expect(worthBasis(emptyOrderState(), false)).toBe('not-paid');
    expect(worthBasis(mergeFacts(emptyOrderState(), cancelled), false)).toBe('cancelled');
  });

  it('pointsFor is exact at the extremes (no float rounding)', () => {
    expect(pointsFor(9_999_999, 10 ** 13)).toBe(Number((9_999_999n * 10n ** 13n) / 100_000n));
    expect(pointsFor(1000, 99)).toBe(0);
    expect(pointsFor(1000, 100)).toBe(1);
    expect(pointsFor(1500, 333)).toBe(4); // 1.5 × 3.33 = 4.995
    expect(pointsFor(125, 80_000)).toBe(100); // 0.125 × 800
    expect(pointsFor(0, 10_000)).toBe(0);
  });

  it('matches an independent decimal computation on many random amounts and rates', () => {
    const rnd = seeded(7);
    for (let i = 0; i < 5000; i++) {
      const cents = Math.floor(rnd() * 10_000_000);
      const milli = Math.floor(rnd() * 20_000);
      // Independent: string arithmetic via BigInt on the decimal spelling.
      const expected =
        BigInt(`${Math.floor(cents / 100)}${String(cents % 100).padStart(2, '0')}`) * BigInt(milli);
      expect(pointsFor(milli, cents)).toBe(Number(expected / 100_000n));
    }
  });
});

describe('property: any permutation and repetition of an order’s events converges to the same worth', () => {
  it('holds for 2000 random orders, each shuffled and repeated 5 ways', () => {
    const rnd = seeded(20260401);
    const int = (n: number) => Math.floor(rnd() * n);
    for (let order = 0; order < 2000; order++) {
      const subtotal = int(100_000);
      const rate = int(5000);
      const events: OrderFacts[] = [
        { paid: { subtotalCents: subtotal, rateMilli: rate, test: rnd() < 0.1, email: 'x@y.z' } },
      ];
      const refunds = int(4);
      for (let r = 0; r < refunds; r++) events.push({ refunds: { [`r${r}`]: int(subtotal / 2 + 1) } });
      if (rnd() < 0.25) events.push({ cancelled: true });
      const includeTest = rnd() < 0.5;

      const reference = worth(events.reduce(mergeFacts, emptyOrderState()), includeTest);
      // Independent expectation from the raw numbers.
      const isCancelled = events.some((e) => e.cancelled);
      const isTest = events[0]?.paid?.test === true;
      const refunded = events.reduce(
        (s, e) => s + Object.values(e.refunds ?? {}).reduce((a: number, b) => a + Number(b), 0),
        0,
      );
      const expected =
        isCancelled || (isTest && !includeTest)
          ? 0
          : Math.floor((rate * Math.max(0, subtotal - refunded)) / 100_000);
      expect(reference).toBe(expected);

      for (let trial = 0; trial < 5; trial++) {
        const delivered = events.flatMap((e) => Array.from({ length: 1 + int(3) }, () => e));
        for (let i = delivered.length - 1; i > 0; i--) {
          const j = int(i + 1);
          [delivered[i], delivered[j]] = [delivered[j]!, delivered[i]!];
        }
        // Apply the difference after every event, as the worker does; the sum of differences is the worth.
        let s = emptyOrderState();
        let appliedTotal = 0;
        for (const e of delivered) {
          s = mergeFacts(s, e);
          const d = worth(s, includeTest) - s.appliedPoints;
          appliedTotal += d;
          s = { ...s, appliedPoints: s.appliedPoints + d };
        }
        expect(worth(s, includeTest)).toBe(reference);
        expect(appliedTotal).toBe(reference);
      }
    }
  });
});
