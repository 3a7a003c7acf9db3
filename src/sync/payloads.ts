import { z } from 'zod';
import type { HANDLED_TOPICS } from '../queue/jobs.js';
import {
  exponentOf,
  lineItemSchema,
  lineItemTotals,
  MoneyReader,
  moneySetSchema,
  refundAmountsOf,
  refundMoneySchema,
  shippingLineSchema,
  shippingTotal,
} from './order-money.js';
import type { OrderSnapshot } from './points.js';

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

export const refundSchema = z
  .preprocess(
    preferGid,
    z.object({
      ...refundMoneySchema.shape,
      id,
      order_id: optId,
      created_at: str,
    }),
  )
  .transform((r, ctx) => {
    const amounts = refundAmountsOf(r);
    if (amounts.error) {
      ctx.addIssue({ code: 'custom', message: amounts.error, path: ['refund_line_items'] });
      return z.NEVER;
    }
    const { error: _e, ...parts } = amounts;
    return {
      id: r.id,
      orderId: r.order_id,
      createdAt: r.created_at,
      /** Σ refunded line-item subtotals, in minor units of the shop currency. */
      subtotalCents: parts.lines,
      /** The refund's parts (lines, their tax, gift-card lines, shipping) in shop money. */
      amounts: parts,
    };
  });
export type RefundPayload = z.output<typeof refundSchema>;

const orderCustomer = z
  .preprocess(
    preferGid,
    z
      .object({
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
    z.object({
      id,
      name: str,
      email: str,
      contact_email: str,
      customer: orderCustomer,
      currency: str,
      current_subtotal_price: z.unknown().optional(),
      current_subtotal_price_set: moneySetSchema,
      subtotal_price: z.unknown().optional(),
      subtotal_price_set: moneySetSchema,
      taxes_included: z.boolean().nullish(),
      line_items: z.array(lineItemSchema).nullish(),
      shipping_lines: z.array(shippingLineSchema).nullish(),
      test: z.boolean().nullish(),
      cancelled_at: str,
      financial_status: str,
      processed_at: str,
      created_at: str,
      updated_at: str,
      refunds: z.array(refundSchema).nullish(),
    }),
  )
  .transform((o, ctx) => {
    const exp = exponentOf([o.current_subtotal_price_set, o.subtotal_price_set], o.currency);
    const m = new MoneyReader(exp);
    const subtotal =
      m.optional(o.current_subtotal_price_set, o.current_subtotal_price, 'current_subtotal_price') ??
      m.optional(o.subtotal_price_set, o.subtotal_price, 'subtotal_price');
    const refunds = o.refunds ?? [];
    const updatedAtMs = timeMs(o.updated_at);
    let snapshot: OrderSnapshot | undefined;
    if (subtotal !== undefined) {
      if (subtotal < 0) m.error ??= 'current_subtotal_price must not be negative';
      snapshot = {
        at: updatedAtMs ?? 0,
        exp,
        subtotal,
        ...lineItemTotals(o.line_items ?? [], m),
        shipping: shippingTotal(o.shipping_lines ?? [], m),
        taxesIncluded: o.taxes_included === true,
        refundIds: [...new Set(refunds.map((r) => r.id))],
      };
    }
    if (m.error) {
      ctx.addIssue({ code: 'custom', message: m.error });
      return z.NEVER;
    }
    return {
      id: o.id,
      name: o.name,
      email: normalizeEmail(o.customer?.email ?? o.email ?? o.contact_email),
      customer: o.customer,
      /** The subtotal as it stands in this payload (after edits and any refunds it lists), minor units. */
      currentSubtotalCents: subtotal,
      /** Exponent of the shop currency the amounts are in. */
      exp,
      /** The order as this payload shows it (undefined when it carries no subtotal). */
      snapshot,
      test: o.test === true,
      cancelledAt: o.cancelled_at,
      financialStatus: o.financial_status,
      updatedAtMs,
      paidAt: o.processed_at ?? o.created_at ?? o.updated_at,
      refunds,
    };
  });
export type OrderPayload = z.output<typeof orderSchema>;

/**
 * orders/edited carries an `order_edit` summary — which line items were added or removed and by how many —
 * not the order: no subtotal, no money at all. Shopify sends orders/updated with the whole order after
 * every edit, and that snapshot is what moves the points (see the processor).
 */
const editChange = z.object({ id: optId, delta: z.number().nullish() });
const editChanges = z
  .object({ additions: z.array(editChange).nullish(), removals: z.array(editChange).nullish() })
  .nullish();
const orderEditSchema = z
  .object({
    order_edit: z.preprocess(
      preferGid,
      z.object({ id, order_id: id, created_at: str, line_items: editChanges }),
    ),
  })
  .transform((e) => ({
    editId: e.order_edit.id,
    orderId: e.order_edit.order_id,
    createdAt: e.order_edit.created_at,
    linesAdded: e.order_edit.line_items?.additions?.length ?? 0,
    linesRemoved: e.order_edit.line_items?.removals?.length ?? 0,
  }));
export type OrderEditPayload = z.output<typeof orderEditSchema>;

const customerSchema = z
  .preprocess(
    preferGid,
    z.object({
      id,
      email: str,
      phone: str,
      first_name: str,
      last_name: str,
      updated_at: str,
      default_address: z.object({ phone: str }).nullish(),
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
  .object({ id: optId, email: str, phone: str })
  .nullish()
  .transform((c) => ({ id: c?.id, email: normalizeEmail(c?.email) }));

const customersRedactSchema = z
  .object({
    shop_domain: str,
    customer: redactCustomer,
    orders_to_redact: z.array(id).nullish(),
  })
  .transform((r) => ({
    shopDomain: r.shop_domain,
    customer: r.customer,
    orderIds: r.orders_to_redact ?? [],
  }));

const dataRequestSchema = z
  .object({
    shop_domain: str,
    customer: redactCustomer,
    orders_requested: z.array(id).nullish(),
    data_request: z.object({ id }).nullish(),
  })
  .transform((r) => ({
    shopDomain: r.shop_domain,
    customer: r.customer,
    orderIds: r.orders_requested ?? [],
    requestId: r.data_request?.id,
  }));

const shopRedactSchema = z.object({ shop_domain: str }).transform((r) => ({ shopDomain: r.shop_domain }));

const appUninstalledSchema = z.unknown().transform(() => ({}));

const SCHEMAS = {
  'orders/paid': orderSchema,
  'orders/updated': orderSchema,
  'orders/edited': orderEditSchema,
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
type PayloadOf<T extends HandledTopic> = z.output<(typeof SCHEMAS)[T]>;

export type ParsedPayload = { [T in HandledTopic]: { topic: T; data: PayloadOf<T> } }[HandledTopic];

export type ParseResult = ({ ok: true } & ParsedPayload) | { ok: false; error: string };

function isHandledTopic(topic: string): topic is HandledTopic {
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
