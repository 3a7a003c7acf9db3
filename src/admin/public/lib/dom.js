// @ts-check
// DOM helpers of the embedded page: an element builder that never parses HTML, and the formatting every
// section shares (one time zone everywhere: the merchant's own, via Intl, with UTC in the tooltip).

/**
 * @typedef {string | number | Node | null | undefined | false} Leaf
 * @typedef {Leaf | Leaf[] | (Leaf | Leaf[])[]} Child
 * @typedef {Record<string, string | number | boolean | null | undefined | ((ev: any) => void)>} Attrs
 */

/**
 * Element builder: h('td', {class: 'x'}, 'text', child). Text is always set as text, never as HTML;
 * `on<event>` attributes become listeners; null, undefined and false children and attributes are left out.
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {...Child} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  el.append(...nodes(children));
  return el;
}

/**
 * Children as nodes, the empty ones left out (replaceChildren(null) would show the text "null").
 * @param {Child[]} children
 * @returns {Node[]}
 */
export function nodes(children) {
  /** @type {Node[]} */
  const out = [];
  for (const c of /** @type {any[]} */ (children).flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    out.push(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return out;
}

/**
 * Replaces an element's children, leaving out the empty ones.
 * @param {Element} el
 * @param {...Child} children
 */
export function fill(el, ...children) {
  el.replaceChildren(...nodes(children));
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const timeOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const numbers = new Intl.NumberFormat();

/** The merchant's time zone, as Intl knows it (shown once, beside the times). */
export const TIME_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/**
 * A point in time in the merchant's time zone, with UTC in the tooltip.
 * @param {string | undefined | null} iso
 * @returns {HTMLElement | string}
 */
export function time(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return h(
    'time',
    { datetime: d.toISOString(), title: `${d.toISOString().replace('T', ' ').slice(0, 16)} UTC` },
    dateTime.format(d),
  );
}

/** @param {string} iso */
export function hourLabel(iso) {
  return timeOnly.format(new Date(iso));
}

/** @param {number | undefined | null} n */
export function num(n) {
  return typeof n === 'number' ? numbers.format(n) : '—';
}

/** Points as a merchant reads them: "1,250 pts". @param {number | undefined | null} n */
export function pts(n) {
  return typeof n === 'number' ? `${numbers.format(n)} pts` : '—';
}

/** A signed points change: "+50 pts", "−20 pts". @param {number | undefined | null} n */
export function signedPts(n) {
  if (typeof n !== 'number') return '';
  if (n > 0) return `+${numbers.format(n)} pts`;
  if (n < 0) return `−${numbers.format(-n)} pts`;
  return '0 pts';
}

/** @param {string} message */
export function toast(message) {
  try {
    window.shopify?.toast?.show(message);
  } catch {
    /* toast is a nicety */
  }
}

/**
 * A critical banner in the section's error box.
 * @param {Element} box
 * @param {unknown} err
 */
export function showError(box, err) {
  fill(box, h('s-banner', { tone: 'critical' }, err instanceof Error ? err.message : String(err)));
}

export const TOPIC_WORDS = /** @type {Record<string, string>} */ ({
  'orders/paid': 'Order paid',
  'orders/updated': 'Order updated',
  'orders/edited': 'Order edited',
  'orders/cancelled': 'Order cancelled',
  'refunds/create': 'Refund',
  'customers/create': 'Customer created',
  'customers/update': 'Customer updated',
  'app/uninstalled': 'App uninstalled',
  'customers/redact': 'Customer data erased',
  'shop/redact': 'Shop data erased',
  'customers/data_request': 'Customer data request',
  'admin/resync-customer': 'Resync',
  'admin/link-existing': 'Link existing',
  'catch-up/orders/paid': 'Order paid (catch-up)',
  'catch-up/orders/cancelled': 'Order cancelled (catch-up)',
  'catch-up/orders': 'Catch-up',
});

/** @param {string} t */
export const topicWords = (t) => TOPIC_WORDS[t] ?? t;
