// @ts-check
// Activity: what the sync did, newest first; filtered by status and kind, searched by order, customer, card.

import { api } from '../lib/api.js';
import { fill, h, pts, showError, signedPts, TOPIC_WORDS, time, topicWords } from '../lib/dom.js';
import { appendRows, table } from '../lib/table.js';
import { subjectOf } from './failures.js';

const COLUMNS = [
  { label: 'When' },
  { label: 'Status' },
  { label: 'What' },
  { label: 'Customer' },
  { label: 'Points', numeric: true },
  { label: 'Details' },
];

const TONES = /** @type {Record<string, string>} */ ({
  applied: 'success',
  skipped: 'neutral',
  failed: 'critical',
});

/** @param {any} e */
function customerOf(e) {
  const parts = [];
  if (e.customerName) parts.push(e.customerName);
  if (e.cardNo) parts.push(`card ${e.cardNo}`);
  return parts.join(' · ') || '—';
}

/** @param {any} e */
function rowOf(e) {
  return {
    attrs: { class: `status-${e.status}`, 'data-topic': e.topic },
    cells: [
      time(e.at),
      h('s-badge', { tone: TONES[e.status] ?? 'info' }, e.status),
      [subjectOf(e), h('div', { class: 'muted' }, topicWords(e.topic))],
      customerOf(e),
      [
        typeof e.pointsDelta === 'number' ? signedPts(e.pointsDelta) : '',
        typeof e.pointsAfter === 'number'
          ? h('div', { class: 'muted' }, `balance ${pts(e.pointsAfter)}`)
          : null,
      ],
      e.error ?? e.reason ?? '',
    ],
  };
}

/** @param {string} label @param {string} name @param {[string, string][]} options */
function select(label, name, options) {
  return h(
    's-select',
    { label, name },
    options.map(([value, text]) => h('s-option', { value }, text)),
  );
}

/**
 * @param {import('./context.js').AppContext} _ctx
 * @returns {import('./context.js').View}
 */
export function createActivity(_ctx) {
  const error = h('div', { class: 'section-error', role: 'alert' });
  const status = select('Status', 'status', [
    ['', 'All'],
    ['applied', 'Applied'],
    ['skipped', 'Skipped'],
    ['failed', 'Failed'],
  ]);
  const topic = select('Kind', 'topic', [
    ['', 'All'],
    ...Object.entries(TOPIC_WORDS).filter(
      ([t]) => !['app/uninstalled', 'shop/redact', 'catch-up/orders'].includes(t),
    ),
  ]);
  const search = h('s-search-field', { label: 'Search', name: 'q', placeholder: 'Order, customer or card' });
  const form = h('form', { class: 'filters', role: 'search' }, search, status, topic);
  const box = h('div', { class: 'activity-table' }, h('p', { class: 'muted' }, 'Loading…'));
  const more = h('s-button', { class: 'more', hidden: true }, 'Show more');
  const el = h(
    'section',
    { class: 'view', id: 'activity', 'aria-label': 'Activity' },
    error,
    form,
    box,
    h('div', { class: 'pager' }, more),
  );
  const state = { cursor: /** @type {string | undefined} */ (undefined), paged: false };
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let typing;

  /** @param {boolean} [append] */
  async function load(append = false) {
    state.paged = append;
    const qs = new URLSearchParams({ limit: '50' });
    for (const f of [status, topic, search]) {
      const v = /** @type {any} */ (f).value?.trim?.();
      if (v) qs.set(/** @type {string} */ (f.getAttribute('name')), v);
    }
    if (append && state.cursor) qs.set('cursor', state.cursor);
    try {
      const r = await api(`/api/events?${qs}`);
      fill(error);
      state.cursor = r.nextCursor;
      more.hidden = !r.nextCursor;
      const body = box.querySelector('s-table-body');
      if (append && body) appendRows(body, COLUMNS, r.events.map(rowOf));
      else
        fill(
          box,
          table(COLUMNS, r.events.map(rowOf), {
            empty:
              qs.has('q') || qs.has('status') || qs.has('topic') ? 'Nothing matches.' : 'Nothing here yet.',
          }),
        );
    } catch (err) {
      showError(error, err);
    }
  }

  form.addEventListener('change', (ev) => {
    if (!search.contains(/** @type {Node} */ (ev.target))) load();
  });
  form.addEventListener('input', (ev) => {
    if (!search.contains(/** @type {Node} */ (ev.target))) return;
    clearTimeout(typing);
    typing = setTimeout(() => load(), 300);
  });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    load();
  });
  more.addEventListener('click', () => load(true));

  return { id: 'activity', title: 'Activity', el, load: () => load(false), busy: () => state.paged };
}
