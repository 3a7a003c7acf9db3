import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from './logger.js';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/** Query parameters that carry credentials (the embedded page's id_token, OAuth codes, HMACs). */
const SECRET_PARAMS = /^(id_token|session|hmac|signature|code|state|token|access_token|password)$/i;
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
/** Probes that would flood the log at info level. */
const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

/** The URL with credential-bearing query values blanked. */
export function safeUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const params = new URLSearchParams(url.slice(q + 1));
  for (const key of [...params.keys()]) if (SECRET_PARAMS.test(key)) params.set(key, '[redacted]');
  return `${url.slice(0, q)}?${params.toString()}`;
}

/** The request's id: a sane incoming X-Request-Id, else a new UUID. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const incoming = headers['x-request-id'];
  return typeof incoming === 'string' && VALID_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** Fields a route adds to the request's finishing log line (one line per request where all went well). */
export function addLogFields(res: Response, fields: Record<string, unknown>): void {
  res.locals.logFields = { ...(res.locals.logFields as Record<string, unknown> | undefined), ...fields };
}

/** The request's child logger (with its request id), set by requestLogger. */
export function logOf(res: Response, fallback: Logger): Logger {
  return (res.locals.log as Logger | undefined) ?? fallback;
}

/**
 * Gives every request an id (a sane incoming X-Request-Id, else a new UUID) echoed in the answer, a child
 * logger on `res.locals.log`, and one log line when it finishes. Headers are never logged whole.
 */
export function requestLogger(
  logger: Logger,
  onFinish?: (req: Request, res: Response, seconds: number) => void,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const reqId = requestIdOf(req.headers);
    // The child logger is made on first use: a request that goes well logs only the finishing line below.
    let child: Logger | undefined;
    Object.defineProperty(res.locals, 'log', {
      get: () => {
        child ??= logger.child({ reqId });
        return child;
      },
      configurable: true,
    });
    res.locals.requestId = reqId;
    res.setHeader(REQUEST_ID_HEADER, reqId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      onFinish?.(req, res, seconds);
      const line = {
        reqId,
        ...(res.locals.logFields as Record<string, unknown> | undefined),
        req: { method: req.method, url: safeUrl(req.originalUrl), userAgent: req.headers['user-agent'] },
        res: { statusCode: res.statusCode },
        responseTimeMs: Math.round(seconds * 1e4) / 10,
      };
      const quiet = QUIET_PATHS.has(req.path) && res.statusCode < 400;
      if (res.statusCode >= 500) logger.error(line, 'request failed');
      else if (quiet) logger.debug(line, 'request completed');
      else logger.info(line, 'request completed');
    });
    next();
  };
}
