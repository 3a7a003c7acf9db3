import { PermanentJobError } from '../../errors.js';
import type { NewSyncEvent } from '../events.js';
import { parsePayload } from '../payloads.js';
import type { JobHandlers, JobOutcome, ProcessorContext, TopicHandler, WebhookRun } from './types.js';

/** Validates the webhook's payload for its topic and runs the topic's handler. */
export async function runWebhook(
  handlers: JobHandlers,
  run: WebhookRun,
  ctx: ProcessorContext,
): Promise<JobOutcome> {
  const parsed = parsePayload(run.data.topic, run.data.payload);
  if (!parsed.ok) {
    if (parsed.error.startsWith('topic '))
      return { status: 'skipped', reason: `topic ${run.data.topic} is not handled` };
    // Name what can still be read (order #1001, the order or customer id), so the merchant can find it.
    run.setContext(looseContext(run.data.topic, run.data.payload));
    throw new PermanentJobError(parsed.error, 'INVALID_PAYLOAD');
  }
  const handler = handlers.topics[parsed.topic] as TopicHandler;
  return handler(parsed, run, ctx);
}

/** Identifying fields of a payload that failed validation, taken only where they are plain values. */
export function looseContext(topic: string, payload: unknown): Partial<NewSyncEvent> {
  if (!payload || typeof payload !== 'object') return {};
  const p = payload as Record<string, unknown>;
  const idOf = (v: unknown) =>
    (typeof v === 'number' && Number.isSafeInteger(v)) || (typeof v === 'string' && /^\d{1,30}$/.test(v))
      ? String(v)
      : undefined;
  const name = typeof p.name === 'string' && p.name.length <= 64 ? p.name : undefined;
  if (topic.startsWith('orders/')) return { shopifyOrderId: idOf(p.id), orderName: name };
  if (topic === 'refunds/create') return { shopifyOrderId: idOf(p.order_id) };
  if (topic.startsWith('customers/')) return { shopifyCustomerId: idOf(p.id) };
  return {};
}
