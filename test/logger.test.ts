import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, scrubObject } from '../src/logger.js';

function capture() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { logger: createLogger({ level: 'debug' }, stream), text: () => lines.join('') };
}

describe('logger redaction', () => {
  it('blanks secrets wherever they appear: headers, job data, nested records, arrays, any case', () => {
    const { logger, text } = capture();
    logger.info(
      {
        req: { headers: { Authorization: 'Bearer abc123secret', 'X-Shopify-Hmac-Sha256': 'hmacvalue' } },
        job: { data: { creds: { password: 'hunter2', token: 'tok-zzz' } } },
        records: [{ PaymentToken: 'pay-999', Name: 'kept' }],
        deep: { a: { b: { c: { accessToken: 'shpat_deep' } } } },
      },
      'hello',
    );
    const out = text();
    for (const secret of ['abc123secret', 'hmacvalue', 'hunter2', 'tok-zzz', 'pay-999', 'shpat_deep'])
      expect(out).not.toContain(secret);
    expect(out).toContain('"Name":"kept"');
    expect(out.match(/\[redacted\]/g)).toHaveLength(6);
  });

  it('blanks secrets a child logger binds, and keeps errors readable', () => {
    const { logger, text } = capture();
    const child = logger.child({ session: { accessToken: 'shpat_bound' }, shop: 's.myshopify.com' });
    const err = Object.assign(new TypeError('boom'), { password: 'in-error' });
    child.error({ err }, 'failed');
    child.child({ creds: { password: 'grandchild-secret' } }).info('nested child');
    expect(text()).not.toContain('grandchild-secret');
    const line = JSON.parse(text().split('\n')[0]!) as {
      err: { type: string; message: string; stack: string; password: string };
    };
    expect(text()).not.toContain('shpat_bound');
    expect(text()).not.toContain('in-error');
    expect(line.err).toMatchObject({ type: 'TypeError', message: 'boom', password: '[redacted]' });
    expect(line.err.stack).toContain('boom');
  });

  it('returns the very same object when there is nothing to blank (no copy on the hot path)', () => {
    const o = { a: { b: [1, { c: 'd' }] } };
    expect(scrubObject(o)).toBe(o);
    const withSecret = { a: { token: 'x' }, b: { c: 1 } };
    const scrubbed = scrubObject(withSecret) as typeof withSecret;
    expect(scrubbed).not.toBe(withSecret);
    expect(withSecret.a.token).toBe('x'); // the caller's object is not changed
    expect(scrubbed.b).toBe(withSecret.b);
  });
});
