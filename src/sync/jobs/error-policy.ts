import { PermanentJobError } from '../../errors.js';
import {
  AuthenticationError,
  isITRetailError,
  UnavailableError,
  WriteOutcomeUnknownError,
} from '../../itretail/errors.js';
import { scrubSecrets } from '../../logger.js';
import { CredentialsMissingError } from '../clients.js';
import { EmailOfAnotherCustomerError } from '../customers.js';
import { AwaitingDecisionError, WriteInFlightError } from '../ledger.js';
import { LockBusyError, LockLostError } from '../locks.js';
import { AbsenceUnconfirmedError, MatchError } from '../matching.js';
import { MoneyFormatError } from '../money.js';
import { InvalidOrderError } from '../order-state.js';

export interface Classified {
  permanent: boolean;
  message: string;
  code?: string;
  deferMs?: number;
  /** IT Retail asked the whole shop to wait (429 Retry-After): every worker holds the shop back. */
  throttlesShop?: boolean;
}

/** Plain words for the admin page; never a token or a password. */
export function classifyError(e: unknown): Classified {
  const msg = (m: string) => scrubSecrets(m);
  if (e instanceof PermanentJobError) return { permanent: true, message: msg(e.message), code: e.code };
  if (e instanceof CredentialsMissingError) return { permanent: true, message: e.message, code: e.code };
  if (e instanceof MoneyFormatError || e instanceof InvalidOrderError) {
    return { permanent: true, message: msg(e.message), code: e.code };
  }
  if (e instanceof AwaitingDecisionError || e instanceof EmailOfAnotherCustomerError) {
    return { permanent: true, message: e.message, code: e.code };
  }
  if (e instanceof WriteInFlightError) {
    return {
      permanent: false,
      message: e.message,
      code: e.code,
      deferMs: Math.max(50, e.untilMs - Date.now()),
    };
  }
  if (e instanceof AbsenceUnconfirmedError) return { permanent: false, message: e.message, code: e.code };
  if (e instanceof LockBusyError) return { permanent: false, message: e.message, code: e.code };
  if (e instanceof LockLostError) return { permanent: false, message: e.message, code: e.code };
  if (e instanceof MatchError) return { permanent: !e.retryable, message: msg(e.message), code: e.code };
  if (isITRetailError(e)) {
    if (e instanceof AuthenticationError && e.retryable) {
      return {
        permanent: false,
        code: e.code,
        message:
          'IT Retail refused a freshly issued token (maintenance, or the login lacks API access); retrying',
      };
    }
    if (e instanceof AuthenticationError) {
      return {
        permanent: true,
        code: e.code,
        message: 'IT Retail refused the credentials; check them in Settings',
      };
    }
    if (e instanceof WriteOutcomeUnknownError) {
      return {
        permanent: false,
        code: e.code,
        message: 'IT Retail did not confirm a change; it is checked before anything else is written',
      };
    }
    if (e instanceof UnavailableError) {
      return {
        permanent: false,
        code: e.code,
        message: `IT Retail is not answering (${msg(e.message)})`,
        deferMs: e.retryAfterMs,
        throttlesShop: e.retryAfterMs !== undefined,
      };
    }
    const detail = e.serviceMessage ? `: ${msg(e.serviceMessage)}` : ` (${msg(e.message)})`;
    return { permanent: !e.retryable, code: e.code, message: `IT Retail refused the request${detail}` };
  }
  const m = e instanceof Error ? e.message : String(e);
  return { permanent: false, message: msg(m), code: 'INTERNAL' };
}

/** Put back without using an attempt: a wait that is nobody's fault (a busy lock, a Retry-After, a Put in flight). */
export function isDeferrable(e: unknown, c: Classified): boolean {
  return !c.permanent && (c.deferMs !== undefined || e instanceof LockBusyError);
}
