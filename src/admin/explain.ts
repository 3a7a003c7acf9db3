/**
 * The merchant's questions, answered in plain words: is the sync working, and if not, what exactly is
 * wrong and what to do about it. Pure functions of what the overview gathered, so they are easy to test.
 */

type Severity = 'critical' | 'warning';

/** What a problem's button does: open a section of the page, or call the API there and then. */
type ProblemAction =
  | { label: string; kind: 'open'; section: 'settings' | 'failures' | 'link-existing' }
  | { label: string; kind: 'retry-all' | 'resume' };

export interface Problem {
  severity: Severity;
  code: string;
  title: string;
  fix: string;
  action?: ProblemAction;
}

/** The one answer at the top of the page. */
export type Verdict = 'working' | 'needs-attention' | 'not-working';

/** IT Retail's answers are judged over this window, not call by call. */
export const HEALTH_WINDOW_MS = 5 * 60_000;

export interface OverviewFacts {
  installed: boolean;
  paused: boolean;
  itretail: {
    configured: boolean;
    lastOkAt?: string;
    lastError?: { at: string; code: string; message: string };
    check?: { ok: boolean; message: string; code?: string; checkedAt?: string };
  };
  redisOk: boolean;
  shopifyAccess?: { ok: boolean; message?: string };
  queue: { waiting: number; active: number; delayed: number };
  failures: number;
  /** Of the failures looked at: how many a Retry can help, and how many it cannot (to review and dismiss). */
  retryableFailures?: number;
  permanentFailures?: number;
  /** Points writes waiting for the merchant's decision. */
  uncertainWrites?: number;
  /** The most recent failure's error code, when there are failures. */
  latestFailureCode?: string;
  now?: number;
}

export type ItretailState = 'not-set-up' | 'ok' | 'refused' | 'not-answering' | 'unsteady';

/**
 * IT Retail's state over the last HEALTH_WINDOW_MS: refused (the sign-in was refused and nothing succeeded
 * since; once a call succeeds, the refusal is over), not answering (errors and no good call in the window), unsteady (errors in the window beside good
 * calls: needs attention but keeps working), ok. One good call after a refusal does not hide the errors of
 * the window, and one error after a good minute does not turn it red.
 */
export function itretailState(it: OverviewFacts['itretail'], now = Date.now()): ItretailState {
  if (!it.configured) return 'not-set-up';
  const recent = (iso?: string) => Boolean(iso) && now - Date.parse(iso as string) < HEALTH_WINDOW_MS;
  const err = it.lastError;
  const okAfterErr = it.lastOkAt && err ? it.lastOkAt > err.at : Boolean(it.lastOkAt);
  const failedCheck =
    it.check && !it.check.ok && !(it.lastOkAt && recent(it.lastOkAt)) ? it.check : undefined;
  const refusedCode = (code?: string) => code === 'ITR_AUTH';
  if (err && !okAfterErr && refusedCode(err.code)) return 'refused';
  if (failedCheck && refusedCode(failedCheck.code)) return 'refused';
  if (failedCheck) return 'not-answering';
  // A refused sign-in followed by a good call is over: the sign-in works now (new credentials, say).
  if (err && okAfterErr && refusedCode(err.code)) return 'ok';
  if (err && recent(err.at)) {
    return recent(it.lastOkAt) ? 'unsteady' : okAfterErr ? 'unsteady' : 'not-answering';
  }
  if (err && !okAfterErr) return 'not-answering';
  return 'ok';
}

/** Working, needs attention or not working: the worst severity among the problems. */
export function verdictOf(problems: Problem[]): Verdict {
  if (problems.some((p) => p.severity === 'critical')) return 'not-working';
  return problems.length ? 'needs-attention' : 'working';
}

const SEVERITY_ORDER: Record<Severity, number> = { critical: 0, warning: 1 };

/** What to do about a failed event, by its error code. */
export function fixFor(errorCode: string | undefined): string | undefined {
  switch (errorCode) {
    case 'ITR_AUTH':
      return 'IT Retail refused the sign-in. Update the username and password under Settings, then press Retry.';
    case 'ITR_UNAVAILABLE':
    case 'ITR_WRITE_UNKNOWN':
      return 'IT Retail was not answering. Once it is back, press Retry.';
    case 'ITR_MALFORMED':
      return 'IT Retail answered unreadably. Check the base URL under Settings, then press Retry.';
    case 'ITR_INVALID':
      return "IT Retail refused the customer's details. Correct them in Shopify or IT Retail, then press Retry.";
    case 'ITR_EMAIL_TAKEN':
      return 'Another IT Retail customer already has this email. Merge or fix them in IT Retail, then press Retry.';
    case 'ITR_NOT_FOUND':
      return 'The linked IT Retail customer no longer exists. Press Retry to match the customer again.';
    case 'MATCH_FAILED':
      return 'The customer could not be matched in IT Retail. Check the email in Shopify, then press Retry.';
    case 'AWAITING_DECISION':
      return 'IT Retail may or may not have applied a points change for this customer. Decide it above (It landed / Apply it); this then runs again by itself.';
    case 'EMAIL_OF_ANOTHER_CUSTOMER':
      return 'Two IT Retail customers would share one email. Change or merge one of them in IT Retail, then press Retry.';
    case 'ABSENCE_UNCONFIRMED':
      return 'IT Retail says the customer does not exist, but its customer list still shows it. Check the base URL and credentials under Settings, then press Retry.';
    case 'STALLED':
      return 'The app stopped several times while running this. Press Retry to run it again.';
    case 'BAD_PAYLOAD':
    case 'INVALID_PAYLOAD':
      return 'Shopify sent data the app cannot read. Retrying will not help; contact support with the order number.';
    default:
      return undefined;
  }
}

const OPEN_SETTINGS: ProblemAction = { label: 'Open Settings', kind: 'open', section: 'settings' };

function itretailProblem(f: OverviewFacts): Problem | undefined {
  const it = f.itretail;
  switch (itretailState(it, f.now)) {
    case 'not-set-up':
      return {
        severity: 'critical',
        code: 'ITR_NOT_CONFIGURED',
        title: 'IT Retail is not connected',
        fix: 'Enter your IT Retail username and password (or API token) under Settings and press Test connection.',
        action: OPEN_SETTINGS,
      };
    case 'refused':
      return {
        severity: 'critical',
        code: 'ITR_AUTH',
        title: 'IT Retail refused the sign-in',
        fix: 'The username and password (or API token) saved for IT Retail no longer work. Update them under Settings.',
        action: OPEN_SETTINGS,
      };
    case 'not-answering':
      return {
        severity: 'critical',
        code: it.check?.code ?? it.lastError?.code ?? 'ITR_FAILING',
        title: 'IT Retail is not answering',
        fix: `${it.check && !it.check.ok ? it.check.message : (it.lastError?.message ?? 'No call succeeded recently')}. The app keeps retrying; check the base URL under Settings if this lasts.`,
        action: OPEN_SETTINGS,
      };
    case 'unsteady':
      return {
        severity: 'warning',
        code: 'ITR_UNSTEADY',
        title: 'IT Retail answered some calls with errors in the last 5 minutes',
        fix: `${it.lastError?.message ?? 'Some calls failed'}. Other calls succeed; the app retries on its own.`,
      };
    default:
      return undefined;
  }
}

/** Failed events: "Retry N" where a retry can help now, else where to review them. */
function failuresProblem(f: OverviewFacts, itr: Problem | undefined): Problem | undefined {
  if (f.failures <= 0) return undefined;
  const retryable = f.retryableFailures ?? 0;
  const permanent = f.permanentFailures ?? 0;
  const cause = fixFor(f.latestFailureCode) ?? 'See Failures for what went wrong with each.';
  return {
    severity: 'critical',
    code: 'FAILURES',
    title: `${f.failures} ${f.failures === 1 ? 'event' : 'events'} could not be synced`,
    fix:
      retryable > 0
        ? cause
        : permanent > 0
          ? 'Retrying cannot help these. Review them under Failures and dismiss them once handled.'
          : cause,
    action:
      retryable > 0 && !(itr && itr.severity === 'critical')
        ? { label: `Retry ${retryable}`, kind: 'retry-all' }
        : retryable > 0
          ? // While IT Retail refuses or does not answer, a retry would only fail again.
            { label: 'Open Failures', kind: 'open', section: 'failures' }
          : { label: permanent > 0 ? 'Review' : 'Open Failures', kind: 'open', section: 'failures' },
  };
}

/** The problems of the shop, the most severe first, each with what to do and (where one helps) a button. */
export function problemsOf(f: OverviewFacts): Problem[] {
  const out: Problem[] = [];
  if (!f.redisOk) {
    out.push({
      severity: 'critical',
      code: 'REDIS_DOWN',
      title: 'The app cannot reach its database (Redis)',
      fix: 'Nothing is being synced or recorded until it is back. Contact whoever runs the app.',
    });
  }
  if (!f.installed) {
    out.push({
      severity: 'critical',
      code: 'UNINSTALLED',
      title: 'The app was uninstalled from this shop',
      fix: 'Install it again from the Shopify App Store to resume syncing.',
    });
  }
  const itr = itretailProblem(f);
  if (itr) out.push(itr);
  if (f.shopifyAccess && !f.shopifyAccess.ok) {
    out.push({
      severity: 'warning',
      code: 'SHOPIFY_TOKEN',
      title: 'The app has no Shopify access token for this shop yet',
      fix: f.shopifyAccess.message ?? 'Reload the app from the Shopify admin.',
    });
  }
  if (f.paused) {
    out.push({
      severity: 'warning',
      code: 'PAUSED',
      title: 'Sync is paused',
      fix: 'New orders and refunds wait in the queue; nothing is lost.',
      action: { label: 'Resume', kind: 'resume' },
    });
  }
  if ((f.uncertainWrites ?? 0) > 0) {
    const n = f.uncertainWrites ?? 0;
    out.push({
      severity: 'critical',
      code: 'UNCERTAIN_WRITES',
      title: `${n} ${n === 1 ? 'change to points needs' : 'changes to points need'} your decision`,
      fix: 'IT Retail did not confirm them and its record cannot tell. Choose It landed or Apply it for each.',
      action: { label: 'Decide', kind: 'open', section: 'failures' },
    });
  }
  const failed = failuresProblem(f, itr);
  if (failed) out.push(failed);
  if (!f.paused && f.queue.waiting > 100 && f.queue.active === 0) {
    out.push({
      severity: 'warning',
      code: 'BACKLOG',
      title: `${f.queue.waiting} events are waiting and none is being worked on`,
      fix: 'The sync worker may not be running. Contact whoever runs the app.',
    });
  }
  // Stable: within a severity, the order above (database, install, IT Retail, …) stands.
  return out.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity]);
}
