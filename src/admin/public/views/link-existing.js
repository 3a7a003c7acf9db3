// @ts-check
// Link existing customers (with its progress: "35 of 49 linked") and the catch-up from Shopify.

import { api } from '../lib/api.js';
import { fill, h, num, showError, time, toast } from '../lib/dom.js';

const STATE_WORDS = /** @type {Record<string, string>} */ ({
  done: 'Finished',
  failed: 'Stopped',
  queued: 'Waiting to start',
  running: 'Running',
});

/** @param {any} p */
function progressOf(p) {
  if (!p || p.state === 'idle') return [h('p', { class: 'muted' }, 'Not run yet.')];
  const pct = p.total ? Math.min(100, Math.round((100 * p.done) / p.total)) : undefined;
  const running = p.state === 'queued' || p.state === 'running';
  return [
    h(
      'div',
      {
        class: 'progress',
        role: 'progressbar',
        'aria-valuemin': 0,
        'aria-valuemax': 100,
        'aria-valuenow': pct ?? 0,
      },
      h('div', { class: 'progress-bar', style: `width:${pct ?? (running ? 5 : 100)}%` }),
    ),
    h(
      'p',
      { class: 'link-summary' },
      `${STATE_WORDS[p.state] ?? p.state}: ${num(p.linked + p.created)}${p.total ? ` of ${num(p.total)}` : ''} linked`,
    ),
    h(
      'p',
      { class: 'muted' },
      `${num(p.done)} looked at · ${num(p.created)} created in IT Retail · ${num(p.skipped)} without email · ${num(p.failed)} failed`,
    ),
    p.error ? h('s-banner', { tone: 'critical' }, p.error) : null,
  ];
}

/**
 * @param {import('./context.js').AppContext} ctx
 * @returns {import('./context.js').View}
 */
export function createLinkExisting(ctx) {
  const error = h('div', { class: 'section-error', role: 'alert' });
  const start = h('s-button', { variant: 'primary', class: 'link-start' }, 'Start');
  const progress = h('div', { class: 'link-progress' }, h('p', { class: 'muted' }, 'Loading…'));
  const catchUpError = h('div', { class: 'section-error', role: 'alert' });
  const catchUpStart = h('s-button', { class: 'catch-up-start' }, 'Run catch-up now');
  const catchUp = h('div', { class: 'catch-up-status' });
  const el = h(
    'section',
    { class: 'view', id: 'link-existing', 'aria-label': 'Link existing customers' },
    error,
    h(
      'p',
      {},
      'Finds every existing Shopify customer in IT Retail by email, and creates the ones that are missing. It runs in the background and picks up where it left off after a restart.',
    ),
    h('div', { class: 'toolbar' }, start),
    progress,
    h('h3', { class: 'subhead' }, 'Catch-up from Shopify'),
    catchUpError,
    h(
      'p',
      {},
      'Shopify does not guarantee that every webhook arrives. Every 15 minutes the app reads back the orders changed since it last looked and puts right any points a lost webhook left wrong; each one it fixes shows under Activity as recovered by catch-up.',
    ),
    h('div', { class: 'toolbar' }, catchUpStart),
    catchUp,
  );
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let linkTimer;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let catchUpTimer;

  /** @param {any} p */
  function renderLink(p) {
    const running = p?.state === 'queued' || p?.state === 'running';
    start.toggleAttribute('disabled', running);
    fill(progress, progressOf(p));
    clearTimeout(linkTimer);
    if (running) linkTimer = setTimeout(() => loadLink(), 2000);
    if (p?.state === 'done') ctx.changed('overview');
  }

  /** @param {any} c */
  function renderCatchUp(c) {
    catchUpStart.toggleAttribute('disabled', Boolean(c?.running));
    const last = c?.lastRunAt
      ? [
          'Last catch-up ',
          time(c.lastRunAt),
          `: ${num(c.ordersSeen)} orders read, ${num(c.ordersRecovered)} recovered.`,
        ]
      : ['No catch-up has run yet.'];
    fill(
      catchUp,
      h('p', {}, last, c?.running ? ' A catch-up is running…' : ''),
      c?.error ? h('s-banner', { tone: 'critical' }, c.error) : null,
    );
    clearTimeout(catchUpTimer);
    if (c?.running) catchUpTimer = setTimeout(() => loadCatchUp(), 2000);
  }

  async function loadLink() {
    try {
      renderLink(await api('/api/link-existing'));
      fill(error);
    } catch (err) {
      showError(error, err);
    }
  }
  async function loadCatchUp() {
    try {
      renderCatchUp((await api('/api/status')).catchUp);
      fill(catchUpError);
    } catch (err) {
      showError(catchUpError, err);
    }
  }

  start.addEventListener('click', async () => {
    try {
      renderLink(await api('/api/link-existing', { method: 'POST' }));
      toast('Linking started');
    } catch (err) {
      showError(error, err);
    }
  });
  catchUpStart.addEventListener('click', async () => {
    try {
      renderCatchUp((await api('/api/catch-up', { method: 'POST' })).catchUp);
      toast('Catch-up started');
    } catch (err) {
      showError(catchUpError, err);
    }
  });

  return {
    id: 'link-existing',
    title: 'Link existing customers',
    el,
    load: () => Promise.all([loadLink(), loadCatchUp()]),
  };
}
