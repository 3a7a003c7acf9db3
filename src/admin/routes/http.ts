import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { z } from 'zod';
import { AppError } from '../../errors.js';
import { QueueUnavailableError } from '../../queue/enqueue.js';
import { InstallError } from '../../shopify/install.js';
import { shopOf } from '../../shopify/session-token.js';

/**
 * What every section router of the admin API shares: the errors a handler throws, the one place they become
 * HTTP answers, and the parsing of query strings with per-field messages the page shows.
 */

/** A request the API refuses, with the message (and per-field messages) the page shows. */
export class BadRequest extends AppError {
  constructor(
    message: string,
    readonly fields?: Record<string, string>,
  ) {
    super(message, { code: 'BAD_REQUEST' });
  }
}

export class NotFound extends AppError {
  constructor(message: string) {
    super(message, { code: 'NOT_FOUND' });
  }
}

/** The request is sound but the state of the shop refuses it (409); `details` go into the answer. */
export class Conflict extends AppError {
  constructor(
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message, { code: 'CONFLICT' });
  }
}

/** A page of a list: where it starts (the previous answer's cursor) and how many rows (1 to 100). */
export const pageQueryShape = {
  cursor: z.string().max(200, 'is too long').optional(),
  limit: z.coerce
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(100, 'must be at most 100')
    .optional(),
};

export type Handler = (req: Request, res: Response, shop: string) => Promise<unknown>;

/** The one error mapping of the admin API: 400 / 404 / 409 / 503 / install errors; the rest to the app's 500. */
function sendError(err: unknown, res: Response, next: NextFunction): void {
  if (err instanceof BadRequest) {
    res.status(400).json({ error: err.message, fields: err.fields });
  } else if (err instanceof NotFound) {
    res.status(404).json({ error: err.message });
  } else if (err instanceof Conflict) {
    res.status(409).json({ ...err.details, error: err.message });
  } else if (err instanceof QueueUnavailableError) {
    res.status(503).json({ error: 'The app cannot reach its database right now. Try again in a minute.' });
  } else if (err instanceof InstallError) {
    res.status(err.status).json({ error: err.message });
  } else {
    next(err);
  }
}

/** A handler of the shop in the session token; what it resolves to is sent as JSON (unless it answered itself). */
export const route =
  (fn: Handler): RequestHandler =>
  async (req, res, next) => {
    try {
      const out = await fn(req, res, shopOf(res));
      if (!res.headersSent) res.json(out);
    } catch (err) {
      sendError(err, res, next);
    }
  };

const FIELD_LABELS: Record<string, string> = {
  pointsPerDollar: 'Points per dollar',
  includeTestOrders: 'Include test orders',
  excludeTax: 'Leave tax out',
  excludeGiftCards: 'No points for gift cards',
  includeShipping: 'Give points for shipping',
  orderRetentionDays: 'Keep order details',
  paused: 'Pause sync',
  itretail: 'IT Retail connection',
  'itretail.baseUrl': 'IT Retail base URL',
  'itretail.username': 'IT Retail username',
  'itretail.password': 'IT Retail password',
  'itretail.token': 'IT Retail API token',
  redemption: 'Redemption rules',
  'redemption.enabled': 'Redemption on',
  'redemption.pointsPerUnit': 'Points per currency unit',
  'redemption.minimumPoints': 'Minimum points',
  'redemption.stepPoints': 'Step',
  'redemption.maximumPoints': 'Maximum points per redemption',
  'redemption.codeLifetimeDays': 'Code lifetime (days)',
  'redemption.giveBackExpired': 'Give back expired codes',
  'redemption.currency': 'Currency',
};

export function fieldsOf(error: z.ZodError, base: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) {
        const path = [...base, ...issue.path.map(String), k].join('.');
        out[path] = `"${path}" is not a setting`;
      }
      continue;
    }
    const path = [...base, ...issue.path.map(String)].join('.') || 'body';
    const label = FIELD_LABELS[path] ?? path;
    out[path] ??= `${label} ${issue.message}`;
  }
  return out;
}

export function summary(fields: Record<string, string>): string {
  return Object.values(fields).join(' ');
}

/** A zod error as a BadRequest naming each field. */
export function badRequestOf(error: z.ZodError, base: string[] = []): BadRequest {
  const fields = fieldsOf(error, base);
  return new BadRequest(summary(fields), fields);
}

export function parseQuery<T>(schema: z.ZodType<T>, query: unknown): T {
  const clean = Object.fromEntries(
    Object.entries((query ?? {}) as Record<string, unknown>).filter(([, v]) => v !== '' && v !== undefined),
  );
  const parsed = schema.safeParse(clean);
  if (!parsed.success) throw badRequestOf(parsed.error);
  return parsed.data;
}
