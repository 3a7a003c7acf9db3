import type { Queue } from 'bullmq';
import type { SyncJobData } from './jobs.js';

/**
 * Finished jobs keep their webhook payload (names, emails, addresses) for their retention period. On
 * customers/redact and shop/redact those copies go too: every completed or failed job of the shop that
 * names the customer (by Shopify id or email) — or every one of the shop's, when no customer is given — is
 * removed. Jobs still waiting run as usual and are removed with the next redact or by retention.
 */
export async function removeFinishedJobs(
  queue: Pick<Queue<SyncJobData>, 'getJobs'>,
  shop: string,
  who?: { id?: string; email?: string },
  opts: { limit?: number; pageSize?: number } = {},
): Promise<number> {
  const limit = opts.limit ?? 50_000;
  const pageSize = opts.pageSize ?? 500;
  const email = who?.email?.trim().toLowerCase();
  // `"id":902` must not match `"id":9021`: the id ends where the digits do.
  const idPattern =
    who?.id && /^\d+$/.test(who.id) ? new RegExp(`"(?:id|customer_id)":"?${who.id}(?!\\d)`) : undefined;
  const names = (data: SyncJobData): boolean => {
    if (!who) return true;
    const text = JSON.stringify(data.kind === 'webhook' ? data.payload : data).replace(/\s+/g, '');
    return (email ? text.toLowerCase().includes(`"${email}"`) : false) || (idPattern?.test(text) ?? false);
  };
  let removed = 0;
  for (const state of ['completed', 'failed'] as const) {
    const doomed = [];
    for (let start = 0; start < limit; start += pageSize) {
      const jobs = await queue.getJobs([state], start, start + pageSize - 1);
      for (const job of jobs) if (job?.data?.shop === shop && names(job.data)) doomed.push(job);
      if (jobs.length < pageSize) break;
    }
    for (const job of doomed) {
      try {
        await job.remove();
        removed++;
      } catch {
        // Taken by a retry at this very moment: it will run, finish and be removed by retention.
      }
    }
  }
  return removed;
}
