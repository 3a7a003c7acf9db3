/**
 * The naive bridge: the plainest thing that takes Shopify's webhooks into a queue and applies orders to
 * IT Retail, written as a first version would be — to measure the app against it in the same script.
 *
 * Web side: Express 5, the raw body, HMAC-SHA256 compared in constant time, JSON.parse, `SET NX EX` for
 * 48-hour deduplication on the event id, `queue.add`, 200. No logging, no metrics, no request ids, no
 * timeouts, no 503 (an error is a 500), ids beyond 2^53 rounded by JSON.parse.
 * Worker side: a plain BullMQ worker that finds the customer's IT Retail id by email (one HGET), GetOne,
 * Put with the points added. No locks, no ledger, no events, no retries of its own, no exactly-once.
 *
 * Used by bench/lib/web-child.ts (BENCH_WEB_MODE=naive) and bench/lib/raw-child.ts.
 */
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { type Job, Queue, Worker } from 'bullmq';
import express from 'express';
import type { Redis } from 'ioredis';
import type { ITRetailClient } from '../src/itretail/client.js';
import { SYNC_QUEUE } from '../src/queue/names.js';

/** The app's queue name (under each run's own key prefix), so the benchmark's harness reads both alike. */
export const NAIVE_QUEUE = SYNC_QUEUE;

export interface NaiveJob {
  shop: string;
  topic: string;
  eventId: string;
  payload: unknown;
}

export function naiveQueue(redis: Redis, prefix: string): Queue<NaiveJob> {
  return new Queue<NaiveJob>(NAIVE_QUEUE, {
    connection: redis,
    prefix,
    defaultJobOptions: {
      attempts: 12,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: 10_000,
    },
  });
}

export function naiveWebApp(o: { secret: string; redis: Redis; queue: Queue<NaiveJob>; prefix: string }) {
  const app = express();
  app.disable('x-powered-by');
  app.post('/webhooks', express.raw({ type: () => true, limit: '2mb' }), async (req, res) => {
    const body = req.body as Buffer;
    const given = Buffer.from(String(req.headers['x-shopify-hmac-sha256'] ?? ''), 'base64');
    const expected = createHmac('sha256', o.secret).update(body).digest();
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.status(401).send('invalid HMAC');
      return;
    }
    const shop = String(req.headers['x-shopify-shop-domain'] ?? '');
    const topic = String(req.headers['x-shopify-topic'] ?? '');
    const eventId = String(req.headers['x-shopify-event-id'] ?? req.headers['x-shopify-webhook-id'] ?? '');
    let payload: unknown;
    try {
      payload = JSON.parse(body.toString('utf8'));
    } catch {
      res.status(400).send('invalid JSON');
      return;
    }
    try {
      const fresh = await o.redis.set(
        `${o.prefix}:seen:${shop}:${topic}:${eventId}`,
        '1',
        'EX',
        48 * 3600,
        'NX',
      );
      if (fresh) await o.queue.add(topic, { shop, topic, eventId, payload });
      res.status(200).send('ok');
    } catch {
      res.status(500).send('error');
    }
  });
  return app;
}

/**
 * GetOne + Put of the customer the order's email is linked to; the link is one HGET. With `exact`, the
 * steps an exactly-once write cannot do without, written as plainly as they go: the link, the customer's
 * lock and the order's ledger entry read in one pipeline (an order already applied stops there); the intent
 * written before the Put, so a crash between the Put and the ledger leaves evidence; the ledger entry, the
 * intent's removal and the lock's release in one MULTI after it. No events, no logging, no order facts, no
 * checks of the Put's answer: a floor for what exactness costs, not a second implementation of it.
 */
export function naiveWorker(o: {
  redis: Redis;
  prefix: string;
  /** Where the email → IT Retail id links are (the app's own link hash, so both run on the same data). */
  linkKey: (shop: string) => string;
  client: ITRetailClient;
  concurrency: number;
  queueName?: string;
  exact?: boolean;
}): Worker {
  return new Worker(
    o.queueName ?? NAIVE_QUEUE,
    async (job: Job<{ shop: string; payload: unknown }>) => {
      const payload = job.data.payload as {
        id: number;
        customer: { email: string };
        current_subtotal_price: string;
      };
      const points = Math.floor(Number(payload.current_subtotal_price));
      const email = payload.customer.email;
      if (!o.exact) {
        const id = await o.redis.hget(o.linkKey(job.data.shop), email);
        if (!id) throw new Error('not linked');
        const rec = await o.client.getCustomer(id);
        if (!rec) throw new Error('customer gone');
        await o.client.updateCustomer({ ...rec, LoyaltyPoints: (rec.LoyaltyPoints ?? 0) + points });
        return;
      }
      const base = `${o.prefix}:floor:{${job.data.shop}}`;
      const lock = `${base}:lock:${email}`;
      const intent = `${base}:intent:${email}`;
      const order = String(payload.id);
      const token = randomUUID();
      const read = await o.redis
        .pipeline()
        .hget(o.linkKey(job.data.shop), email)
        .set(lock, token, 'PX', 30_000, 'NX')
        .hget(`${base}:ledger`, order)
        .exec();
      const [id, locked, applied] = (read ?? []).map(([e, v]) => {
        if (e) throw e;
        return v;
      });
      if (!id) throw new Error('not linked');
      if (locked !== 'OK') throw new Error('customer busy');
      if (applied) {
        await o.redis.del(lock);
        return;
      }
      const rec = await o.client.getCustomer(String(id));
      if (!rec) throw new Error('customer gone');
      const before = rec.LoyaltyPoints ?? 0;
      await o.redis.hset(intent, { order, before, after: before + points, modified: rec.Modified ?? '' });
      await o.client.updateCustomer({ ...rec, LoyaltyPoints: before + points });
      await o.redis.multi().hset(`${base}:ledger`, order, String(points)).del(intent).del(lock).exec();
    },
    { connection: o.redis, prefix: o.prefix, concurrency: o.concurrency },
  );
}
