// @ts-check
// The embedded page: one view per section, shown by the app nav (App Bridge's s-app-nav in the Shopify
// admin; without App Bridge the same links are drawn as tabs). Each section is its own module under views/;
// they call the session-token-protected JSON API and never leave the page blank: a failure becomes a message
// in its section. No framework, no build step; the modules are type-checked from their JSDoc.

import { fill, h } from './lib/dom.js';
import { defineFallbacks } from './lib/fallback.js';
import { createActivity } from './views/activity.js';
import { createCustomers } from './views/customers.js';
import { createDataRequests } from './views/data-requests.js';
import { createFailures } from './views/failures.js';
import { createLinkExisting } from './views/link-existing.js';
import { createOverview } from './views/overview.js';
import { createSettings } from './views/settings.js';

defineFallbacks();

const base = document.body.dataset.base ?? '/app';
const main = /** @type {HTMLElement} */ (document.getElementById('views'));
const globalError = /** @type {HTMLElement} */ (document.getElementById('global-error'));
/** Sections whose data changed while they were hidden: reloaded when shown. */
const stale = new Set();

/** @type {import('./views/context.js').AppContext} */
const ctx = {
  navigate: (section) => go(section, true),
  follow: () => follow(),
  changed: (section) => stale.add(section),
};

const views = [
  createOverview,
  createFailures,
  createActivity,
  createCustomers,
  createLinkExisting,
  createDataRequests,
  createSettings,
].map((make) => make(ctx));
const byId = new Map(views.map((v) => [v.id, v]));
/** @type {import('./views/context.js').View | undefined} */
let current;

/** The section a path names: /app/failures → failures; /app → overview. @param {string} path */
function sectionOf(path) {
  const rest = path.startsWith(base) ? path.slice(base.length) : path;
  const id = rest.replace(/^\/+|\/+$/g, '') || 'overview';
  return byId.has(id) ? id : 'overview';
}

/** @param {string} id @param {boolean} [push] */
function go(id, push = false) {
  const view = byId.get(id) ?? views[0];
  if (!view) return;
  if (push)
    history.pushState(
      { section: view.id },
      '',
      `${base}${view.id === 'overview' ? '' : `/${view.id}`}${location.search}`,
    );
  const first = current === undefined;
  current = view;
  for (const v of views) v.el.hidden = v !== view;
  for (const link of document.querySelectorAll('s-app-nav s-link')) {
    const href = link.getAttribute('href') ?? '';
    if (sectionOf(href) === view.id) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${view.title} · IT Retail Loyalty`;
  if (!first) window.scrollTo(0, 0);
  stale.delete(view.id);
  return view.load();
}

/**
 * After a retry, a decision or a resync: refresh the overview and the shown section every couple of seconds
 * while this shop has jobs waiting or running, then once more (the last job may finish between the reads
 * of one refresh). Bounded, so a job that waits a long backoff is left to the regular refresh.
 */
let followTimer = /** @type {ReturnType<typeof setTimeout> | undefined} */ (undefined);
function follow() {
  let rounds = 30;
  let settled = false;
  const tick = async () => {
    const overview = /** @type {any} */ (await byId.get('overview')?.load());
    if (current && current.id !== 'overview') await current.load();
    for (const v of views) if (v !== current && v.id !== 'overview') stale.add(v.id);
    const q = overview?.queue;
    const pending = q ? q.waiting + q.active > 0 : true;
    rounds--;
    if ((pending || !settled) && rounds > 0) {
      settled = !pending;
      followTimer = setTimeout(tick, 2000);
    }
  };
  clearTimeout(followTimer);
  followTimer = setTimeout(tick, 1000);
}

function wireNav() {
  const nav = document.querySelector('s-app-nav');
  // Without App Bridge the links are the page's own tabs: a click shows the section without a reload.
  nav?.addEventListener('click', (ev) => {
    const link = /** @type {Element} */ (ev.target).closest('s-link');
    if (!link) return;
    ev.preventDefault();
    go(sectionOf(link.getAttribute('href') ?? ''), true);
  });
  nav?.addEventListener('keydown', (ev) => {
    const e = /** @type {KeyboardEvent} */ (ev);
    if (e.key === 'Enter') /** @type {HTMLElement} */ (e.target).click?.();
  });
  if (!customElements.get('s-app-nav'))
    for (const l of document.querySelectorAll('s-app-nav s-link')) l.setAttribute('tabindex', '0');
  // App Bridge's own navigation (a nav item chosen in the admin) arrives as shopify:navigate.
  document.addEventListener('shopify:navigate', (ev) => {
    const href = /** @type {Element} */ (ev.target)?.getAttribute?.('href');
    if (href) go(sectionOf(href), true);
  });
  window.addEventListener('popstate', () => go(sectionOf(location.pathname)));
}

function init() {
  main.replaceChildren(...views.map((v) => v.el));
  wireNav();
  if (!window.shopify?.idToken) {
    fill(
      globalError,
      h('s-banner', { tone: 'critical' }, 'App Bridge did not load. Open this app from the Shopify admin.'),
    );
    return;
  }
  const first = sectionOf(location.pathname);
  go(first);
  // The overview answers at a glance; it is loaded whichever section opens first.
  if (first !== 'overview') byId.get('overview')?.load();
  setInterval(() => {
    if (document.visibilityState !== 'visible' || !current || current.busy?.()) return;
    current.load();
  }, 15_000);
}

window.addEventListener('error', (e) => {
  fill(globalError, h('s-banner', { tone: 'critical' }, `Something went wrong on this page: ${e.message}`));
});

init();
