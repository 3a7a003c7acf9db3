import { describe, expect, it } from 'vitest';
import { AppError, PermanentJobError } from '../../src/errors.js';
import {
  AuthenticationError,
  EmailTakenError,
  UnavailableError,
  WriteOutcomeUnknownError,
} from '../../src/itretail/errors.js';
import { CredentialsMissingError } from '../../src/sync/clients.js';
import { classifyError } from '../../src/sync/jobs/error-policy.js';
import { AwaitingDecisionError, WriteInFlightError } from '../../src/sync/ledger.js';
import { LockBusyError, LockLostError } from '../../src/sync/locks.js';
import { MoneyFormatError } from '../../src/sync/money.js';

/** The error policy is a lookup on each error's code, retryable flag, merchant message and deferral. */
describe('error policy over AppError', () => {
  it('keeps the stored codes and decides permanence from retryable', () => {
    const cases: [unknown, string, boolean][] = [
      [new PermanentJobError('bad', 'INVALID_PAYLOAD'), 'INVALID_PAYLOAD', true],
      [new CredentialsMissingError(), 'CREDENTIALS_MISSING', true],
      [new MoneyFormatError('x'), 'MONEY_FORMAT', true],
      [new AwaitingDecisionError('c1', true), 'AWAITING_DECISION', true],
      [new LockLostError('p:lock:cust:c1'), 'LOCK_LOST', false],
      [new EmailTakenError('taken', { call: 'CreateCustomer', status: 400 }), 'ITR_EMAIL_TAKEN', true],
      [new WriteOutcomeUnknownError('lost', { call: 'UpdateCustomer' }), 'ITR_WRITE_UNKNOWN', false],
      [new Error('boom'), 'INTERNAL', false],
    ];
    for (const [e, code, permanent] of cases) expect(classifyError(e)).toMatchObject({ code, permanent });
  });

  it('defers without an attempt only for waits: a busy lock, a Put in flight, a Retry-After', () => {
    expect(classifyError(new LockBusyError('p:lock:order:1', 10))).toMatchObject({
      deferred: true,
      deferMs: undefined,
    });
    const inFlight = classifyError(new WriteInFlightError(Date.now() + 5_000));
    expect(inFlight.deferred).toBe(true);
    expect(inFlight.deferMs).toBeGreaterThan(4_000);
    expect(
      classifyError(new UnavailableError('429', { call: 'GetCustomer', status: 429, retryAfterMs: 3_000 })),
    ).toMatchObject({ deferred: true, deferMs: 3_000, throttlesShop: true, permanent: false });
    expect(classifyError(new UnavailableError('503', { call: 'GetCustomer', status: 503 }))).toMatchObject({
      deferred: false,
      permanent: false,
    });
    expect(classifyError(new LockLostError('p:lock:cust:c1')).deferred).toBe(false);
  });

  it('shows the merchant plain words, never a secret', () => {
    expect(classifyError(new AuthenticationError('401', { call: 'token', status: 401 })).message).toMatch(
      /check them in Settings/,
    );
    expect(
      classifyError(new AuthenticationError('401', { call: 'GetCustomer', status: 401, retryable: true })),
    ).toMatchObject({ permanent: false, message: expect.stringMatching(/retrying/) });
    const leaked = classifyError(new Error('request failed: Authorization: Bearer abc.def.ghi'));
    expect(leaked.message).not.toContain('abc.def.ghi');
    const own = classifyError(new AppError('password=hunter2 refused', { code: 'X' }));
    expect(own.message).not.toContain('hunter2');
  });
});
