/**
 * JSON.parse for webhook bodies that keeps integers beyond 2^53 exact. Shopify ids are JSON numbers and
 * will outgrow a double; JSON.parse would round them silently into another order's id. Integer literals of
 * 16 or more digits (outside strings) are turned into strings before parsing; the sync engine handles ids
 * as strings anyway. Bodies without such a literal take the plain JSON.parse path.
 */
// A number token of 16+ digits follows `:`, `,` or `[`; checking for that context first is about twice as
// fast as looking for any 16 digits. A match inside a string only sends the body down the slower path.
const LONG_NUMBER = /[:,[]\s*-?\d{16}/;

export function parseJsonKeepingBigIntegers(text: string): unknown {
  if (!LONG_NUMBER.test(text)) return JSON.parse(text);
  let out = '';
  let last = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      continue;
    }
    const startsNumber = c === 0x2d || (c >= 0x30 && c <= 0x39);
    if (!startsNumber) continue;
    let j = i + (c === 0x2d ? 1 : 0);
    while (j < text.length && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x39) j++;
    const digits = j - i - (c === 0x2d ? 1 : 0);
    const next = text.charCodeAt(j);
    const isInteger = next !== 0x2e && next !== 0x65 && next !== 0x45; // not followed by . e E
    if (digits >= 16 && isInteger) {
      out += `${text.slice(last, i)}"${text.slice(i, j)}"`;
      last = j;
    }
    i = j - 1;
  }
  return JSON.parse(out + text.slice(last));
}
