import { AppError } from '../../errors.js';
import { scrubSecrets } from '../../logger.js';

/** What the runner does with a job's error: fail it now, retry it, or put it back without an attempt. */
export interface Classified {
  permanent: boolean;
  message: string;
  code: string;
  /** Put back without using an attempt (a wait that is nobody's fault). */
  deferred: boolean;
  /** How long to put it back; when absent, the runner's short jittered delay. */
  deferMs?: number;
  /** IT Retail asked the whole shop to wait (429 Retry-After): every worker holds the shop back. */
  throttlesShop?: boolean;
}

/**
 * Read off the error's own properties (errors.ts): its stable code, whether a retry may help, its words for
 * the merchant (never a token or a password) and whether it is a wait. Anything else is an unexpected
 * failure: retried, and shown as it is, secrets scrubbed.
 */
export function classifyError(e: unknown): Classified {
  if (e instanceof AppError) {
    const deferral = e.retryable ? e.deferral : undefined;
    return {
      permanent: !e.retryable,
      message: e.merchantMessage,
      code: e.code,
      deferred: deferral !== undefined,
      deferMs: deferral?.ms,
      throttlesShop: deferral?.throttlesShop,
    };
  }
  const m = e instanceof Error ? e.message : String(e);
  return { permanent: false, message: scrubSecrets(m), code: 'INTERNAL', deferred: false };
}
