import { z } from 'zod';
import type { HANDLED_TOPICS } from '../queue/jobs.js';
import { MoneyFormatError, parseCents } from './money.js';

/**
 * Per-topic schemas of the webhook bodies the worker acts on. Tolerant: unknown fields are kept, ids may be
 * JSON numbers or strings (always handled as strings), fields Shopify may leave out are nullish. Money is
 * parsed here, once, into integer cents; a payload whose amounts cannot be read is refused with a plain
 * reason naming the field.
 */

/**
 * Ids as strings. A JSON number id is exact only below 2^53: beyond that JSON.parse has already rounded it,
 * so such an id is refused (by name) rather than silently turned into another order's id. Objects that carry
 * `admin_graphql_api_id` take their id from it instead (see preferGid), which is exact at any size.
 */
const id = z.union([z.string().trim().min(1), z.number().nonnegative(), z.bigint()]).transform((v, ctx) => {
  if (typeof v === 'number' && !Number.isInteger(v)) {
    ctx.addIssue({ code: 'custom', message: 'id must be a whole number' });
    return z.NEVER;
  }
  if (typeof v === 'number' && !Number.isSafeInteger(v)) {
    ctx.addIssue({
      code: 'custom',
      message: 'id is a JSON number beyond 2^53 and lost precision when parsed; send it as a string',
    });
    return z.NEVER;
  }
  return String(v);
});

const GID = /^gid:\/\/shopify\/[A-Za-z]+\/(\d+)(?:\?.*)?$/;

/** An object's `id` from its `admin_graphql_api_id` (gid://shopify/Order/123) when it has one. */
function preferGid(v: unknown): unknown {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return v;
  const gid = (v as { admin_graphql_api_id?: unknown }).admin_graphql_api_id;
  const m = typeof gid === 'string' ? GID.exec(gid.trim()) : null;
  return m ? { ...v, id: m[1] } : v;
}
const optId = id.nullish().transform((v) => v ?? undefined);
const str = z
  .string()
  .nullish()
  .transform((v) => (typeof v === 'string' && v.trim() !== '' ? v : undefined));

const cents = (what: string) =>
  z
    .unknown()
    .optional()
    .transform((v, ctx): number | undefined => {
      if (v === null || v === undefined || (typeof v === 'string' && v.trim() === '')) return undefined;
      try {
        return parseCents(v, { what });
      } catch (e) {
        ctx.addIssue({ code: 'custom', message: e instanceof MoneyFormatError ? e.message : String(e) });
        return z.NEVER;
      }
    });

const moneySet = z
  .looseObject({ shop_money: z.looseObject({ amount: z.unknown() }).nullish() })
  .nullish()
  .transform((v) => v?.shop_money?.amount);

const refundLineItem = z
  .looseObject({
    id: optId,
    line_item_id: optId,
    quantity: z.number().nullish(),
    subtotal: z.unknown().optional(),
    subtotal_set: moneySet,
  })
  .transform((li, ctx): { lineItemId?: string; subtotalCents: number } => {
    // The shop-currency amount is the one the order's subtotal is in; `subtotal` is the fallback.
    const raw = li.subtotal_set ?? li.subtotal;
    if (raw === null || raw === undefined || raw === '')
      return { lineItemId: li.line_item_id, subtotalCents: 0 };
    try {
      return {
        lineItemId: li.line_item_id,
        subtotalCents: parseCents(raw, { what: 'refund line subtotal' }),
      };
    } catch (e) {
      ctx.addIssue({ code: 'custom', message: (e as Error).message });
      return z.NEVER;
    }
  });

export const refundSchema = z
  .preprocess(
    preferGid,
    z.looseObject({
      id,
      order_id: optId,
      created_at: str,
      refund_line_items: z.array(refundLineItem).nullish(),
    }),
  )
  .transform((r) => ({
    id: r.id,
    orderId: r.order_id,
    createdAt: r.created_at,
    /** Σ refunded line-item subtotals, in cents. */
    subtotalCents: (r.refund_line_items ?? []).reduce((s, li) => s + li.subtotalCents, 0),
  }));
export type RefundPayload = z.output<typeof refundSchema>;

const orderCustomer = z
  .preprocess(
    preferGid,
    z
      .looseObject({
        id: optId,
        email: str,
        first_name: str,
        last_name: str,
        phone: str,
      })
      .nullish(),
  )
  .transform((c) => c ?? undefined);

export const orderSchema = z
  .preprocess(
    preferGid,
    z.looseObject({
      id,
      name: str,
      email: str,
      contact_email: str,
      customer: orderCustomer,
      current_subtotal_price: cents('current_subtotal_price'),
      subtotal_price: cents('subtotal_price'),
      test: z.boolean().nullish(),
      cancelled_at: str,
      financial_status: str,
      processed_at: str,
      created_at: str,
      updated_at: str,
      refunds: z.array(refundSchema).nullish(),
    }),
  )
  .transform((o) => ({
    id: o.id,
    name: o.name,
    email: normalizeEmail(o.customer?.email ?? o.email ?? o.contact_email),
    customer: o.customer,
    /** The subtotal as it stands in this payload (after edits and any refunds it lists), in cents. */
    currentSubtotalCents: o.current_subtotal_price ?? o.subtotal_price,
    test: o.test === true,
    cancelledAt: o.cancelled_at,
    financialStatus: o.financial_status,
    paidAt: o.processed_at ?? o.created_at ?? o.updated_at,
    refunds: o.refunds ?? [],
  }));
export type OrderPayload = z.output<typeof orderSchema>;

export const customerSchema = z
  .preprocess(
    preferGid,
    z.looseObject({
      id,
      email: str,
      phone: str,
      first_name: str,
      last_name: str,
      updated_at: str,
      default_address: z.looseObject({ phone: str }).nullish(),
    }),
  )
  .transform((c) => ({
    id: c.id,
    /** Shopify's `updated_at` in ms since the epoch (undefined when absent or unreadable). */
    updatedAtMs: timeMs(c.updated_at),
    email: normalizeEmail(c.email),
    rawEmail: c.email?.trim(),
    phone: c.phone ?? c.default_address?.phone,
    firstName: c.first_name?.trim(),
    lastName: c.last_name?.trim(),
  }));
export type CustomerPayload = z.output<typeof customerSchema>;

const redactCustomer = z
  .looseObject({ id: optId, email: str, phone: str })
  .nullish()
  .transform((c) => ({ id: c?.id, email: normalizeEmail(c?.email) }));

export const customersRedactSchema = z
  .looseObject({
    shop_domain: str,
    customer: redactCustomer,
    orders_to_redact: z.array(id).nullish(),
  })
  .transform((r) => ({
    shopDomain: r.shop_domain,
    customer: r.customer,
    orderIds: r.orders_to_redact ?? [],
  }));

export const dataRequestSchema = z
  .looseObject({
    shop_domain: str,
    customer: redactCustomer,
    orders_requested: z.array(id).nullish(),
    data_request: z.looseObject({ id }).nullish(),
  })
  .transform((r) => ({
    shopDomain: r.shop_domain,
    customer: r.customer,
    orderIds: r.orders_requested ?? [],
    requestId: r.data_request?.id,
  }));

export const shopRedactSchema = z
  .looseObject({ shop_domain: str })
  .transform((r) => ({ shopDomain: r.shop_domain }));

export const appUninstalledSchema = z.unknown().transform(() => ({}));

const SCHEMAS = {
  'orders/paid': orderSchema,
  'orders/cancelled': orderSchema,
  'refunds/create': refundSchema,
  'customers/create': customerSchema,
  'customers/update': customerSchema,
  'customers/redact': customersRedactSchema,
  'customers/data_request': dataRequestSchema,
  'shop/redact': shopRedactSchema,
  'app/uninstalled': appUninstalledSchema,
} as const;

export type HandledTopic = keyof typeof SCHEMAS;

// The web process accepts exactly the topics the worker can read: HANDLED_TOPICS (src/queue/jobs.ts) and
// these schemas must name the same set, which this check makes a type error to break.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
const _sameTopics: Same<HandledTopic, (typeof HANDLED_TOPICS)[number]> = true;
void _sameTopics;
export type PayloadOf<T extends HandledTopic> = z.output<(typeof SCHEMAS)[T]>;

export type ParsedPayload = { [T in HandledTopic]: { topic: T; data: PayloadOf<T> } }[HandledTopic];

export type ParseResult = ({ ok: true } & ParsedPayload) | { ok: false; error: string };

export function isHandledTopic(topic: string): topic is HandledTopic {
  return Object.hasOwn(SCHEMAS, topic);
}

/** Validates a webhook body for its topic; a refusal says, in plain words, what is wrong and where. */
export function parsePayload(topic: string, payload: unknown): ParseResult {
  if (!isHandledTopic(topic)) return { ok: false, error: `topic ${topic} is not handled` };
  const res = SCHEMAS[topic].safeParse(payload);
  if (!res.success) {
    const first = res.error.issues.slice(0, 3).map((i) => {
      const where = i.path.length ? i.path.join('.') : 'body';
      return `${where}: ${i.message}`;
    });
    return { ok: false, error: `invalid ${topic} payload (${first.join('; ')})` };
  }
  return { ok: true, topic, data: res.data } as ParseResult;
}

/** An ISO 8601 time as ms since the epoch; undefined when absent or unreadable. */
export function timeMs(v: string | null | undefined): number | undefined {
  if (typeof v !== 'string' || v.trim() === '') return undefined;
  const ms = Date.parse(v.trim());
  return Number.isFinite(ms) ? ms : undefined;
}

/** The matching key of an email: trimmed, lower-case; undefined when there is none or it has no '@'. */
export function normalizeEmail(email: string | null | undefined): string | undefined {
  if (typeof email !== 'string') return undefined;
  const e = email.trim().toLowerCase();
  return e.includes('@') ? e : undefined;
}
