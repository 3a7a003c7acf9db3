import { describe, expect, it } from 'vitest';
import type { SyncJobData } from '../../src/queue/jobs.js';
import { removeFinishedJobs } from '../../src/queue/redact.js';

type FakeJob = { data: SyncJobData; removed: boolean; remove(): Promise<void> };
const job = (shop: string, payload: unknown): FakeJob => ({
  data: { kind: 'webhook', shop, topic: 'orders/paid', webhookId: 'w', receivedAt: '', payload },
  removed: false,
  async remove() {
    this.removed = true;
  },
});

// The queue's paging is BullMQ's; this checks which finished jobs are chosen (the BullMQ path runs in
// test/sync/topics.test.ts against Redis).
function queueOf(jobs: FakeJob[]) {
  return {
    getJobs: async (states: string[], start: number, end: number) =>
      states[0] === 'completed' ? jobs.slice(start, end + 1) : [],
  } as unknown as Parameters<typeof removeFinishedJobs>[0];
}

describe('removeFinishedJobs', () => {
  it('removes the shop’s jobs naming the customer by id or email, and nothing else', async () => {
    const jobs = [
      job('a.myshopify.com', { id: 1, customer: { id: 902, email: 'Ann@Example.com' } }),
      job('a.myshopify.com', { id: 2, customer: { id: 9021, email: 'bob@example.com' } }),
      job('a.myshopify.com', { id: 3, email: 'ann@example.com', customer: null }),
      job('b.myshopify.com', { id: 4, customer: { id: 902, email: 'ann@example.com' } }),
    ];
    const n = await removeFinishedJobs(
      queueOf(jobs),
      'a.myshopify.com',
      { id: '902', email: 'ann@example.com' },
      { pageSize: 2 },
    );
    expect(n).toBe(2);
    expect(jobs.map((j) => j.removed)).toEqual([true, false, true, false]);
  });

  it('without a customer removes every finished job of the shop', async () => {
    const jobs = [job('a.myshopify.com', {}), job('b.myshopify.com', {}), job('a.myshopify.com', {})];
    expect(await removeFinishedJobs(queueOf(jobs), 'a.myshopify.com')).toBe(2);
    expect(jobs.map((j) => j.removed)).toEqual([true, false, true]);
  });
});
