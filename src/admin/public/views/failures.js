// @ts-check
// Failures: the points changes that need a decision first, then the failed events grouped by cause, each
// cause with what to do; Retry where running again can help, Dismiss where it cannot.

import { api } from '../lib/api.js';
import { fill, h, num, pts, showError, time, toast, topicWords } from '../lib/dom.js';
import { table } from '../lib/table.js';

/** "Order #1001" or the customer by name: what a merchant recognises. @param {any} e */
export function subjectOf(e) {
  if (e.orderName) return `Order ${e.orderName}`;
  if (e.shopifyOrderId) return `Order ${e.shopifyOrderId}`;
  if (e.customerName) return e.customerName;
  return topicWords(e.topic);
}

const COLUMNS = [{ label: 'When' }, { label: 'What' }, { label: 'Tries', numeric: true }, { label: '' }];

/** The section's elements. */
function parts() {
  const p = {
    error: h('div', { class: 'section-error', role: 'alert' }),
    uncertain: h('div', { class: 'uncertain-writes' }),
    retryAll: h('s-button', { class: 'retry-all', variant: 'primary', hidden: true }, 'Retry all'),
    summary: h('span', { class: 'muted failures-total' }),
    groups: h('div', { class: 'failure-groups' }, h('p', { class: 'muted' }, 'Loading…')),
    more: h('s-button', { class: 'more', hidden: true }, 'Show more'),
  };
  const el = h(
    'section',
    { class: 'view', id: 'failures', 'aria-label': 'Failures' },
    p.error,
    p.uncertain,
    h('div', { class: 'toolbar' }, p.retryAll, p.summary),
    p.groups,
    h('div', { class: 'pager' }, p.more),
  );
  return { ...p, el };
}

/** @typedef {ReturnType<typeof parts>} Parts */

/**
 * Presses a Retry or Dismiss: the row then says what happened, and the page follows the queue.
 * @param {import('./context.js').AppContext} ctx @param {Parts} p
 * @param {HTMLElement} btn @param {string} path @param {string} done
 */
async function act(ctx, p, btn, path, done) {
  btn.setAttribute('loading', '');
  btn.setAttribute('disabled', '');
  try {
    await api(path, { method: 'POST' });
    toast(done);
    fill(/** @type {Element} */ (btn.parentElement), h('span', { class: 'muted acted' }, done));
    ctx.changed('overview');
    ctx.follow();
  } catch (err) {
    showError(p.error, err);
    btn.removeAttribute('loading');
    btn.removeAttribute('disabled');
  }
}

/** Retry where it can help, Dismiss where it cannot, else why not. @param {import('./context.js').AppContext} ctx @param {Parts} p @param {any} f */
function actionOf(ctx, p, f) {
  const path = (/** @type {string} */ verb) => `/api/failures/${encodeURIComponent(f.jobId)}/${verb}`;
  if (f.retryable) {
    const b = h('s-button', { class: 'retry', 'data-job-id': f.jobId }, 'Retry');
    b.addEventListener('click', () => act(ctx, p, b, path('retry'), 'Retrying…'));
    return b;
  }
  if (f.dismissable) {
    const b = h('s-button', { class: 'dismiss', 'data-job-id': f.jobId, variant: 'tertiary' }, 'Dismiss');
    b.addEventListener('click', () => act(ctx, p, b, path('dismiss'), 'Dismissed.'));
    return [h('div', { class: 'muted' }, f.retryNote ?? ''), b];
  }
  return h('span', { class: 'muted' }, f.retryNote ?? '');
}

/** The failures grouped by cause, each cause with what to do. @param {import('./context.js').AppContext} ctx @param {Parts} p @param {any[]} all */
function renderGroups(ctx, p, all) {
  /** @type {Map<string, any[]>} */
  const byCause = new Map();
  for (const f of all) {
    const key = f.errorCode ?? 'OTHER';
    byCause.set(key, [...(byCause.get(key) ?? []), f]);
  }
  if (!all.length) return fill(p.groups, h('p', { class: 'empty' }, 'No failures.'));
  fill(
    p.groups,
    [...byCause.entries()].map(([code, list]) =>
      h(
        's-box',
        {
          class: 'failure-group',
          'data-cause': code,
          padding: 'base',
          border: 'base',
          'border-radius': 'base',
        },
        h(
          'div',
          { class: 'group-head' },
          h('strong', {}, list[0].error ?? 'Failed'),
          h('s-badge', {}, `${list.length}`),
        ),
        list[0].fix ? h('p', { class: 'muted' }, list[0].fix) : null,
        table(
          COLUMNS,
          list.map((f) => ({
            attrs: { 'data-job-id': f.jobId },
            cells: [
              time(f.at),
              [
                subjectOf(f),
                h('div', { class: 'muted' }, [
                  topicWords(f.topic),
                  f.customerName ? ` · ${f.customerName}` : '',
                ]),
              ],
              num(f.attempts),
              actionOf(ctx, p, f),
            ],
          })),
        ),
      ),
    ),
  );
}

/**
 * One points change IT Retail may or may not have applied: both readings and the two decisions.
 * @param {import('./context.js').AppContext} ctx @param {Parts} p @param {any} w
 */
function uncertainCard(ctx, p, w) {
  const landed = h('s-button', { class: 'decide-landed' }, 'It landed');
  const apply = h('s-button', { class: 'decide-apply', variant: 'primary' }, 'Apply it');
  const card = h(
    's-box',
    {
      class: 'uncertain-write',
      'data-write-id': w.writeId,
      padding: 'base',
      border: 'base',
      'border-radius': 'base',
    },
    h('div', { class: 'uncertain-what' }, h('strong', {}, w.what), ' · ', time(w.at)),
    h(
      'div',
      { class: 'muted' },
      `Before the change: ${pts(w.pointsBefore)}. Written: ${pts(w.pointsWritten)}. IT Retail then showed ${pts(w.pointsSeen)} (${w.why}).`,
    ),
    h('ul', { class: 'readings' }, h('li', {}, w.readings.landed), h('li', {}, w.readings.apply)),
    h('div', { class: 'toolbar' }, landed, apply),
  );
  /** @param {'landed' | 'apply'} decision @param {HTMLElement} btn */
  const decide = async (decision, btn) => {
    for (const b of [landed, apply]) b.setAttribute('disabled', '');
    btn.setAttribute('loading', '');
    try {
      await api(`/api/uncertain-writes/${encodeURIComponent(w.itrCustomerId)}/decide`, {
        method: 'POST',
        body: { writeId: w.writeId, decision },
      });
      toast(decision === 'landed' ? 'Marked as applied' : 'Applying it');
      fill(
        card,
        h(
          'div',
          { class: 'muted decided' },
          decision === 'landed' ? `${w.what}: marked as applied.` : `${w.what}: being applied.`,
        ),
      );
      ctx.changed('overview');
      ctx.follow();
    } catch (err) {
      showError(p.error, err);
      loadUncertain(ctx, p).catch(() => undefined);
    }
  };
  landed.addEventListener('click', () => decide('landed', landed));
  apply.addEventListener('click', () => decide('apply', apply));
  return card;
}

/** @param {import('./context.js').AppContext} ctx @param {Parts} p */
async function loadUncertain(ctx, p) {
  const r = await api('/api/uncertain-writes');
  if (!r.writes.length) return fill(p.uncertain);
  fill(
    p.uncertain,
    h(
      's-banner',
      { tone: 'warning' },
      h(
        'strong',
        {},
        `${r.total} ${r.total === 1 ? 'change to points needs' : 'changes to points need'} your decision`,
      ),
      h(
        'div',
        {},
        'IT Retail did not say whether these changes were applied, and its record cannot tell. Nothing more is written to these customers until you decide.',
      ),
    ),
    r.writes.map((/** @type {any} */ w) => uncertainCard(ctx, p, w)),
  );
}

/**
 * @param {import('./context.js').AppContext} ctx
 * @returns {import('./context.js').View}
 */
export function createFailures(ctx) {
  const p = parts();
  const state = {
    cursor: /** @type {string | undefined} */ (undefined),
    paged: false,
    all: /** @type {any[]} */ ([]),
  };

  /** @param {boolean} [append] */
  async function load(append = false) {
    state.paged = append;
    try {
      const qs = new URLSearchParams({ limit: '50' });
      if (append && state.cursor) qs.set('cursor', state.cursor);
      const [r] = await Promise.all([api(`/api/failures?${qs}`), append ? undefined : loadUncertain(ctx, p)]);
      fill(p.error);
      state.all = append ? [...state.all, ...r.failures] : r.failures;
      state.cursor = r.nextCursor;
      p.more.hidden = !r.nextCursor;
      const retryable = state.all.filter((f) => f.retryable).length;
      p.retryAll.hidden = retryable === 0;
      fill(p.retryAll, `Retry all${retryable ? ` (${retryable})` : ''}`);
      fill(
        p.summary,
        r.total ? `${num(r.total)} failed` : '',
        r.dismissed ? ` · ${num(r.dismissed)} dismissed` : '',
      );
      renderGroups(ctx, p, state.all);
    } catch (err) {
      showError(p.error, err);
    }
  }

  p.retryAll.addEventListener('click', async () => {
    try {
      const r = await api('/api/failures/retry-all', { method: 'POST' });
      toast(`Retrying ${r.retried}`);
      fill(p.summary, `Retrying ${r.retried}${r.gone ? ` (${r.gone} could not be retried)` : ''}…`);
      ctx.changed('overview');
      ctx.follow();
    } catch (err) {
      showError(p.error, err);
    }
  });
  p.more.addEventListener('click', () => load(true));

  return { id: 'failures', title: 'Failures', el: p.el, load: () => load(false), busy: () => state.paged };
}
