import { AppError, type Deferral } from '../errors.js';
import { scrubSecrets } from '../logger.js';

/**
 * Typed errors of the IT Retail client. Every error carries a stable `code`, the HTTP `status` when there
 * was one, the service's own `Message` (`serviceMessage`), the `call` it belongs to, and whether a later
 * retry may succeed (`retryable`). Messages never contain the bearer token or the password.
 */

export type CallName =
  | 'token'
  | 'GetAllCustomers'
  | 'GetCustomerProductPurchases'
  | 'CreateCustomer'
  | 'GetCustomer'
  | 'UpdateCustomer';

export type ITRetailErrorCode =
  | 'ITR_AUTH'
  | 'ITR_NOT_FOUND'
  | 'ITR_EMAIL_TAKEN'
  | 'ITR_INVALID'
  | 'ITR_UNAVAILABLE'
  | 'ITR_MALFORMED'
  | 'ITR_WRITE_UNKNOWN';

export interface ITRetailErrorInit {
  call: CallName;
  status?: number;
  serviceMessage?: string;
  cause?: unknown;
}

export abstract class ITRetailError extends AppError {
  declare readonly code: ITRetailErrorCode;
  readonly status?: number;
  readonly serviceMessage?: string;
  readonly call: CallName;

  constructor(message: string, init: ITRetailErrorInit) {
    super(message, { cause: init.cause });
    this.call = init.call;
    if (init.status !== undefined) this.status = init.status;
    if (init.serviceMessage !== undefined) this.serviceMessage = init.serviceMessage;
  }

  override get merchantMessage(): string {
    const detail = this.serviceMessage
      ? `: ${scrubSecrets(this.serviceMessage)}`
      : ` (${scrubSecrets(this.message)})`;
    return `IT Retail refused the request${detail}`;
  }

  /** A plain object for logs and job results (no cause chain, no secrets). */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      call: this.call,
      status: this.status,
      serviceMessage: this.serviceMessage,
      retryable: this.retryable,
    };
  }
}

/**
 * Bad credentials or a refused static token (not retryable: a person must fix them), or a 401 again right
 * after the token was renewed with credentials the service had just accepted (retryable: the service may be
 * in maintenance, which invalidates tokens; if it persists, the login lacks API access).
 */
export class AuthenticationError extends ITRetailError {
  override readonly code = 'ITR_AUTH' as const;
  override readonly retryable: boolean;
  constructor(message: string, init: ITRetailErrorInit & { retryable?: boolean }) {
    super(message, init);
    this.retryable = init.retryable ?? false;
  }
  override get merchantMessage(): string {
    return this.retryable
      ? 'IT Retail refused a freshly issued token (maintenance, or the login lacks API access); retrying'
      : 'IT Retail refused the credentials; check them in Settings';
  }
}

/** The service says the thing does not exist (404, or a Put of an unknown Id). */
export class NotFoundError extends ITRetailError {
  override readonly code = 'ITR_NOT_FOUND' as const;
  override readonly retryable = false;
}

/** Create or Put refused because another live customer already has the email. */
export class EmailTakenError extends ITRetailError {
  override readonly code = 'ITR_EMAIL_TAKEN' as const;
  override readonly retryable = false;
}

/** Any other refusal of the input (400/422), or input the client refuses to send. */
export class InvalidInputError extends ITRetailError {
  override readonly code = 'ITR_INVALID' as const;
  override readonly retryable = false;
}

/** 5xx, 429, network failures or timeouts that outlasted the retries. */
export class UnavailableError extends ITRetailError {
  override readonly code = 'ITR_UNAVAILABLE' as const;
  override readonly retryable = true;
  /** When the service asked (Retry-After) for a longer wait than the retry budget allowed. */
  readonly retryAfterMs?: number;
  constructor(message: string, init: ITRetailErrorInit & { retryAfterMs?: number }) {
    super(message, init);
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), retryAfterMs: this.retryAfterMs };
  }
  override get merchantMessage(): string {
    return `IT Retail is not answering (${scrubSecrets(this.message)})`;
  }
  /** A Retry-After longer than the client waits holds the whole shop back until it has passed. */
  override get deferral(): Deferral | undefined {
    return this.retryAfterMs === undefined ? undefined : { ms: this.retryAfterMs, throttlesShop: true };
  }
}

/**
 * The answer could not be read: an HTML page, truncated JSON, or JSON of the wrong shape. Not retried by
 * the client. For a write, a 2xx `status` means the service accepted the write; re-read before retrying.
 */
export class MalformedResponseError extends ITRetailError {
  override readonly code = 'ITR_MALFORMED' as const;
  override readonly retryable = false;
}

/**
 * A Create or Put was sent and its answer was lost (5xx, a timeout after sending, a dropped connection):
 * it may or may not have been applied. The client never resends it; the caller must re-read and decide.
 */
export class WriteOutcomeUnknownError extends ITRetailError {
  override readonly code = 'ITR_WRITE_UNKNOWN' as const;
  override readonly retryable = true;
  override get merchantMessage(): string {
    return 'IT Retail did not confirm a change; it is checked before anything else is written';
  }
}

export function isITRetailError(e: unknown): e is ITRetailError {
  return e instanceof ITRetailError;
}
