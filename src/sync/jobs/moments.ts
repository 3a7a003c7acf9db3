import type { SyncJobData, WebhookJobData } from '../../queue/jobs.js';
import { timeMs } from '../payloads.js';

/** When Shopify triggered the webhook (X-Shopify-Triggered-At), else when it was received. */
export function webhookMoment(data: WebhookJobData): number {
  return timeMs(data.triggeredAt) ?? timeMs(data.receivedAt) ?? Date.now();
}

/** The job came before the shop's erasure (shop/redact itself may run again: it only erases). */
export function erasedBefore(data: SyncJobData, erasedAt: string): boolean {
  if (data.kind === 'webhook' && data.topic === 'shop/redact') return false;
  const moment = data.kind === 'webhook' ? webhookMoment(data) : timeMs(data.requestedAt);
  const erased = timeMs(erasedAt);
  return moment === undefined || erased === undefined || moment <= erased;
}
