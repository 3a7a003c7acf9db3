import type { Job, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { SyncJobData } from './jobs.js';

/**
 * Finished jobs keep their webhook payload (names, emails, addresses) for their retention period. On
 * customers/redact and shop/redact those copies go too: every completed or failed job of the shop that
 * names the customer (by Shopify id or email) — or every one of the shop's, when no customer is given — is
 * removed. Jobs still waiting run as usual and are removed with the next redact or by retention.
 */
export async function removeFinishedJobs(
  queues:
    | (Pick<Queue<SyncJobData>, 'getJobs'> & Partial<Pick<Queue<SyncJobData>, 'opts' | 'toKey'>>)
    | { forShop(shop: string): Pick<Queue<SyncJobData>, 'getJobs' | 'opts' | 'toKey'> },
  shop: string,
  who?: { id?: string; email?: string },
  opts: { limit?: number; pageSize?: number } = {},
): Promise<number> {
  // A sharded queue: only the shop's own shard holds its jobs.
  const queue = 'forShop' in queues ? queues.forShop(shop) : queues;
  const limit = opts.limit ?? 50_000;
  const pageSize = opts.pageSize ?? 500;
  const email = who?.email?.trim().toLowerCase();
  // `"id":902` must not match `"id":9021`: the id ends where the digits do.
  const idPattern =
    who?.id && /^\d+$/.test(who.id) ? new RegExp(`"(?:id|customer_id)":"?${who.id}(?!\\d)`) : undefined;
  const names = (data: SyncJobData): boolean => {
    if (!who) return true;
    const text = (
      data.kind === 'webhook' ? (data.body ?? JSON.stringify(data.payload)) : JSON.stringify(data)
    ).replace(/\s+/g, '');
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
        await removeKeepingEventMark(queue, job);
        removed++;
      } catch {
        // Taken by a retry at this very moment: it will run, finish and be removed by retention.
      }
    }
  }
  return removed;
}

/**
 * Removes a finished job; when it was a deduplicated webhook, the event's deduplication key (which BullMQ
 * deletes along with the job it names) is put back with the TTL it had left, so a late redelivery of that
 * event is still recognised for the rest of its 48 hours.
 */
async function removeKeepingEventMark(
  queue: Partial<Pick<Queue<SyncJobData>, 'opts' | 'toKey'>>,
  job: Pick<Job<SyncJobData>, 'id' | 'remove' | 'deduplicationId'>,
): Promise<void> {
  // The queue's own ioredis connection (the app always passes one in).
  const client = queue.opts?.connection as Partial<Pick<Redis, 'pttl' | 'set'>> | undefined;
  if (!job.deduplicationId || !queue.toKey || !client?.pttl || !client.set) return job.remove();
  const key = queue.toKey(`de:${job.deduplicationId}`);
  const ttlMs = await client.pttl(key);
  await job.remove();
  if (ttlMs > 0) await client.set(key, String(job.id), 'PX', ttlMs, 'NX');
}
