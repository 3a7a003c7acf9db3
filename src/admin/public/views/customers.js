// @ts-check
// Customer lookup: the IT Retail record and live balance, the points of each online order, what the
// storefront shows and the in-store purchases (when that part of the app is there), and Resync — which for
// an email the app has never seen first says that it will create an IT Retail customer.

import { ApiError, api, apiIfPresent } from '../lib/api.js';
import { fill, h, num, pts, showError, signedPts, time, toast, topicWords } from '../lib/dom.js';
import { table } from '../lib/table.js';

const money = (/** @type {number} */ n, /** @type {string} */ currency) => {
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(n);
  } catch {
    return `${n} ${currency}`;
  }
};

/** @param {any} r the lookup */
function recordOf(r) {
  if (!r.itretail)
    return h('p', { class: 'muted' }, r.itretailMessage ?? 'Not linked to an IT Retail customer yet.');
  const c = r.itretail;
  return h(
    's-box',
    { class: 'customer-card', padding: 'base', border: 'base', 'border-radius': 'base' },
    h('div', { class: 'card-value' }, c.name || r.email),
    h('div', {}, [c.email ?? r.email, c.cardNo ? ` · card ${c.cardNo}` : '']),
    h('div', { class: 'balance' }, `Balance in IT Retail: ${pts(c.loyaltyPoints ?? 0)}`),
    c.deleted ? h('s-banner', { tone: 'warning' }, 'This IT Retail customer is marked deleted.') : null,
  );
}

/** @param {any[]} orders */
function ordersOf(orders) {
  return h(
    'div',
    { class: 'online-orders' },
    h('h3', { class: 'subhead' }, 'Online orders'),
    orders.length
      ? table(
          [{ label: 'Order' }, { label: 'Points', numeric: true }, { label: 'Last change' }],
          orders.map((o) => ({
            cells: [
              o.orderName ?? o.shopifyOrderId,
              signedPts(o.points),
              [time(o.lastAt), h('div', { class: 'muted' }, topicWords(o.lastTopic))],
            ],
          })),
        )
      : h('p', { class: 'muted' }, 'No orders synced for this customer yet.'),
  );
}

/** What the storefront shows, in-store purchases and redemptions; nothing when that part is not there. @param {any} s */
function storefrontOf(s) {
  if (!s) return { shown: null, inStore: null, redemptions: null };
  const shown = h(
    'p',
    { class: 'storefront-shown' },
    s.metafield
      ? [
          'Shown in Shopify: ',
          h('strong', {}, pts(s.metafield.points)),
          ' (written ',
          time(s.metafield.writtenAt),
          ')',
        ]
      : 'Shown in Shopify: nothing written yet.',
    s.message ? h('div', { class: 'muted' }, s.message) : null,
  );
  const p = s.registerPurchases;
  const inStore = h(
    'div',
    { class: 'in-store' },
    h('h3', { class: 'subhead' }, p ? `In store, last ${p.days} days` : 'In store'),
    p?.items?.length
      ? table(
          [
            { label: 'Date' },
            { label: 'Item' },
            { label: 'Qty', numeric: true },
            { label: 'Amount', numeric: true },
          ],
          p.items.map((/** @type {any} */ i) => ({
            cells: [time(i.date), i.description, num(i.quantity), num(i.amount)],
          })),
        )
      : h('p', { class: 'muted' }, p ? 'No in-store purchases.' : 'In-store purchases could not be read.'),
  );
  const redemptions = s.redemptions?.length
    ? h(
        'div',
        { class: 'redemptions' },
        h('h3', { class: 'subhead' }, 'Redemptions'),
        table(
          [
            { label: 'Created' },
            { label: 'Code' },
            { label: 'Points', numeric: true },
            { label: 'Value', numeric: true },
            { label: 'Status' },
            { label: 'Expires' },
          ],
          s.redemptions.map((/** @type {any} */ r) => ({
            cells: [
              time(r.createdAt),
              r.code,
              pts(r.points),
              money(r.value, r.currency),
              h('s-badge', {}, r.status),
              time(r.expiresAt),
            ],
          })),
        ),
      )
    : null;
  return { shown, inStore, redemptions };
}

/**
 * Resync, or — for an email the app does not know — first the question whether to create an IT Retail
 * customer. `place` holds the button, the question, or "queued".
 * @param {import('./context.js').AppContext} ctx @param {HTMLElement} error
 * @param {string} address @param {boolean} known @param {HTMLElement} place
 */
function resyncButton(ctx, error, address, known, place) {
  /** @param {boolean} confirmCreate */
  const resync = async (confirmCreate) => {
    try {
      const body = { email: address, ...(confirmCreate ? { confirmCreate: true } : {}) };
      await api('/api/customers/resync', { method: 'POST', body });
      toast('Resync queued');
      fill(
        place,
        h('span', { class: 'muted resync-queued' }, 'Resync queued; this updates when it is done.'),
      );
      ctx.follow();
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.body?.needsConfirmCreate)
        return fill(place, ask());
      showError(error, err);
    }
  };
  const ask = () =>
    h(
      's-banner',
      { tone: 'warning', class: 'confirm-create' },
      h(
        'div',
        {},
        `No customer with ${address} is known to the app. Resync will create a new IT Retail customer with this email. Check the spelling first.`,
      ),
      h(
        'div',
        { class: 'toolbar' },
        h(
          's-button',
          { variant: 'primary', class: 'confirm-create-yes', onclick: () => resync(true) },
          'Create IT Retail customer',
        ),
        h(
          's-button',
          {
            class: 'confirm-create-no',
            onclick: () => fill(place, resyncButton(ctx, error, address, known, place)),
          },
          'Cancel',
        ),
      ),
    );
  return h(
    's-button',
    { class: 'resync', onclick: () => (known ? resync(false) : fill(place, ask())) },
    'Resync',
  );
}

/**
 * @param {import('./context.js').AppContext} ctx
 * @returns {import('./context.js').View}
 */
export function createCustomers(ctx) {
  const error = h('div', { class: 'section-error', role: 'alert' });
  const email = h('s-email-field', {
    label: 'Email',
    name: 'email',
    placeholder: 'customer@example.com',
    autocomplete: 'off',
  });
  const submit = h('s-button', { variant: 'primary', type: 'submit', class: 'lookup-submit' }, 'Look up');
  const form = h('form', { class: 'lookup-form toolbar' }, email, submit);
  const out = h('div', { class: 'lookup-result' });
  const el = h(
    'section',
    { class: 'view', id: 'customers', 'aria-label': 'Customer lookup' },
    error,
    form,
    out,
  );
  /** @type {string | undefined} */
  let current;

  async function lookup() {
    const address = String(/** @type {any} */ (email).value ?? '').trim();
    if (!address) return showError(error, new Error('Enter an email address.'));
    current = address;
    fill(out, h('p', { class: 'muted' }, 'Looking up…'));
    try {
      const q = encodeURIComponent(address);
      const [r, s] = await Promise.all([
        api(`/api/customers?email=${q}`),
        apiIfPresent(`/api/customers/storefront?email=${q}`).catch(() => null),
      ]);
      fill(error);
      const place = h('div', { class: 'toolbar resync-place' });
      fill(place, resyncButton(ctx, error, r.email, r.known, place));
      const sf = storefrontOf(s);
      const dups = r.duplicates?.length
        ? h(
            's-banner',
            { tone: 'warning' },
            `IT Retail has ${r.duplicates.length + 1} customers with this email; the app uses ${r.itretail?.cardNo ? `card ${r.itretail.cardNo}` : 'the first'}.`,
          )
        : null;
      fill(
        out,
        recordOf(r),
        sf.shown,
        dups,
        place,
        h('div', { class: 'purchases' }, ordersOf(r.orders ?? []), sf.inStore),
        sf.redemptions,
      );
    } catch (err) {
      fill(out);
      showError(error, err);
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    lookup();
  });

  return {
    id: 'customers',
    title: 'Customer lookup',
    el,
    load: async () => (current ? lookup() : undefined),
  };
}
