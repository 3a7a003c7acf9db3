import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/**
 * Property names whose values never reach a log line, in any letter case and at any depth up to
 * MAX_DEPTH: request headers, error objects, job data, IT Retail records. One walk over the logged object
 * (a Set lookup per key, copying only the objects that hold a secret) — pino's path-based `redact` with
 * wildcards for every depth cost about ten times as much per line on the webhook path.
 */
const SECRET_KEYS: ReadonlySet<string> = new Set(
  [
    'authorization',
    'password',
    'token',
    'accessToken',
    'access_token',
    'refreshToken',
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

// Whether a property name is secret, by name as written: log lines reuse a few dozen names, so each is
// lower-cased once rather than on every line (bounded, so odd names cannot grow it without end).
const secretByName = new Map<string, boolean>();
function isSecretKey(key: string): boolean {
  let secret = secretByName.get(key);
  if (secret === undefined) {
    secret = SECRET_KEYS.has(key.toLowerCase());
    if (secretByName.size < 5_000) secretByName.set(key, secret);
  }
  return secret;
}
const MAX_DEPTH = 6;

function copyOf(o: object): Record<string, unknown> {
  if (o instanceof Error) {
    // Keep the class, message and stack, so pino's error serializer still knows it for an error.
    const e = Object.create(Object.getPrototypeOf(o)) as Record<string, unknown>;
    Object.assign(e, o);
    e.message = o.message;
    e.stack = o.stack;
    return e;
  }
  return { ...(o as Record<string, unknown>) };
}

/** `value` with every secret-named property blanked; the very same object when it holds none. */
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
    const next = isSecretKey(key) ? (v === undefined ? v : CENSOR) : scrubObject(v, depth + 1);
    if (next !== v) {
      out ??= copyOf(o);
      out[key] = next;
    }
  }
  return out ?? value;
}

export function createLogger(
  opts: { level?: string; name?: string } & LoggerOptions = {},
  destination?: DestinationStream,
): Logger {
  const options: LoggerOptions = {
    level: opts.level ?? 'info',
    name: opts.name,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
    formatters: { log: (o) => scrubObject(o) as Record<string, unknown> },
    ...opts,
  };
  // Standard output by default, written synchronously: one write per line on the calling thread, as Node
  // writes its own stdout to files and pipes. pino's default (asynchronous) hands every line to the thread
  // pool and back — on the webhook path that hop cost more CPU than building the line.
  const logger = pino(options, destination ?? pino.destination({ dest: 1, sync: true }));
  // What a child logger binds is written without passing `formatters.log` (and pino resets the bindings
  // formatter for children), so child() scrubs its bindings itself. Children inherit this child().
  const pinoChild = logger.child;
  logger.child = function scrubbedChild(this: Logger, bindings, childOptions) {
    return pinoChild.call(this, scrubObject(bindings) as typeof bindings, childOptions);
  } as Logger['child'];
  return logger;
}

/** Removes credentials that may be embedded in strings such as URLs or error messages. */
export function scrubSecrets(text: string): string {
  return text
    .replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/gi, '$1[redacted]')
    .replace(/(password=)[^&\s]+/gi, '$1[redacted]')
    .replace(/(access_token"?\s*[:=]\s*"?)[^"&\s,}]+/gi, '$1[redacted]');
}
