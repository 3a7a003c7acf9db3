import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Paths pino blanks wherever they appear: request headers, error objects, job data and IT Retail
 * records. `*` matches one level; listing the common depths keeps redaction fast (no deep scan).
 */
const SECRET_KEYS = [
  'authorization',
  'Authorization',
  'password',
  'Password',
  'token',
  'accessToken',
  'access_token',
  'apiToken',
  'sessionToken',
  'secret',
  'apiSecret',
  'apiSecretKey',
  'encryptionKey',
  'x-shopify-hmac-sha256',
  'cookie',
  'set-cookie',
  'PaymentToken',
];

export const REDACT_PATHS: string[] = SECRET_KEYS.flatMap((k) => {
  const key = /^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`;
  const dot = key.startsWith('[') ? '' : '.';
  return [key, `*${dot}${key}`, `*.*${dot}${key}`, `*.*.*${dot}${key}`];
}).map((p) => p.replace(/^\./, ''));

export function createLogger(opts: { level?: string; name?: string } & LoggerOptions = {}): Logger {
  return pino({
    level: opts.level ?? 'info',
    name: opts.name,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    ...opts,
  });
}

/** Removes credentials that may be embedded in strings such as URLs or error messages. */
export function scrubSecrets(text: string): string {
  return text
    .replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, '$1[redacted]')
    .replace(/(password=)[^&\s]+/gi, '$1[redacted]')
    .replace(/(access_token"?\s*[:=]\s*"?)[^"&\s,}]+/gi, '$1[redacted]');
}
