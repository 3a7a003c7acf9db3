import { describe, expect, it } from 'vitest';
import {
  formatCents,
  MoneyFormatError,
  parseCents,
  parseOptionalCents,
  parseRateMilli,
} from '../../src/sync/money.js';

describe('parseCents turns decimal amounts into integer cents', () => {
  it.each([
    ['52.38', 5238],
    ['52', 5200],
    ['52.3', 5230],
    ['0.99', 99],
    ['0', 0],
    ['0.00', 0],
    ['000012.50', 1250],
    [' 19.99 ', 1999],
    ['320.1900', 32019],
    ['100000000000.00', 10_000_000_000_000],
    ['-0.00', 0],
  ])('%j → %d', (input, cents) => {
    expect(parseCents(input)).toBe(cents);
  });

  it.each([
    [10.25, 1025],
    [20, 2000],
    [0.1, 10],
    [9.99, 999],
    [52.38, 5238],
  ])('JSON number %d → %d without float arithmetic', (input, cents) => {
    expect(parseCents(input)).toBe(cents);
  });

  it('reads every cent value from 0.00 to 99.99 exactly, as string and as number', () => {
    for (let c = 0; c < 10_000; c++) {
      const text = `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;
      expect(parseCents(text)).toBe(c);
      expect(parseCents(Number(text))).toBe(c);
      expect(formatCents(c)).toBe(text);
    }
  });

  it.each([
    ['', /not a decimal/],
    ['abc', /not a decimal/],
    ['1,000.00', /not a decimal/],
    ['$5.00', /not a decimal/],
    ['5.', /not a decimal/],
    ['.5', /not a decimal/],
    ['1e3', /not a decimal/],
    ['NaN', /not a decimal/],
    ['12.345', /more than 2 decimal places/],
    ['0.001', /more than 2 decimal places/],
    ['-1.00', /must not be negative/],
    ['1000000000000.00', /out of range/],
  ])('refuses %j clearly', (input, message) => {
    expect(() => parseCents(input)).toThrow(MoneyFormatError);
    expect(() => parseCents(input)).toThrow(message);
  });

  it.each([
    [null, /got null/],
    [undefined, /got undefined/],
    [{}, /got object/],
    [true, /got boolean/],
    [Number.NaN, /not a finite number/],
    [Number.POSITIVE_INFINITY, /not a finite number/],
    [1e21, /out of range/],
    [0.1 + 0.2, /more than 2 decimal places/],
  ])('refuses non-amount %s', (input, message) => {
    expect(() => parseCents(input)).toThrow(message);
  });

  it('names the field in its message and keeps it short', () => {
    expect(() => parseCents('x'.repeat(500), { what: 'current_subtotal_price' })).toThrow(
      /^current_subtotal_price is not a decimal amount: "x{40}…"$/,
    );
  });

  it('accepts negative amounts only when asked', () => {
    expect(parseCents('-5.25', { allowNegative: true })).toBe(-525);
    expect(formatCents(-525)).toBe('-5.25');
  });

  it('parseOptionalCents gives undefined for absent values', () => {
    expect(parseOptionalCents(null)).toBeUndefined();
    expect(parseOptionalCents(undefined)).toBeUndefined();
    expect(parseOptionalCents('  ')).toBeUndefined();
    expect(parseOptionalCents('1.5')).toBe(150);
  });
});

describe('parseRateMilli turns points per dollar into thousandths', () => {
  it.each([
    ['1', 1000],
    ['1.5', 1500],
    ['0.125', 125],
    ['2', 2000],
    ['5', 5000],
    ['0', 0],
    ['0.001', 1],
    ['010.10', 10_100],
    ['9999.999', 9_999_999],
    [1.5, 1500],
    [3, 3000],
  ])('%j → %d', (input, milli) => {
    expect(parseRateMilli(input)).toBe(milli);
  });

  it.each(['', '-1', '1.2345', 'one', '1e3', '10000', '1,5', null, undefined, Number.NaN])(
    'refuses %j',
    (input) => {
      expect(() => parseRateMilli(input)).toThrow(MoneyFormatError);
    },
  );
});
