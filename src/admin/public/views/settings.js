// @ts-check
// Settings: the IT Retail connection (with Test connection of what is typed), the points rules and the
// redemption rules, saved through the contextual save bar (App Bridge's, or the page's own without it).

import { api } from '../lib/api.js';
import { fill, h, showError, toast } from '../lib/dom.js';

const REDEMPTION_NUMBERS = [
  'pointsPerUnit',
  'minimumPoints',
  'stepPoints',
  'maximumPoints',
  'codeLifetimeDays',
];

/** @param {string} tag @param {string} name @param {string} label @param {Record<string, string>} [more] */
const field = (tag, name, label, more = {}) => h(tag, { name, label, ...more });
/** @param {string} name @param {string} label @param {string} [details] */
const check = (name, label, details) => h('s-checkbox', { name, label, details });

function buildForm() {
  return h(
    'form',
    { class: 'settings-form', 'data-save-bar': true, 'data-discard-confirmation': true, novalidate: true },
    h(
      's-box',
      { class: 'fieldset', padding: 'base', border: 'base', 'border-radius': 'base' },
      h('h3', { class: 'subhead' }, 'IT Retail connection'),
      h('p', { class: 'muted itretail-state' }),
      field('s-url-field', 'baseUrl', 'Base URL', { placeholder: 'https://retailnext.itretail.com' }),
      h(
        's-select',
        { name: 'authKind', label: 'Sign in with' },
        h('s-option', { value: 'password' }, 'Username and password'),
        h('s-option', { value: 'token' }, 'API token'),
        h('s-option', { value: 'keep' }, 'Keep what is saved'),
      ),
      field('s-text-field', 'username', 'Username', { autocomplete: 'off', class: 'auth-password' }),
      field('s-password-field', 'password', 'Password', {
        autocomplete: 'new-password',
        class: 'auth-password',
      }),
      field('s-password-field', 'token', 'API token', { autocomplete: 'off', class: 'auth-token' }),
      h(
        'div',
        { class: 'toolbar' },
        h('s-button', { class: 'test-connection' }, 'Test connection'),
        h('span', { class: 'test-result', role: 'status' }),
      ),
    ),
    h(
      's-box',
      { class: 'fieldset', padding: 'base', border: 'base', 'border-radius': 'base' },
      h('h3', { class: 'subhead' }, 'Points'),
      field('s-text-field', 'pointsPerDollar', 'Points per dollar', { inputmode: 'decimal' }),
      check('includeTestOrders', 'Give points for test orders'),
      check('excludeTax', 'Leave tax out where prices include it'),
      check('excludeGiftCards', 'No points for gift cards (they earn when spent)'),
      check('includeShipping', 'Give points for shipping'),
      h('p', { class: 'muted' }, 'An order keeps the points settings in force when it was paid.'),
      field('s-number-field', 'orderRetentionDays', "Keep order details (days after an order's last change)"),
      check('paused', 'Pause sync', 'Events wait in the queue; nothing is lost.'),
    ),
    h(
      's-box',
      { class: 'fieldset', padding: 'base', border: 'base', 'border-radius': 'base' },
      h('h3', { class: 'subhead' }, 'Redeeming points on the storefront'),
      check('redeemEnabled', 'Shoppers can turn points into a discount code'),
      field('s-number-field', 'pointsPerUnit', 'Points per currency unit'),
      field('s-text-field', 'currency', 'Currency', { maxlength: '3' }),
      field('s-number-field', 'minimumPoints', 'Minimum points'),
      field('s-number-field', 'stepPoints', 'In steps of (points)'),
      field('s-number-field', 'maximumPoints', 'Maximum points per redemption'),
      field('s-number-field', 'codeLifetimeDays', 'Code lifetime (days)'),
      check('giveBackExpired', 'A code that expires unused gives its points back'),
      h('div', { class: 'form-error', 'data-field': 'redemption' }),
    ),
  );
}

/**
 * The form and what was last saved, with the field of each name.
 * @typedef {{form: HTMLFormElement, saved: any, f: (name: string) => any}} Form
 */

/** @param {Form} S */
function authKindChanged(S) {
  const kind = S.f('authKind').value;
  for (const x of S.form.querySelectorAll('.auth-password')) x.toggleAttribute('hidden', kind !== 'password');
  for (const x of S.form.querySelectorAll('.auth-token')) x.toggleAttribute('hidden', kind !== 'token');
}

/** Puts saved settings into the form. @param {Form} S @param {any} s */
function fillForm(S, s) {
  const { f } = S;
  S.saved = s;
  f('pointsPerDollar').value = s.pointsPerDollar;
  f('includeTestOrders').checked = s.includeTestOrders;
  f('excludeTax').checked = s.pointsRules.excludeTax;
  f('excludeGiftCards').checked = s.pointsRules.excludeGiftCards;
  f('includeShipping').checked = s.pointsRules.includeShipping;
  f('orderRetentionDays').value = String(s.orderRetentionDays);
  f('paused').checked = s.paused;
  const r = s.redemption;
  if (r) {
    f('redeemEnabled').checked = r.enabled;
    f('giveBackExpired').checked = r.giveBackExpired;
    f('currency').value = r.currency;
    for (const name of REDEMPTION_NUMBERS) f(name).value = String(r[name]);
  }
  f('baseUrl').value = s.itretail.baseUrl ?? '';
  f('username').value = s.itretail.username ?? '';
  f('password').value = '';
  f('token').value = '';
  const words = /** @type {Record<string, string>} */ ({
    shop: `Saved for this shop${s.itretail.username ? ` (user ${s.itretail.username})` : ' (API token)'}.`,
    environment: 'Using the credentials set on the server.',
    none: 'Not set up yet.',
  });
  fill(/** @type {Element} */ (S.form.querySelector('.itretail-state')), words[s.itretail.source] ?? '');
  f('authKind').value = s.itretail.source === 'shop' ? 'keep' : 'password';
  authKindChanged(S);
  showFieldErrors(S, {});
}

/**
 * The IT Retail part of a save or a test. "Keep what is saved" keeps the saved sign-in and sends the base
 * URL when it was edited (for a save) or always (for a test: the typed URL is the one tested).
 * @param {Form} S @param {'save' | 'test'} purpose
 */
function credentials(S, purpose) {
  const { f, saved } = S;
  const kind = f('authKind').value;
  const baseUrl = String(f('baseUrl').value ?? '').trim() || undefined;
  if (kind === 'password') return { baseUrl, username: f('username').value, password: f('password').value };
  if (kind === 'token') return { baseUrl, token: f('token').value };
  if (saved?.itretail.source !== 'shop') return undefined;
  if (purpose === 'test' || baseUrl !== (saved.itretail.baseUrl ?? undefined)) return { keep: true, baseUrl };
  return undefined;
}

/** Each of the API's field messages on its field. @param {Form} S @param {Record<string, string>} fields */
function showFieldErrors(S, fields) {
  const general = /** @type {Element} */ (S.form.querySelector('.form-error'));
  for (const x of S.form.querySelectorAll('[error]')) x.removeAttribute('error');
  fill(general);
  for (const [path, msg] of Object.entries(fields ?? {})) {
    const name = path === 'itretail' ? 'authKind' : (path.split('.').pop() ?? path);
    const target = S.f(name === 'enabled' ? 'redeemEnabled' : name);
    if (target) target.setAttribute('error', [target.getAttribute('error'), msg].filter(Boolean).join(' '));
    else fill(general, msg);
  }
}

/** The PUT /api/settings body from the form. @param {Form} S */
function bodyOf(S) {
  const { f } = S;
  /** @type {Record<string, any>} */
  const r = { enabled: f('redeemEnabled').checked, giveBackExpired: f('giveBackExpired').checked };
  if (f('currency').value.trim()) r.currency = f('currency').value.trim();
  // An empty box keeps the saved value; anything else is sent as typed and checked by the server.
  for (const name of REDEMPTION_NUMBERS) if (String(f(name).value).trim()) r[name] = Number(f(name).value);
  /** @type {Record<string, any>} */
  const b = {
    pointsPerDollar: String(f('pointsPerDollar').value).trim(),
    includeTestOrders: f('includeTestOrders').checked,
    excludeTax: f('excludeTax').checked,
    excludeGiftCards: f('excludeGiftCards').checked,
    includeShipping: f('includeShipping').checked,
    orderRetentionDays: Number(f('orderRetentionDays').value),
    paused: f('paused').checked,
    redemption: r,
  };
  const creds = credentials(S, 'save');
  if (creds) b.itretail = creds;
  return b;
}

/** Test connection with what is typed. @param {import('./context.js').AppContext} ctx @param {Form} S */
async function testConnection(ctx, S) {
  const out = /** @type {HTMLElement} */ (S.form.querySelector('.test-result'));
  fill(out, 'Testing…');
  out.className = 'test-result';
  try {
    const creds = credentials(S, 'test');
    const r = await api('/api/settings/test-connection', {
      method: 'POST',
      body: creds ? { itretail: creds } : {},
    });
    out.className = `test-result ${r.ok ? 'ok' : 'warn'}`;
    fill(out, r.message);
    if (r.ok) ctx.changed('overview');
  } catch (err) {
    out.className = 'test-result warn';
    fill(out, err instanceof Error ? err.message : String(err));
    showFieldErrors(S, /** @type {any} */ (err).body?.fields ?? {});
  }
}

/**
 * @param {import('./context.js').AppContext} ctx
 * @returns {import('./context.js').View}
 */
export function createSettings(ctx) {
  const error = h('div', { class: 'section-error', role: 'alert' });
  const form = /** @type {HTMLFormElement} */ (buildForm());
  /** @type {Form} */
  const S = { form, saved: undefined, f: (name) => form.querySelector(`[name="${name}"]`) };
  const result = h('span', { class: 'settings-result', role: 'status' });
  const discard = () => {
    if (S.saved) fillForm(S, S.saved);
    saveBar.hidden = true;
    fill(result);
  };
  const saveBar = h(
    'div',
    { class: 'save-bar', hidden: true, role: 'region', 'aria-label': 'Unsaved changes' },
    h('span', {}, 'Unsaved changes'),
    h('s-button', { class: 'discard', onclick: discard }, 'Discard'),
    h('s-button', { class: 'save', variant: 'primary', onclick: () => form.requestSubmit() }, 'Save'),
  );
  const el = h(
    'section',
    { class: 'view', id: 'settings', 'aria-label': 'Settings' },
    error,
    form,
    h('div', { class: 'toolbar' }, result),
    saveBar,
  );

  async function save() {
    // A "Saved." left from an earlier save must not stand for this one while it is on its way.
    fill(result, 'Saving…');
    try {
      const s = await api('/api/settings', { method: 'PUT', body: bodyOf(S) });
      fill(error);
      fillForm(S, s);
      saveBar.hidden = true;
      fill(result, 'Saved.');
      toast('Settings saved');
      ctx.changed('overview');
    } catch (err) {
      showFieldErrors(S, /** @type {any} */ (err).body?.fields ?? {});
      fill(result);
      showError(error, err);
    }
  }

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    save();
  });
  form.addEventListener('reset', (ev) => {
    ev.preventDefault();
    discard();
  });
  /** @param {Event} ev */
  const edited = (ev) => {
    if (/** @type {Element} */ (ev.target).closest?.('[name="authKind"]')) authKindChanged(S);
    fill(result);
    // App Bridge shows its own save bar for a form with data-save-bar; without it, the page's own.
    if (!window.shopify?.saveBar) saveBar.hidden = false;
  };
  form.addEventListener('input', edited);
  form.addEventListener('change', edited);
  /** @type {HTMLElement} */ (form.querySelector('.test-connection')).addEventListener('click', () =>
    testConnection(ctx, S),
  );

  async function load() {
    try {
      fillForm(S, await api('/api/settings'));
      saveBar.hidden = true;
      fill(error);
    } catch (err) {
      showError(error, err);
    }
  }

  return { id: 'settings', title: 'Settings', el, load, busy: () => !saveBar.hidden };
}
