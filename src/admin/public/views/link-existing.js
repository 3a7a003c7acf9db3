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

/** @param {any} c the catch-up status */
function catchUpOf(c) {
  const last = c?.lastRunAt
    ? [
        'Last catch-up ',
        time(c.lastRunAt),
        `: ${num(c.ordersSeen)} orders read, ${num(c.ordersRecovered)} recovered.`,
      ]
    : ['No catch-up has run yet.'];
  return [
    h('p', {}, last, c?.running ? ' A catch-up is running…' : ''),
    c?.error ? h('s-banner', { tone: 'critical' }, c.error) : null,
  ];
}

/**
 * One part of the section (linking, or the catch-up): its button, its status, reloaded every 2 s while it
 * runs. `read` answers the status, `start` starts it and answers the status.
 * @param {{button: HTMLElement, box: HTMLElement, error: HTMLElement, read: () => Promise<any>, start: () => Promise<any>,
 *   running: (s: any) => boolean, render: (s: any) => import('../lib/dom.js').Child, started: string, onDone?: (s: any) => void}} o
 */
function poller(o) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  /** @param {any} s */
  const show = (s) => {
    o.button.toggleAttribute('disabled', o.running(s));
    fill(o.box, o.render(s));
    clearTimeout(timer);
    if (o.running(s)) timer = setTimeout(() => load(), 2000);
    o.onDone?.(s);
  };
  const load = async () => {
    try {
      show(await o.read());
      fill(o.error);
    } catch (err) {
      showError(o.error, err);
    }
  };
  o.button.addEventListener('click', async () => {
    try {
      show(await o.start());
      toast(o.started);
    } catch (err) {
      showError(o.error, err);
    }
  });
  return load;
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
  const loadLink = poller({
    button: start,
    box: progress,
    error,
    read: () => api('/api/link-existing'),
    start: () => api('/api/link-existing', { method: 'POST' }),
    running: (p) => p?.state === 'queued' || p?.state === 'running',
    render: progressOf,
    started: 'Linking started',
    onDone: (p) => p?.state === 'done' && ctx.changed('overview'),
  });
  const loadCatchUp = poller({
    button: catchUpStart,
    box: catchUp,
    error: catchUpError,
    read: async () => (await api('/api/status')).catchUp,
    start: async () => (await api('/api/catch-up', { method: 'POST' })).catchUp,
    running: (c) => Boolean(c?.running),
    render: catchUpOf,
    started: 'Catch-up started',
  });

  return {
    id: 'link-existing',
    title: 'Link existing customers',
    el,
    load: () => Promise.all([loadLink(), loadCatchUp()]),
  };
}
