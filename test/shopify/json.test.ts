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
