import { describe, expect, it } from 'vitest';
import { HEALTH_WINDOW_MS, itretailState, problemsOf, verdictOf } from '../../src/admin/explain.js';

const NOW = Date.parse('2026-05-01T12:00:00.000Z');
const ago = (ms: number) => new Date(NOW - ms).toISOString();
const err = (code: string, at: string) => ({ code, at, message: `GetCustomer: ${code}` });

describe('IT Retail health over a window', () => {
  it('does not flip call by call: one error among good calls needs attention, and stays so for the window', () => {
    const it = { configured: true };
    // error, then a good call a second later: still an error within the window
    expect(
      itretailState({ ...it, lastOkAt: ago(1_000), lastError: err('ITR_UNAVAILABLE', ago(2_000)) }, NOW),
    ).toBe('unsteady');
    // good call, then an error: the same answer, not "not answering"
    expect(
      itretailState({ ...it, lastOkAt: ago(2_000), lastError: err('ITR_UNAVAILABLE', ago(1_000)) }, NOW),
    ).toBe('unsteady');
    // the error is older than the window and good calls followed: ok
    expect(
      itretailState(
        { ...it, lastOkAt: ago(1_000), lastError: err('ITR_UNAVAILABLE', ago(HEALTH_WINDOW_MS + 1)) },
        NOW,
      ),
    ).toBe('ok');
    // errors and no good call within the window: not answering
    expect(
      itretailState(
        { ...it, lastOkAt: ago(HEALTH_WINDOW_MS + 60_000), lastError: err('ITR_UNAVAILABLE', ago(1_000)) },
        NOW,
      ),
    ).toBe('not-answering');
  });

  it('tells a refused sign-in apart from IT Retail not answering', () => {
    const refused = { configured: true, lastOkAt: ago(60_000), lastError: err('ITR_AUTH', ago(1_000)) };
    expect(itretailState(refused, NOW)).toBe('refused');
    // The password fixed: the next good call ends the refusal at once.
    expect(itretailState({ ...refused, lastOkAt: ago(500) }, NOW)).toBe('ok');
    const check = { configured: true, check: { ok: false, code: 'ITR_AUTH', message: 'refused' } };
    expect(itretailState(check, NOW)).toBe('refused');
    const down = { configured: true, check: { ok: false, code: 'ITR_UNAVAILABLE', message: 'no answer' } };
    expect(itretailState(down, NOW)).toBe('not-answering');
    const base = {
      installed: true,
      paused: false,
      redisOk: true,
      queue: { waiting: 0, active: 0, delayed: 0 },
      failures: 0,
      now: NOW,
    };
    expect(problemsOf({ ...base, itretail: refused })[0]?.title).toBe('IT Retail refused the sign-in');
    expect(problemsOf({ ...base, itretail: down })[0]?.title).toBe('IT Retail is not answering');
    // A retry while IT Retail refuses would only fail again: no "Retry N" then.
    const failing = { ...base, failures: 2, retryableFailures: 2 };
    expect(problemsOf({ ...failing, itretail: refused }).find((p) => p.code === 'FAILURES')?.action).toEqual({
      label: 'Open Failures',
      kind: 'open',
      section: 'failures',
    });
  });

  it('gives one verdict, the most severe problem first', () => {
    const problems = problemsOf({
      installed: true,
      paused: true,
      redisOk: true,
      itretail: { configured: true, lastOkAt: ago(1_000) },
      queue: { waiting: 0, active: 0, delayed: 0 },
      failures: 2,
      retryableFailures: 2,
      now: NOW,
    });
    expect(problems.map((p) => p.code)).toEqual(['FAILURES', 'PAUSED']);
    expect(problems[0]?.action).toEqual({ label: 'Retry 2', kind: 'retry-all' });
    expect(verdictOf(problems)).toBe('not-working');
    expect(verdictOf(problems.slice(1))).toBe('needs-attention');
    expect(verdictOf([])).toBe('working');
  });
});
