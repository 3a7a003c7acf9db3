/**
 * JSON.parse for webhook bodies that keeps integers beyond 2^53 exact. Shopify ids are JSON numbers and
 * will outgrow a double; JSON.parse would round them silently into another order's id. Integer literals of
 * 16 or more digits (outside strings) are turned into strings before parsing; the sync engine handles ids
 * as strings anyway. Bodies without such a literal take the plain JSON.parse path.
 */
// A number token of 16+ digits follows `:`, `,` or `[`; checking for that context first is about twice as
// fast as looking for any 16 digits. A match inside a string only sends the body down the slower path.
const LONG_NUMBER = /[:,[]\s*-?\d{16}/;

/**
 * Outside strings: a string's opening quote, or an integer literal of 16+ digits that is not the fraction
 * or the exponent of another number and is not followed by one. Strings are skipped by indexOf.
 */
const TOKEN = /"|(?<![\d.eE+-])-?\d{16,}(?![\d.eE])/g;

export function parseJsonKeepingBigIntegers(text: string): unknown {
  if (!LONG_NUMBER.test(text)) return JSON.parse(text);
  let out = '';
  let last = 0;
  const token = new RegExp(TOKEN);
  for (let m = token.exec(text); m !== null; m = token.exec(text)) {
    if (m[0] === '"') {
      token.lastIndex = afterString(text, m.index + 1);
      continue;
    }
    out += `${text.slice(last, m.index)}"${m[0]}"`;
    last = m.index + m[0].length;
  }
  return JSON.parse(out + text.slice(last));
}

/** The index after the quote that closes the string starting at `from` (text.length when there is none). */
function afterString(text: string, from: number): number {
  for (let at = from; ; ) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return text.length;
    let backslashes = 0;
    while (quote - backslashes - 1 >= from && text.charCodeAt(quote - backslashes - 1) === 0x5c)
      backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}
