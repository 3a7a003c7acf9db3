/**
 * A candidate replacement for src/logger.ts createLogger, measured by `BENCH_INGRESS_VARIANTS=newlog`:
 * the same output, but secrets are blanked by one walk over the logged object (a Set lookup per key, any
 * case, depth ≤ 6, copying only the objects that hold a secret) instead of pino's `redact` with 68 wildcard
 * paths, which costs ~50 µs per line. Errors keep their class, message and stack when copied.
 */
import pino, { type Logger, type LoggerOptions } from 'pino';

const SECRET_KEYS = new Set(
  [
    'authorization',
    'password',
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
  ].map((k) => k.toLowerCase()),
);
const CENSOR = '[redacted]';
const MAX_DEPTH = 6;

function copyOf(o: object): Record<string, unknown> {
  if (o instanceof Error) {
    const e = Object.create(Object.getPrototypeOf(o)) as Record<string, unknown>;
    Object.assign(e, o);
    e.message = o.message;
    e.stack = o.stack;
    return e;
  }
  return { ...(o as Record<string, unknown>) };
}

/** `value` with every secret-named property blanked; the same object when there is none. */
export function scrubObject(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object' || depth > MAX_DEPTH) return value;
  if (Buffer.isBuffer(value) || value instanceof Date) return value;
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const next = scrubObject(value[i], depth + 1);
      if (next !== value[i]) {
        out ??= [...value];
        out[i] = next;
      }
    }
    return out ?? value;
  }
  let out: Record<string, unknown> | undefined;
  const o = value as Record<string, unknown>;
  for (const key in o) {
    const v = o[key];
    const next = SECRET_KEYS.has(key.toLowerCase())
      ? v === undefined
        ? v
        : CENSOR
      : scrubObject(v, depth + 1);
    if (next !== v) {
      out ??= copyOf(o);
      out[key] = next;
    }
  }
  return out ?? value;
}

export function createProposedLogger(opts: { level?: string; name?: string } & LoggerOptions = {}): Logger {
  return pino({
    level: opts.level ?? 'info',
    name: opts.name,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    formatters: { log: (o) => scrubObject(o) as Record<string, unknown> },
    ...opts,
  });
}
