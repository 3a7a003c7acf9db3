import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { type JsonShape, jsonShape } from '../../src/shopify/json-check.js';

/** What JSON.parse makes of the bytes (decoded as UTF-8, as the worker reads them). */
function parseShape(bytes: Buffer): JsonShape {
  try {
    const v: unknown = JSON.parse(bytes.toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? 'object' : 'other';
  } catch {
    return 'invalid';
  }
}

const FIXTURES = new URL('../fixtures/shopify/', import.meta.url);
const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => readFileSync(new URL(f, FIXTURES)));

/** A small deterministic PRNG, so a failure can be replayed. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

describe('jsonShape', () => {
  it.each([
    ['{}', 'object'],
    [' \n\t{ "a" : [1, -0, 2.5e-3, 1E+2, true, false, null, "x\\u00e9\\n\\"", {}] }\r\n', 'object'],
    ['[1,2]', 'other'],
    ['"text"', 'other'],
    ['12345678901234567890', 'other'],
    ['null', 'other'],
    ['', 'invalid'],
    ['{', 'invalid'],
    ['{"a":1,}', 'invalid'],
    ['{"a" 1}', 'invalid'],
    ['{a:1}', 'invalid'],
    ['[1,]', 'invalid'],
    ['{"a":01}', 'invalid'],
    ['{"a":1.}', 'invalid'],
    ['{"a":.5}', 'invalid'],
    ['{"a":-}', 'invalid'],
    ['{"a":1e}', 'invalid'],
    ['{"a":"\\x"}', 'invalid'],
    ['{"a":"\\u12"}', 'invalid'],
    ['{"a":"tab\there"}', 'invalid'],
    ['{"a":tru}', 'invalid'],
    ['{"a":1}{}', 'invalid'],
    ['{"a":1} x', 'invalid'],
    ['\ufeff{}', 'invalid'],
    ['{"é":"ü"}', 'object'],
  ])('%j is %s', (text, shape) => {
    const bytes = Buffer.from(text);
    expect(jsonShape(bytes)).toBe(shape);
    expect(parseShape(bytes)).toBe(shape);
  });

  it('agrees with JSON.parse on bytes that are not UTF-8', () => {
    for (const bytes of [
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xe2, 0x22, 0x7d]),
      Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xe2, 0x82, 0x22, 0x7d]),
      Buffer.from([0x7b, 0xc3, 0xa9, 0x7d]),
    ])
      expect(jsonShape(bytes)).toBe(parseShape(bytes));
  });

  it('agrees with JSON.parse on deep nesting', () => {
    for (const depth of [255, 256, 257, 600]) {
      const ok = Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth)}`);
      const obj = Buffer.from(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`);
      const bad = Buffer.from(`${'['.repeat(depth)}${']'.repeat(depth - 1)}`);
      for (const b of [ok, obj, bad]) expect(jsonShape(b)).toBe(parseShape(b));
    }
  });

  it('agrees with JSON.parse on every fixture and 20,000 corruptions of them', () => {
    const random = prng(11);
    const significant = Buffer.from('{}[]:,"\\ -+.0123456789eEtfnu\t\n\u0001x');
    let disagreements = 0;
    const shapes = new Set<JsonShape>();
    for (const fixture of fixtures) {
      expect(jsonShape(fixture)).toBe('object');
      const compact = Buffer.from(JSON.stringify(JSON.parse(fixture.toString('utf8'))));
      expect(jsonShape(compact)).toBe('object');
      for (let n = 0; n < 20_000 / fixtures.length; n++) {
        const base = n % 2 ? fixture : compact;
        const at = Math.floor(random() * base.length);
        const byte = significant[Math.floor(random() * significant.length)]!;
        const kind = Math.floor(random() * 4);
        const mutated =
          kind === 0
            ? Buffer.concat([base.subarray(0, at), base.subarray(at + 1)])
            : kind === 1
              ? Buffer.concat([base.subarray(0, at), Buffer.from([byte]), base.subarray(at)])
              : kind === 2
                ? Buffer.concat([base.subarray(0, at), Buffer.from([byte]), base.subarray(at + 1)])
                : base.subarray(0, at);
        const expected = parseShape(mutated);
        shapes.add(expected);
        if (jsonShape(mutated) !== expected) disagreements++;
      }
    }
    expect(disagreements).toBe(0);
    // The corruptions reached both sides of the line.
    expect(shapes).toEqual(new Set(['object', 'invalid']));
  });
});
