/**
 * Checks that bytes are one JSON text (RFC 8259) without building it: no strings, objects or numbers are
 * made, so a webhook body can be refused when it is not a JSON object and otherwise passed on as it came.
 * A body JSON.parse would refuse is refused here too, and the reverse (checked against JSON.parse over the
 * fixtures and their corruptions in test/shopify/json-check.test.ts). Bytes of 0x80 and above are taken as they
 * are inside strings, as JSON.parse does after UTF-8 decoding replaces what is not UTF-8.
 */

export type JsonShape = 'object' | 'other' | 'invalid';

const OBJECT = 1;
const ARRAY = 2;
/** Deeper nesting is left to JSON.parse (Shopify's payloads nest a handful of levels). */
const MAX_DEPTH = 256;
const stack = new Uint8Array(MAX_DEPTH);

// Character classes by byte: whitespace, escapes allowed after a backslash, hex digits.
const WS = new Uint8Array(256);
for (const c of [0x20, 0x09, 0x0a, 0x0d]) WS[c] = 1;
const ESCAPE = new Uint8Array(256);
for (const c of '"\\/bfnrt') ESCAPE[c.charCodeAt(0)] = 1;
const HEX = new Uint8Array(256);
for (const c of '0123456789abcdefABCDEF') HEX[c.charCodeAt(0)] = 1;

function skipWs(b: Uint8Array, i: number): number {
  while (i < b.length && WS[b[i]!] === 1) i++;
  return i;
}

/** Index after the string starting at `i` (a '"'), or -1. */
function endOfString(b: Uint8Array, i: number): number {
  const n = b.length;
  i++;
  while (i < n) {
    const c = b[i]!;
    if (c === 0x22) return i + 1;
    if (c < 0x20) return -1;
    if (c !== 0x5c) {
      i++;
      continue;
    }
    const e = b[i + 1];
    if (e === undefined) return -1;
    if (ESCAPE[e] === 1) i += 2;
    else if (e === 0x75 && HEX[b[i + 2]!] && HEX[b[i + 3]!] && HEX[b[i + 4]!] && HEX[b[i + 5]!]) i += 6;
    else return -1;
  }
  return -1;
}

function digits(b: Uint8Array, i: number): number {
  while (i < b.length && b[i]! >= 0x30 && b[i]! <= 0x39) i++;
  return i;
}

/** Index after the number starting at `i`, or -1. */
function endOfNumber(b: Uint8Array, i: number): number {
  if (b[i] === 0x2d) i++;
  const c = b[i];
  if (c === 0x30) i++;
  else if (c !== undefined && c >= 0x31 && c <= 0x39) i = digits(b, i + 1);
  else return -1;
  if (b[i] === 0x2e) {
    const j = digits(b, i + 1);
    if (j === i + 1) return -1;
    i = j;
  }
  if (b[i] === 0x65 || b[i] === 0x45) {
    i++;
    if (b[i] === 0x2b || b[i] === 0x2d) i++;
    const j = digits(b, i);
    if (j === i) return -1;
    i = j;
  }
  return i;
}

function endOfLiteral(b: Uint8Array, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) return -1;
  return i + word.length;
}

/** The value at `i` that is not an object or array: index after it, or -1. */
function endOfScalar(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c === 0x22) return endOfString(b, i);
  if (c === 0x74) return endOfLiteral(b, i, 'true');
  if (c === 0x66) return endOfLiteral(b, i, 'false');
  if (c === 0x6e) return endOfLiteral(b, i, 'null');
  return endOfNumber(b, i);
}

/** Whether `b` is a JSON object ('object'), another JSON value ('other') or not JSON at all ('invalid'). */
export function jsonShape(b: Uint8Array): JsonShape {
  let i = skipWs(b, 0);
  const top = b[i];
  let depth = 0;
  // Each turn reads one value (opening containers as it goes), then closes what that value completes.
  for (;;) {
    i = skipWs(b, i);
    const c = b[i];
    if (c === 0x7b || c === 0x5b) {
      if (depth === MAX_DEPTH) return deepShape(b);
      i = skipWs(b, i + 1);
      const empty = b[i] === (c === 0x7b ? 0x7d : 0x5d);
      if (empty) i++;
      else {
        stack[depth++] = c === 0x7b ? OBJECT : ARRAY;
        if (c === 0x7b) i = member(b, i);
        if (i < 0) return 'invalid';
        continue;
      }
    } else {
      i = endOfScalar(b, i);
      if (i < 0) return 'invalid';
    }
    // After a value: ',' goes on to the next one, a closing bracket ends its container.
    for (;;) {
      i = skipWs(b, i);
      if (depth === 0) return i === b.length ? (top === 0x7b ? 'object' : 'other') : 'invalid';
      const kind = stack[depth - 1];
      const d = b[i];
      if (d === 0x2c) {
        i++;
        if (kind === OBJECT) i = member(b, skipWs(b, i));
        if (i < 0) return 'invalid';
        break;
      }
      if (d !== (kind === OBJECT ? 0x7d : 0x5d)) return 'invalid';
      i++;
      depth--;
    }
  }
}

/** Reads `"key" :` at `i`; the index of what follows, or -1. */
function member(b: Uint8Array, i: number): number {
  if (b[i] !== 0x22) return -1;
  i = endOfString(b, i);
  if (i < 0) return -1;
  i = skipWs(b, i);
  return b[i] === 0x3a ? i + 1 : -1;
}

function deepShape(b: Uint8Array): JsonShape {
  try {
    const v: unknown = JSON.parse(Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('utf8'));
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? 'object' : 'other';
  } catch {
    return 'invalid';
  }
}
