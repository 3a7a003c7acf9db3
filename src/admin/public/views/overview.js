// @ts-check
// Overview: ONE verdict (Working / Needs attention / Not working), the problems most severe first each with
// its action, the setup checklist of a fresh install, the counts, and the last 24 hours per hour.

import { api } from '../lib/api.js';
import { fill, h, hourLabel, num, showError, time, toast } from '../lib/dom.js';

const VERDICT = /** @type {Record<string, {tone: string, title: string}>} */ ({
  working: { tone: 'success', title: 'Working' },
  'needs-attention': { tone: 'warning', title: 'Needs attention' },
  'not-working': { tone: 'critical', title: 'Not working' },
});

const ITR_WORDS = /** @type {Record<string, string>} */ ({
  'not-set-up': 'Not set up',
  ok: 'Connected',
  refused: 'Sign-in refused',
  'not-answering': 'Not answering',
  unsteady: 'Some errors',
});

/**
 * @param {string} title
 * @param {import('../lib/dom.js').Child} value
 * @param {import('../lib/dom.js').Child} detail
 */
function card(title, value, detail) {
  return h(
    's-box',
    { class: 'card', padding: 'base', border: 'base', 'border-radius': 'base' },
    h('div', { class: 'card-title' }, title),
    h('div', { class: 'card-value' }, value),
    h('div', { class: 'card-detail' }, detail),
  );
}

const BAR_COLORS = { applied: '#29845a', skipped: '#b5b5b5', failed: '#c70a24' };

/** @param {{hour: string, applied: number, skipped: number, failed: number}[]} hours */
function chart(hours) {
  const W = 720;
  const H = 160;
  const pad = 24;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H + 20}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Applied, skipped and failed events per hour over the last 24 hours');
  const max = Math.max(1, ...hours.map((x) => x.applied + x.skipped + x.failed));
  const bw = (W - pad * 2) / Math.max(1, hours.length);
  /** @param {string} tag @param {Record<string, string | number>} attrs @param {string} [text] */
  const add = (tag, attrs, text) => {
    const el = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text) el.textContent = text;
    svg.append(el);
    return el;
  };
  hours.forEach((x, i) => {
    let y = H;
    const label = hourLabel(x.hour);
    for (const k of /** @type {const} */ (['applied', 'skipped', 'failed'])) {
      const v = x[k] ?? 0;
      if (!v) continue;
      const hh = ((H - pad) * v) / max;
      y -= hh;
      const r = add('rect', {
        x: pad + i * bw + 1,
        y,
        width: Math.max(1, bw - 2),
        height: hh,
        class: `bar-${k}`,
        fill: BAR_COLORS[k],
      });
      const t = document.createElementNS(ns, 'title');
      t.textContent = `${label}: ${v} ${k}`;
      r.append(t);
    }
    if (i % 4 === 0)
      add('text', { x: pad + i * bw, y: H + 14, class: 'axis', 'font-size': 11, fill: '#616161' }, label);
  });
  return svg;
}

/**
 * The setup steps of a fresh install, each done or with its button.
 * @param {any} o the overview
 * @param {import('./context.js').AppContext} ctx
 */
function checklist(o, ctx) {
  const s = o.setup;
  // A fresh install only: once points have moved, the verdict says what needs doing.
  if (o.lastAppliedAt || (s.credentials && s.connected && s.linked)) return null;
  const steps = [
    { done: s.credentials, text: 'Enter your IT Retail sign-in', go: 'settings', label: 'Open Settings' },
    { done: s.connected, text: 'Test the connection', go: 'settings', label: 'Open Settings' },
    { done: s.linked, text: 'Link your existing customers', go: 'link-existing', label: 'Link customers' },
  ];
  const next = steps.find((x) => !x.done);
  return h(
    's-box',
    { class: 'checklist', padding: 'base', border: 'base', 'border-radius': 'base' },
    h('h3', { class: 'subhead' }, 'Set up'),
    h(
      'ol',
      {},
      steps.map((x) =>
        h(
          'li',
          { class: x.done ? 'done' : x === next ? 'next' : undefined },
          h('span', { class: 'step-mark', 'aria-hidden': 'true' }, x.done ? '✓' : ''),
          x.text,
          x === next
            ? h('s-button', { variant: 'primary', onclick: () => ctx.navigate(x.go) }, x.label)
            : null,
        ),
      ),
      h(
        'li',
        { class: next ? undefined : 'done' },
        h('span', { class: 'step-mark' }, next ? '' : '✓'),
        'Done',
      ),
    ),
  );
}

/** The overview's elements. */
function parts() {
  return {
    error: h('div', { class: 'section-error', role: 'alert' }),
    verdict: h('div', { class: 'verdict', 'aria-live': 'polite' }),
    setup: h('div', { class: 'setup' }),
    cards: h('div', { class: 'cards' }),
    chartBox: h('div', { class: 'chart' }),
  };
}
/** @typedef {ReturnType<typeof parts>} Parts */

/**
 * What a problem's button does: open a section, or retry / resume there and then.
 * @param {import('./context.js').AppContext} ctx @param {Parts} P @param {any} p @param {() => Promise<any>} reload
 */
async function act(ctx, P, p, reload) {
  const a = p.action;
  if (a.kind === 'open') return ctx.navigate(a.section);
  try {
    if (a.kind === 'retry-all') {
      const r = await api('/api/failures/retry-all', { method: 'POST' });
      toast(`Retrying ${r.retried}`);
      ctx.changed('failures');
      ctx.follow();
    } else if (a.kind === 'resume') {
      await api('/api/settings', { method: 'PUT', body: { paused: false } });
      toast('Sync resumed');
      ctx.changed('settings');
      await reload();
    }
  } catch (err) {
    showError(P.error, err);
  }
}

/** The verdict and the problems, most severe first. @param {Parts} P @param {any} o @param {(p: any) => void} onAction */
function renderVerdict(P, o, onAction) {
  const v = VERDICT[o.verdict] ?? VERDICT['not-working'];
  const lead =
    o.verdict === 'working'
      ? o.lastAppliedAt
        ? ['Last points change applied ', time(o.lastAppliedAt), '.']
        : ['No problems found.']
      : [`${o.problems.length} ${o.problems.length === 1 ? 'thing needs' : 'things need'} your attention.`];
  fill(
    P.verdict,
    h(
      's-banner',
      { tone: v.tone, 'data-verdict': o.verdict },
      h('strong', { class: 'verdict-title' }, v.title),
      h('div', {}, lead),
    ),
    o.problems.length
      ? h(
          'ol',
          { class: 'problems' },
          o.problems.map((/** @type {any} */ p) =>
            h(
              'li',
              { class: `problem ${p.severity}`, 'data-code': p.code },
              h(
                's-badge',
                { tone: p.severity === 'critical' ? 'critical' : 'warning' },
                p.severity === 'critical' ? 'Urgent' : 'Attention',
              ),
              h(
                'div',
                { class: 'problem-text' },
                h('strong', { class: 'problem-title' }, p.title),
                h('div', { class: 'problem-fix' }, p.fix),
              ),
              p.action
                ? h('s-button', { class: 'problem-action', onclick: () => onAction(p) }, p.action.label)
                : null,
            ),
          ),
        )
      : null,
  );
}

/** The counts and the chart. @param {Parts} P @param {any} o */
function renderCounts(P, o) {
  const it = o.itretail;
  const q = o.queue;
  const link = o.linkExisting;
  fill(
    P.cards,
    card('IT Retail', ITR_WORDS[it.state] ?? it.state, [
      it.lastOkAt ? ['Last good call ', time(it.lastOkAt)] : 'No successful call yet',
    ]),
    card(
      'Queue',
      `${num(q.waiting + q.active + q.delayed)} pending`,
      `${num(q.delayed)} retrying later · ${num(o.failures)} failed`,
    ),
    card(
      'Customers linked',
      link?.total
        ? `${num(o.customersLinked)} of ${num(Math.max(link.total, o.customersLinked))}`
        : num(o.customersLinked),
      link?.total ? 'Shopify customers linked to IT Retail' : 'matched to an IT Retail customer',
    ),
    card(
      'Points today',
      `+${num(o.pointsToday.awarded)} / −${num(o.pointsToday.deducted)}`,
      'pts awarded / deducted',
    ),
  );
  const any = o.hourly?.some((/** @type {any} */ x) => x.applied + x.skipped + x.failed);
  fill(
    P.chartBox,
    any ? chart(o.hourly) : h('p', { class: 'muted empty-chart' }, 'No activity in the last 24 hours.'),
  );
}

/**
 * @param {import('./context.js').AppContext} ctx
 * @returns {import('./context.js').View}
 */
export function createOverview(ctx) {
  const P = parts();
  // Until the first answer, one placeholder: everything appears at once, so nothing shown moves.
  const el = h(
    'section',
    { class: 'view', id: 'overview', 'aria-label': 'Overview' },
    h('div', { class: 'view-loading', 'aria-busy': 'true' }, 'Checking…'),
  );
  let shown = false;
  const showParts = () => {
    if (shown) return;
    shown = true;
    fill(
      el,
      P.error,
      P.verdict,
      P.setup,
      P.cards,
      h('h3', { class: 'subhead' }, 'Last 24 hours, per hour'),
      P.chartBox,
    );
  };

  async function load() {
    try {
      const o = await api('/api/overview');
      fill(P.error);
      renderVerdict(P, o, (p) => act(ctx, P, p, load));
      fill(P.setup, checklist(o, ctx));
      renderCounts(P, o);
      showParts();
      return o;
    } catch (err) {
      showParts();
      const message = `Could not load the status: ${err instanceof Error ? err.message : err}`;
      fill(
        P.verdict,
        h(
          's-banner',
          { tone: 'critical', 'data-verdict': 'unknown' },
          h('strong', { class: 'verdict-title' }, 'Status unknown'),
          h('div', {}, message),
        ),
      );
      return undefined;
    }
  }

  return { id: 'overview', title: 'Overview', el, load };
}
