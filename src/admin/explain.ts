/**
 * The merchant's questions, answered in plain words: is the sync working, and if not, what exactly is
 * wrong and what to do about it. Pure functions of what the overview gathered, so they are easy to test.
 */

export interface Problem {
  severity: 'critical' | 'warning';
  code: string;
  title: string;
  fix: string;
}

export interface OverviewFacts {
  installed: boolean;
  paused: boolean;
  itretail: {
    configured: boolean;
    lastOkAt?: string;
    lastError?: { at: string; code: string; message: string };
    check?: { ok: boolean; message: string; code?: string };
  };
  redisOk: boolean;
  shopifyAccess?: { ok: boolean; message?: string };
  queue: { waiting: number; active: number; delayed: number };
  failures: number;
  /** Points writes waiting for the merchant's decision. */
  uncertainWrites?: number;
  /** The most recent failure's error code, when there are failures. */
  latestFailureCode?: string;
  /** When the oldest waiting job was queued (ISO), if known. */
  now?: number;
}

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
  const it = f.itretail;
  if (!it.configured) {
    out.push({
      severity: 'critical',
      code: 'ITR_NOT_CONFIGURED',
      title: 'IT Retail is not connected',
      fix: 'Enter your IT Retail username and password (or API token) under Settings and press Test connection.',
    });
  } else if (it.check && !it.check.ok && (!it.lastOkAt || (it.lastError && it.lastError.at >= it.lastOkAt))) {
    out.push({
      severity: 'critical',
      code: it.check.code ?? 'ITR_FAILING',
      title: 'IT Retail is not answering the app',
      fix: it.check.message,
    });
  } else if (it.lastError && (!it.lastOkAt || it.lastError.at > it.lastOkAt)) {
    out.push({
      severity: it.lastError.code === 'ITR_AUTH' ? 'critical' : 'warning',
      code: it.lastError.code,
      title: `IT Retail's last answer was an error (${new Date(it.lastError.at).toUTCString()})`,
      fix:
        it.lastError.code === 'ITR_AUTH'
          ? 'Update the IT Retail username and password under Settings.'
          : `${it.lastError.message}. The app retries on its own.`,
    });
  }
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
      fix: 'New orders and refunds wait in the queue. Untick "Pause sync" under Settings to resume.',
    });
  }
  if ((f.uncertainWrites ?? 0) > 0) {
    const n = f.uncertainWrites ?? 0;
    out.push({
      severity: 'critical',
      code: 'UNCERTAIN_WRITES',
      title: `${n} ${n === 1 ? 'change to points needs' : 'changes to points need'} your decision`,
      fix: 'IT Retail did not confirm them and its record cannot tell. Under Failures, choose It landed or Apply it for each.',
    });
  }
  if (f.failures > 0) {
    out.push({
      severity: 'critical',
      code: 'FAILURES',
      title: `${f.failures} ${f.failures === 1 ? 'event' : 'events'} could not be synced`,
      fix: `${fixFor(f.latestFailureCode) ?? 'See Failures below for what went wrong with each.'} Use Retry (or Retry all) under Failures once the cause is fixed.`,
    });
  }
  if (!f.paused && f.queue.waiting > 100 && f.queue.active === 0) {
    out.push({
      severity: 'warning',
      code: 'BACKLOG',
      title: `${f.queue.waiting} events are waiting and none is being worked on`,
      fix: 'The sync worker may not be running. Contact whoever runs the app.',
    });
  }
  return out;
}
