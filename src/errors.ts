import { scrubSecrets } from './logger.js';

/**
 * The base of every error the app throws on purpose. Each carries a stable `code` (persisted with failed
 * sync events and read by the admin page: never rename one), whether a later retry may succeed
 * (`retryable`), and what the merchant is shown (`merchantMessage`: plain words, never a token or a
 * password). The sync error policy (sync/jobs/error-policy.ts) reads only these properties.
 */
export interface AppErrorOptions {
  code?: string;
  retryable?: boolean;
  cause?: unknown;
}

/** A wait that is nobody's fault: the job is put back without using an attempt. */
export interface Deferral {
  /** How long; when absent, a short jittered delay (the job's lockBusyDelayMs). */
  ms?: number;
  /** IT Retail asked the whole shop to wait (429 Retry-After): every worker holds the shop back. */
  throttlesShop?: boolean;
}

export class AppError extends Error {
  readonly code: string;
  readonly retryable: boolean;

  constructor(message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? 'INTERNAL';
    this.retryable = options.retryable ?? false;
  }

  /** What the merchant reads (admin page, stored failure): the message, any secret scrubbed. */
  get merchantMessage(): string {
    return scrubSecrets(this.message);
  }

  /** Set for a retryable wait that should not use up an attempt. */
  get deferral(): Deferral | undefined {
    return undefined;
  }
}

/** Thrown for failures no retry can fix: the job fails at once, with this message shown to the merchant. */
export class PermanentJobError extends AppError {
  constructor(message: string, code = 'PERMANENT') {
    super(message, { code, retryable: false });
  }
}
