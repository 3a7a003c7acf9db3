import { describe, expect, it } from 'vitest';
import { parseJsonKeepingBigIntegers } from '../../src/shopify/json.js';

describe('parseJsonKeepingBigIntegers', () => {
  it('keeps ids beyond 2^53 exact, as strings', () => {
    const body = '{"id": 12345678901234567890, "order_id":9007199254740993,"n":[-12345678901234567]}';
    expect(parseJsonKeepingBigIntegers(body)).toEqual({
      id: '12345678901234567890',
      order_id: '9007199254740993',
      n: ['-12345678901234567'],
    });
    expect((JSON.parse(body) as { order_id: number }).order_id).toBe(9007199254740992); // what JSON.parse does
  });

  it('leaves everything else as JSON.parse reads it', () => {
    const body =
      '{"id":5981253779773,"s":"digits 12345678901234567 in a string \\" and an escaped quote","price":"12.50",' +
      '"f":1234567890123456.5,"e":12345678901234567e2,"ok":true,"nothing":null}';
    expect(parseJsonKeepingBigIntegers(body)).toEqual(JSON.parse(body));
  });

  it('still refuses malformed JSON', () => {
    expect(() => parseJsonKeepingBigIntegers('{"id": 12345678901234567')).toThrow(SyntaxError);
    expect(() => parseJsonKeepingBigIntegers('nope')).toThrow(SyntaxError);
  });
});

describe('parseJsonKeepingBigIntegers on generated bodies', () => {
  // A small seeded generator: strings full of quotes, backslashes and long digit runs, big and small
  // integers, floats and exponents, nested arrays and objects. What the parse must give is known from how
  // each value was generated (a big integer as its digits in a string).
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)]!;
  const digits = (n: number) =>
    String(1 + Math.floor(rand() * 9)) +
    Array.from({ length: n - 1 }, () => Math.floor(rand() * 10)).join('');

  function value(depth: number): { json: string; expected: unknown } {
    const kind =
      depth > 2
        ? pick(['str', 'big', 'small', 'float'])
        : pick(['str', 'big', 'small', 'float', 'arr', 'obj']);
    if (kind === 'str') {
      const s = Array.from({ length: Math.floor(rand() * 6) }, () =>
        pick(['"', '\\', `:${digits(17)},`, '[', 'a', ' ', '\\"', digits(20)]),
      ).join('');
      return { json: JSON.stringify(s), expected: s };
    }
    if (kind === 'big') {
      const d = `${rand() < 0.3 ? '-' : ''}${digits(16 + Math.floor(rand() * 5))}`;
      return { json: `${pick(['', ' ', '\n'])}${d}`, expected: d };
    }
    if (kind === 'small') {
      const n = Math.floor(rand() * 1e12);
      return { json: String(n), expected: n };
    }
    if (kind === 'float') {
      const json = pick([
        `${digits(17)}.5`,
        `${digits(3)}e${digits(2)}`,
        `1.${digits(18)}`,
        `2E-${digits(17)}`,
      ]);
      return { json, expected: JSON.parse(json) };
    }
    const items = Array.from({ length: Math.floor(rand() * 4) }, () => value(depth + 1));
    if (kind === 'arr')
      return { json: `[${items.map((i) => i.json).join(',')}]`, expected: items.map((i) => i.expected) };
    const keys = items.map((_, i) => `k${i}_${digits(17)}`);
    return {
      json: `{${items.map((it, i) => `${JSON.stringify(keys[i])}: ${it.json}`).join(', ')}}`,
      expected: Object.fromEntries(items.map((it, i) => [keys[i], it.expected])),
    };
  }

  it('gives what each generated value was, over 2,000 bodies', () => {
    for (let n = 0; n < 2000; n++) {
      const items = Array.from({ length: 1 + Math.floor(rand() * 5) }, () => value(0));
      const body = `{"id": 12345678901234567, ${items.map((it, i) => `"v${i}":${it.json}`).join(',')}}`;
      const expected = {
        id: '12345678901234567',
        ...Object.fromEntries(items.map((it, i) => [`v${i}`, it.expected])),
      };
      expect(parseJsonKeepingBigIntegers(body), body).toEqual(expected);
    }
  });
});

describe('parseJsonKeepingBigIntegers on long fractions and exponents', () => {
  it('reads a fraction or an exponent of 16+ digits as JSON.parse does (they were quoted, and refused)', () => {
    const body = '{"id":12345678901234567,"rate":0.30000000000000004,"tiny":2E-12345678901234567}';
    expect(parseJsonKeepingBigIntegers(body)).toEqual({
      id: '12345678901234567',
      rate: 0.30000000000000004,
      tiny: 0,
    });
  });
});
