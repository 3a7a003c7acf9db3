import { describe, expect, it } from 'vitest';
import {
  orderEditedPayload,
  orderVariant,
  type Presentment,
  refundVariant,
} from '../../fakes/shopify/order-variants.js';
import { fixture } from '../../fakes/shopify/webhooks.js';
import { factsFromOrder, factsFromRefund } from '../../src/sync/order-state.js';
import { parsePayload } from '../../src/sync/payloads.js';
import {
  DEFAULT_POINTS_RULES,
  emptyOrderState,
  mergeFacts,
  type OrderFacts,
  type OrderState,
  type PointsRules,
  worth,
} from '../../src/sync/points.js';
import { seeded, shuffle } from '../helpers/prng.js';

/**
 * Shopify's published payload shapes (and variants of them) through the real parsing and facts, each
 * balance worked out by hand in the comment next to it.
 */

type Event = { topic: string; payload: unknown };

function factsOf(e: Event, rules: PointsRules, rateMilli: number): OrderFacts {
  const p = parsePayload(e.topic, e.payload);
  if (!p.ok) throw new Error(p.error);
  const paid = { rateMilli, includeTestOrders: false, rules };
  switch (p.topic) {
    case 'orders/paid':
      return factsFromOrder(p.data, paid, true);
    case 'orders/updated':
      return factsFromOrder(p.data, paid);
    case 'orders/cancelled':
      return { ...factsFromOrder(p.data), cancelled: true };
    case 'refunds/create':
      return factsFromRefund(p.data);
    case 'orders/edited':
      return {}; // carries no money (see order-jobs.ts)
    default:
      throw new Error(`not an order topic: ${e.topic}`);
  }
}

/** Worth after each event, and the difference the worker would apply each time. */
function run(events: Event[], opts: { rules?: Partial<PointsRules>; rate?: number } = {}) {
  const rules = { ...DEFAULT_POINTS_RULES, ...opts.rules };
  let s: OrderState = emptyOrderState();
  const worths: number[] = [];
  const applied: number[] = [];
  for (const e of events) {
    s = mergeFacts(s, factsOf(e, rules, opts.rate ?? 1000));
    const w = worth(s, false);
    worths.push(w);
    applied.push(w - s.appliedPoints);
    s = { ...s, appliedPoints: w };
  }
  return { worths, applied };
}

const paid = (payload: unknown) => ({ topic: 'orders/paid', payload });
const updated = (payload: unknown) => ({ topic: 'orders/updated', payload });
const refund = (payload: unknown) => ({ topic: 'refunds/create', payload });
const EUR: Presentment = { currency: 'EUR', of: (v) => (Number(v) * 0.9).toFixed(2) };

describe("Shopify's published payloads", () => {
  it('orders/paid #1001: 2 × 18.00 + 24.00 less 10 % (6.00) = 54.00, tax 4.65 and shipping 7.00 on top → 54', () => {
    expect(run([paid(fixture('orders-paid'))]).worths).toEqual([54]);
    // Shipping included: 54.00 + 7.00 = 61.00 → 61.
    expect(run([paid(fixture('orders-paid'))], { rules: { includeShipping: true } }).worths).toEqual([61]);
  });

  it('refunds/create of the dripper (21.60 of the 54.00) → 32.40 → 32, −22', () => {
    const r = run([paid(fixture('orders-paid')), refund(fixture('refunds-create'))]);
    expect(r).toEqual({ worths: [54, 32], applied: [54, -22] });
  });

  it('orders/cancelled #1001 (cancelled, current subtotal 0.00, refunds listed) → 0; as an orders/paid it earns 0', () => {
    const r = run([
      paid(fixture('orders-paid')),
      { topic: 'orders/cancelled', payload: fixture('orders-cancelled') },
    ]);
    expect(r).toEqual({ worths: [54, 0], applied: [54, -54] });
    // An orders/paid whose payload is already cancelled earns nothing.
    expect(run([paid(fixture('orders-cancelled'))]).worths).toEqual([0]);
    const voided = { ...fixture('orders-paid'), financial_status: 'voided' };
    expect(run([paid(voided)]).worths).toEqual([0]);
  });
});

describe('variants: taxes, gift cards, shipping, currencies', () => {
  it('tax-inclusive AUD shop: a line of 110.00 incl. 10.00 GST → 100 (110 with tax left in)', () => {
    const o = orderVariant({
      currency: 'AUD',
      taxesIncluded: true,
      lines: [{ price: '110.00', tax: '10.00' }],
      subtotal: '110.00',
    });
    expect(run([paid(o)]).worths).toEqual([100]);
    expect(run([paid(o)], { rules: { excludeTax: false } }).worths).toEqual([110]);
  });

  it('tax-exclusive shop: tax is outside the subtotal, nothing to take off → 54.00 → 54', () => {
    const o = orderVariant({ lines: [{ price: '54.00', tax: '4.66' }], subtotal: '54.00' });
    expect(run([paid(o)]).worths).toEqual([54]);
  });

  it('discounted tax-inclusive line: 2 × 30.00 less 6.00 = 54.00 incl. 4.91 tax → 49.09 → 49', () => {
    const o = orderVariant({
      currency: 'GBP',
      taxesIncluded: true,
      lines: [{ price: '30.00', quantity: 2, discount: '6.00', tax: '4.91' }],
      subtotal: '54.00',
    });
    expect(run([paid(o)]).worths).toEqual([49]);
  });

  it('gift card 50.00 + groceries 20.00 → 20 (70 when gift cards earn)', () => {
    const o = orderVariant({
      lines: [{ price: '50.00', giftCard: true }, { price: '20.00' }],
      subtotal: '70.00',
    });
    expect(run([paid(o)]).worths).toEqual([20]);
    expect(run([paid(o)], { rules: { excludeGiftCards: false } }).worths).toEqual([70]);
  });

  it('shop money decides, never the presentment currency: USD shop, EUR buyer', () => {
    // Shop amounts 80.00 + 8.00 shipping; the presentment amounts (×0.9) would give 72 / 79.
    const o = orderVariant({
      presentment: EUR,
      lines: [{ price: '80.00' }],
      subtotal: '80.00',
      shipping: '8.00',
    });
    expect(run([paid(o)]).worths).toEqual([80]);
    expect(run([paid(o)], { rules: { includeShipping: true } }).worths).toEqual([88]);
    const r = refundVariant({ id: 501, presentment: EUR, lines: [{ subtotal: '30.00' }] });
    expect(run([paid(o), refund(r)]).worths).toEqual([80, 50]);
  });

  it('KWD (3 decimals): "12.345" → 12; at 1.5 per dinar 18.5175 → 18; a refund of 2.346 → 9.999 → 9', () => {
    const o = orderVariant({ currency: 'KWD', lines: [{ price: '12.345' }], subtotal: '12.345' });
    expect(run([paid(o)]).worths).toEqual([12]);
    expect(run([paid(o)], { rate: 1500 }).worths).toEqual([18]);
    const r = refundVariant({ id: 601, currency: 'KWD', lines: [{ subtotal: '2.346' }] });
    expect(run([paid(o), refund(r)])).toEqual({ worths: [12, 9], applied: [12, -3] });
  });

  it('JPY (no decimals): "1500" → 1500 points at 1 per yen', () => {
    const o = orderVariant({ currency: 'JPY', lines: [{ price: '1500' }], subtotal: '1500' });
    expect(run([paid(o)]).worths).toEqual([1500]);
  });

  it('a refund with refund_line_items and order_adjustments: shipping given back counts only when shipping earns', () => {
    const o = orderVariant({
      lines: [{ price: '40.00' }, { price: '14.00' }],
      subtotal: '54.00',
      shipping: '7.00',
    });
    const r = refundVariant({
      id: 701,
      lines: [{ subtotal: '14.00', tax: '1.21' }],
      adjustments: [
        { kind: 'shipping_refund', amount: '-7.00' },
        { kind: 'refund_discrepancy', amount: '-2.00' },
      ],
    });
    // Default: 54.00 − 14.00 = 40.00 → 40 (the discrepancy is money, not items: no points).
    expect(run([paid(o), refund(r)]).worths).toEqual([54, 40]);
    // With shipping: 61.00, then 61.00 − 14.00 − 7.00 = 40.00 → 40.
    expect(run([paid(o), refund(r)], { rules: { includeShipping: true } }).worths).toEqual([61, 40]);
  });

  it('a refunded gift-card line takes nothing back when gift cards do not earn', () => {
    const o = orderVariant({
      lines: [{ price: '25.00', giftCard: true }, { price: '30.00' }],
      subtotal: '55.00',
    });
    const r = refundVariant({ id: 801, lines: [{ subtotal: '25.00', giftCard: true }] });
    expect(run([paid(o), refund(r)]).worths).toEqual([30, 30]);
    expect(run([paid(o), refund(r)], { rules: { excludeGiftCards: false } }).worths).toEqual([55, 30]);
  });

  it('tax-inclusive refund: 22.00 incl. 2.00 GST of a 110.00 order → 100 − 20 = 80', () => {
    const o = orderVariant({
      currency: 'AUD',
      taxesIncluded: true,
      lines: [
        { price: '88.00', tax: '8.00' },
        { price: '22.00', tax: '2.00' },
      ],
      subtotal: '110.00',
    });
    const r = refundVariant({ id: 901, currency: 'AUD', lines: [{ subtotal: '22.00', tax: '2.00' }] });
    expect(run([paid(o), refund(r)]).worths).toEqual([100, 80]);
  });
});

describe('edits: the newest snapshot decides', () => {
  const T1 = '2026-05-18T09:21:44-04:00';
  const T2 = '2026-05-19T12:00:00-04:00';
  const T3 = '2026-05-20T12:00:00-04:00';

  it('an edit that adds a line of 15.00: paid 40.00 → 40; orders/updated 55.00 → 55 (+15)', () => {
    const before = orderVariant({ lines: [{ id: 1, price: '40.00' }], subtotal: '40.00', updatedAt: T1 });
    const after = orderVariant({
      lines: [
        { id: 1, price: '40.00' },
        { id: 2, price: '15.00' },
      ],
      subtotal: '55.00',
      updatedAt: T2,
    });
    const edited = { topic: 'orders/edited', payload: orderEditedPayload(5981253779773, [2], []) };
    expect(run([paid(before), edited, updated(after)])).toEqual({
      worths: [40, 40, 55],
      applied: [40, 0, 15],
    });
    // Arriving the other way round: the orders/updated already shows the order paid (it stands in for an
    // orders/paid that is late or lost), and the older paid snapshot does not replace the newer one.
    expect(run([updated(after), paid(before)])).toEqual({ worths: [55, 55], applied: [55, 0] });
    // An orders/updated of an order not paid yet earns nothing.
    const pending = { ...(after as object), financial_status: 'pending' };
    expect(run([updated(pending), paid(before)])).toEqual({ worths: [0, 55], applied: [0, 55] });
  });

  it('an edit that removes a line: paid 25.00 + 15.00 → 40; orders/updated 25.00 → 25 (−15)', () => {
    const before = orderVariant({
      lines: [
        { id: 1, price: '25.00' },
        { id: 2, price: '15.00' },
      ],
      subtotal: '40.00',
      updatedAt: T1,
    });
    const after = orderVariant({
      lines: [
        { id: 1, price: '25.00' },
        { id: 2, price: '15.00', currentQuantity: 0 },
      ],
      subtotal: '25.00',
      updatedAt: T2,
    });
    expect(run([paid(before), updated(after)])).toEqual({ worths: [40, 25], applied: [40, -15] });
  });

  it('an edit that removes a taxed line in a tax-inclusive shop takes its tax out with it', () => {
    // 55.00 incl. 5.00 → 50; after removing the 22.00 line (incl. 2.00): 33.00 incl. 3.00 → 30.
    const lines = (removed: boolean) => [
      { id: 1, price: '33.00', tax: '3.00' },
      { id: 2, price: '22.00', tax: '2.00', currentQuantity: removed ? 0 : 1 },
    ];
    const before = orderVariant({
      currency: 'AUD',
      taxesIncluded: true,
      lines: lines(false),
      subtotal: '55.00',
      updatedAt: T1,
    });
    const after = orderVariant({
      currency: 'AUD',
      taxesIncluded: true,
      lines: lines(true),
      subtotal: '33.00',
      updatedAt: T2,
    });
    expect(run([paid(before), updated(after)]).worths).toEqual([50, 30]);
  });

  it('a refund known by id and not yet in the newest snapshot is taken off it; once listed, not twice', () => {
    const p = orderVariant({ lines: [{ price: '40.00' }], subtotal: '40.00', updatedAt: T1 });
    const r = refundVariant({ id: 1001, lines: [{ subtotal: '10.00' }] });
    const u = orderVariant({ lines: [{ price: '40.00' }], subtotal: '30.00', updatedAt: T3, refunds: [r] });
    expect(run([paid(p), refund(r), updated(u)])).toEqual({ worths: [40, 30, 30], applied: [40, -10, 0] });
    expect(run([paid(p), updated(u), refund(r)]).worths).toEqual([40, 30, 30]);
  });

  it('any order and any repeats of paid, edit, refund and cancel give the same end', () => {
    const p = orderVariant({ lines: [{ id: 1, price: '40.00' }], subtotal: '40.00', updatedAt: T1 });
    const u = orderVariant({
      lines: [
        { id: 1, price: '40.00' },
        { id: 2, price: '15.00' },
      ],
      subtotal: '55.00',
      updatedAt: T2,
    });
    const r = refundVariant({ id: 1101, lines: [{ subtotal: '15.00', lineItemId: 2 }] });
    const all = [paid(p), updated(u), refund(r)];
    // paid 40, edit +15 = 55, refund of the 15.00 line → 40.
    const reference = run(all).worths.at(-1);
    expect(reference).toBe(40);
    const rnd = seeded(99);
    for (let i = 0; i < 200; i++) {
      const delivered = shuffle(
        all.flatMap((e) => (rnd() < 0.5 ? [e, e] : [e])),
        rnd,
      );
      const r2 = run(delivered);
      expect(r2.worths.at(-1)).toBe(40);
      expect(r2.applied.reduce((a, b) => a + b, 0)).toBe(40);
    }
  });
});

describe('the points table of POINTS.md: the rows for snapshots, edits and settings', () => {
  const T1 = '2026-05-18T09:21:44-04:00';
  const T2 = '2026-05-19T12:00:00-04:00';
  const one = (subtotal: string, at = T1, extra: Partial<Parameters<typeof orderVariant>[0]> = {}) =>
    orderVariant({ lines: [{ id: 1, price: subtotal }], subtotal, updatedAt: at, ...extra });
  const r10 = refundVariant({ id: 1201, lines: [{ subtotal: '10.00' }] });
  const rows: [string, Event[], Partial<PointsRules>, number[], number[]][] = [
    ['paid payload already cancelled (cancelled_at set)', [paid(fixture('orders-cancelled'))], {}, [0], [0]],
    [
      'paid "40.00"; edit adds a line of 15.00 (orders/updated "55.00")',
      [paid(one('40.00')), updated(one('55.00', T2))],
      {},
      [40, 55],
      [40, 15],
    ],
    [
      'paid "40.00" (25.00 + 15.00); edit removes the 15.00 line (orders/updated "25.00")',
      [paid(one('40.00')), updated(one('25.00', T2))],
      {},
      [40, 25],
      [40, -15],
    ],
    [
      'paid "40.00"; refund 10.00; orders/updated "30.00" listing that refund',
      [paid(one('40.00')), refund(r10), updated(one('30.00', T2, { refunds: [r10] }))],
      {},
      [40, 30, 30],
      [40, -10, 0],
    ],
    [
      'the newer snapshot first, the older one after: the older changes nothing',
      [updated(one('55.00', T2)), paid(one('40.00'))],
      {},
      [55, 55],
      [55, 0],
    ],
    [
      'tax-inclusive shop, AUD, line 110.00 incl. 10.00 GST',
      [
        paid(
          one('110.00', T1, {
            currency: 'AUD',
            taxesIncluded: true,
            lines: [{ price: '110.00', tax: '10.00' }],
          }),
        ),
      ],
      {},
      [100],
      [100],
    ],
    [
      'lines 50.00 gift card + 20.00 groceries',
      [paid(one('70.00', T1, { lines: [{ price: '50.00', giftCard: true }, { price: '20.00' }] }))],
      {},
      [20],
      [20],
    ],
    [
      'shipping included: "54.00" + shipping 7.00',
      [paid(one('54.00', T1, { shipping: '7.00' }))],
      { includeShipping: true },
      [61],
      [61],
    ],
    ['KWD, "12.345"', [paid(one('12.345', T1, { currency: 'KWD' }))], {}, [12], [12]],
  ];
  it.each(rows)('%s', (_row, events, rules, worths, applied) => {
    expect(run(events, { rules })).toEqual({ worths, applied });
  });
});
