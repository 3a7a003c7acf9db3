// The embedded page's behaviour: calls the session-token-protected JSON API with `await shopify.idToken()`
// as the bearer and fills in the sections of the server-rendered shell. No framework, no build step.
// Every failure becomes a message in the section it belongs to; nothing leaves the page blank.

const $ = (sel, root = document) => root.querySelector(sel);
const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** Element builder: h('td', {class: 'x'}, 'text', child). Text is always set as text, never as HTML. */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/** A fetch of the API with the session token as the bearer; network and token problems become ApiErrors. */
async function apiFetch(path, { method = 'GET', body } = {}) {
  let token;
  try {
    token = await window.shopify.idToken();
  } catch {
    throw new ApiError('Could not get a session from Shopify. Reload the page from the Shopify admin.', 0);
  }
  try {
    return await fetch(path, {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: 'application/json',
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
  } catch {
    throw new ApiError('The app could not be reached. Check your connection and try again.', 0);
  }
}

async function failed(res) {
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON */
  }
  return new ApiError(plainError(res.status, data), res.status, data);
}

async function api(path, opts) {
  const res = await apiFetch(path, opts);
  if (!res.ok) throw await failed(res);
  try {
    return await res.json();
  } catch {
    return null;
  }
}

/**
 * Downloads an API answer as a file. A link cannot carry the session token, so the page fetches the file
 * itself and saves it through a blob URL, under the name the API gives it.
 */
async function download(path, fallbackName) {
  const res = await apiFetch(path);
  if (!res.ok) throw await failed(res);
  const blob = await res.blob();
  const named = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1];
  const url = URL.createObjectURL(blob);
  const a = h('a', { href: url, download: named ?? fallbackName, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** The API's message in words a merchant can act on; the API's own messages are plain already. */
function plainError(status, data) {
  const msg = typeof data?.error === 'string' ? data.error : undefined;
  if (status === 401) {
    return 'Your Shopify session has expired. Reload the page from the Shopify admin.';
  }
  if (status >= 500 && (!msg || msg === 'internal error')) {
    const ref = data?.requestId ? ` (reference ${data.requestId})` : '';
    return `The app ran into an unexpected problem${ref}. Try again in a minute.`;
  }
  if (!msg || msg === 'not found' || msg === 'bad request') {
    return 'The app could not handle this request. Reload the page and try again.';
  }
  return msg;
}

function toast(message) {
  try {
    window.shopify?.toast?.show(message);
  } catch {
    /* toast is a nicety */
  }
}

function showError(section, err) {
  const box = $('.section-error', section) ?? $('#global-error');
  box.replaceChildren(
    h('s-banner', { tone: 'critical', class: 'banner critical' }, err?.message ?? String(err)),
  );
}
function clearError(section) {
  $('.section-error', section)?.replaceChildren();
}

const fmtTime = (iso) => {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
};
const fmtNum = (n) => (typeof n === 'number' ? n.toLocaleString() : '—');
const signed = (n) => (typeof n !== 'number' ? '' : n > 0 ? `+${n}` : String(n));

const TOPIC_WORDS = {
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
  'admin/resync': 'Resync',
  'admin/link-existing': 'Link existing',
  'catch-up/orders/paid': 'Order paid (catch-up)',
  'catch-up/orders/cancelled': 'Order cancelled (catch-up)',
  'catch-up/orders': 'Catch-up',
};
const topicWords = (t) => TOPIC_WORDS[t] ?? t;

function statusBadge(status) {
  const tone = { applied: 'success', skipped: 'neutral', failed: 'critical' }[status] ?? 'info';
  return h('s-badge', { tone, class: `badge ${tone}` }, status);
}

/** "Order #1001" or the customer by name and card number: what a merchant recognises. */
function subjectOf(e) {
  if (e.orderName) return `Order ${e.orderName}`;
  if (e.shopifyOrderId) return `Order ${e.shopifyOrderId}`;
  if (e.customerName) return e.customerName;
  if (e.shopifyCustomerId) return `Customer ${e.shopifyCustomerId}`;
  return topicWords(e.topic);
}
function customerOf(e) {
  const parts = [];
  if (e.customerName) parts.push(e.customerName);
  if (e.cardNo) parts.push(`card ${e.cardNo}`);
  return parts.join(' · ') || '—';
}

// ------------------------------------------------------------------ overview

const VERDICT_TONE = { critical: 'critical', warning: 'warning' };

function card(title, value, detail, tone) {
  return h(
    's-box',
    { class: `card${tone ? ` ${tone}` : ''}`, padding: 'base', border: 'base', 'border-radius': 'base' },
    h('div', { class: 'card-title' }, title),
    h('div', { class: 'card-value' }, value),
    detail ? h('div', { class: 'card-detail' }, detail) : null,
  );
}

function renderChart(hours) {
  const box = $('#chart');
  if (!hours?.length) {
    box.replaceChildren(h('s-text', {}, 'No activity yet.'));
    return;
  }
  const W = 720;
  const H = 160;
  const pad = 24;
  const max = Math.max(1, ...hours.map((x) => x.applied + x.skipped + x.failed));
  const bw = (W - pad * 2) / hours.length;
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H + 20}`);
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'Applied, skipped and failed events per hour over the last 24 hours');
  const rect = (x, y, w, hh, cls, title) => {
    const r = document.createElementNS(ns, 'rect');
    r.setAttribute('x', x);
    r.setAttribute('y', y);
    r.setAttribute('width', w);
    r.setAttribute('height', hh);
    r.setAttribute('class', cls);
    const t = document.createElementNS(ns, 'title');
    t.textContent = title;
    r.append(t);
    svg.append(r);
  };
  hours.forEach((x, i) => {
    let y = H;
    const label = new Date(x.hour).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    for (const [k, cls] of [
      ['applied', 'bar-applied'],
      ['skipped', 'bar-skipped'],
      ['failed', 'bar-failed'],
    ]) {
      const v = x[k] ?? 0;
      if (!v) continue;
      const hh = ((H - pad) * v) / max;
      y -= hh;
      rect(pad + i * bw + 1, y, Math.max(1, bw - 2), hh, cls, `${label}: ${v} ${k}`);
    }
    if (i % 3 === 0) {
      const t = document.createElementNS(ns, 'text');
      t.setAttribute('x', pad + i * bw);
      t.setAttribute('y', H + 14);
      t.setAttribute('class', 'axis');
      t.textContent = label;
      svg.append(t);
    }
  });
  const legend = h(
    'div',
    { class: 'legend' },
    h('span', { class: 'key applied' }, 'applied'),
    h('span', { class: 'key skipped' }, 'skipped'),
    h('span', { class: 'key failed' }, 'failed'),
  );
  box.replaceChildren(svg, legend);
}

const TOKEN_WORDS = {
  valid: 'signed in',
  static: 'signed in with an API token',
  none: 'not signed in yet',
};

/** Loads the overview; resolves to it (or undefined when it could not be loaded). */
async function loadOverview() {
  const section = $('#overview');
  try {
    const o = await api('/api/overview');
    $('#global-error').replaceChildren();
    const verdict = $('#verdict');
    if (!o.problems.length) {
      verdict.replaceChildren(
        h(
          's-banner',
          { tone: 'success', class: 'banner success' },
          h('strong', { class: 'problem-title' }, 'Loyalty sync is working'),
          h(
            'div',
            {},
            o.lastAppliedAt
              ? `Last points change applied ${fmtTime(o.lastAppliedAt)}.`
              : 'No problems found.',
          ),
        ),
      );
    } else {
      verdict.replaceChildren(
        ...o.problems.map((p) =>
          h(
            's-banner',
            { tone: VERDICT_TONE[p.severity] ?? 'info', class: `banner ${p.severity}` },
            h('strong', { class: 'problem-title' }, p.title),
            h('div', { class: 'problem-fix' }, p.fix),
          ),
        ),
      );
    }
    const it = o.itretail;
    const q = o.queue;
    $('#overview-cards').replaceChildren(
      card(
        'IT Retail connection',
        !it.configured
          ? 'Not set up'
          : it.lastError && (!it.lastOkAt || it.lastError.at > it.lastOkAt)
            ? 'Failing'
            : 'Connected',
        [
          it.lastOkAt ? `Last good call ${fmtTime(it.lastOkAt)}` : 'No successful call yet',
          it.lastError ? ` · Last error ${fmtTime(it.lastError.at)}: ${it.lastError.message}` : '',
          it.configured ? ` · ${TOKEN_WORDS[it.token] ?? it.token}` : '',
        ].join(''),
        it.lastError && (!it.lastOkAt || it.lastError.at > it.lastOkAt) ? 'critical' : undefined,
      ),
      card(
        "App's database (Redis)",
        o.redis.ok ? 'Reachable' : 'Unreachable',
        o.redis.ok ? 'Events are received and queued' : o.redis.message,
        o.redis.ok ? undefined : 'critical',
      ),
      card(
        'Queue',
        `${fmtNum(q.waiting + q.active + q.delayed)} pending`,
        `${fmtNum(q.waiting)} waiting · ${fmtNum(q.active)} running · ${fmtNum(q.delayed)} retrying later · ${fmtNum(o.failures)} failed`,
        o.failures ? 'critical' : undefined,
      ),
      card(
        'Customers linked',
        fmtNum(o.customersLinked),
        'Shopify customers matched to an IT Retail customer',
      ),
      card(
        'Points today',
        `+${fmtNum(o.pointsToday.awarded)} / −${fmtNum(o.pointsToday.deducted)}`,
        'awarded / deducted',
      ),
    );
    renderChart(o.hourly);
    return o;
  } catch (err) {
    showError(section, err);
    $('#verdict').replaceChildren(
      h(
        's-banner',
        { tone: 'critical', class: 'banner critical' },
        `Could not load the status: ${err.message}`,
      ),
    );
  }
}

// ------------------------------------------------------------------ failures

let failuresCursor;
/** True once the merchant asked for more rows: a background refresh must not take them away. */
let failuresPaged = false;
async function loadFailures(append = false) {
  failuresPaged = append;
  const section = $('#failures');
  const body = $('#failures-body');
  try {
    const qs = new URLSearchParams({ limit: '25' });
    if (append && failuresCursor) qs.set('cursor', failuresCursor);
    const r = await api(`/api/failures?${qs}`);
    clearError(section);
    if (!append) body.replaceChildren();
    failuresCursor = r.nextCursor;
    $('#failures-more').hidden = !r.nextCursor;
    $('#failures-total').textContent = r.total ? `${r.total} failed` : '';
    $('#retry-all').toggleAttribute('disabled', !r.total);
    if (!r.total && !append) {
      body.replaceChildren(h('tr', {}, h('td', { colspan: 5, class: 'empty' }, 'No failures.')));
      return;
    }
    for (const f of r.failures) {
      const btn = h('s-button', { class: 'retry', 'data-job-id': f.jobId }, 'Retry');
      btn.addEventListener('click', () => retryOne(f.jobId, btn));
      body.append(
        h(
          'tr',
          { 'data-job-id': f.jobId },
          h('td', {}, fmtTime(f.at)),
          h('td', {}, subjectOf(f), h('div', { class: 'muted' }, topicWords(f.topic))),
          h('td', {}, f.error ?? 'Failed', f.fix ? h('div', { class: 'muted' }, f.fix) : null),
          h('td', {}, fmtNum(f.attempts)),
          h('td', {}, f.retryable === false ? h('span', { class: 'muted' }, f.retryNote ?? '') : btn),
        ),
      );
    }
  } catch (err) {
    showError(section, err);
  }
}

/**
 * Points changes IT Retail may or may not have applied: each with what was meant, what IT Retail showed,
 * both readings, and the two decisions (each acts once).
 */
async function loadUncertain() {
  const box = $('#uncertain-writes');
  try {
    const r = await api('/api/uncertain-writes');
    box.replaceChildren();
    if (!r.writes.length) return;
    box.append(
      h(
        's-banner',
        {
          tone: 'warning',
          heading: `${r.total} ${r.total === 1 ? 'change to points needs' : 'changes to points need'} your decision`,
        },
        'IT Retail did not say whether these changes were applied, and its record cannot tell. Nothing more is written to these customers until you decide.',
      ),
    );
    for (const w of r.writes) {
      const landed = h('s-button', { class: 'decide-landed' }, 'It landed');
      const apply = h('s-button', { class: 'decide-apply', variant: 'primary' }, 'Apply it');
      const card = h(
        'div',
        { class: 'uncertain-write', 'data-write-id': w.writeId },
        h('div', { class: 'uncertain-what' }, h('strong', {}, w.what), ' · ', fmtTime(w.at)),
        h(
          'div',
          { class: 'muted' },
          `Before the change: ${fmtNum(w.pointsBefore)} pts. Written: ${fmtNum(w.pointsWritten)} pts. IT Retail then showed ${fmtNum(w.pointsSeen)} pts (${w.why}).`,
        ),
        h('ul', { class: 'readings' }, h('li', {}, w.readings.landed), h('li', {}, w.readings.apply)),
        h('div', { class: 'toolbar' }, landed, apply),
      );
      const decide = async (decision, btn) => {
        for (const b of [landed, apply]) b.setAttribute('disabled', '');
        btn.setAttribute('loading', '');
        try {
          await api(`/api/uncertain-writes/${encodeURIComponent(w.itrCustomerId)}/decide`, {
            method: 'POST',
            body: { writeId: w.writeId, decision },
          });
          toast(decision === 'landed' ? 'Marked as applied' : 'Applying it');
          card.replaceChildren(
            h(
              'div',
              { class: 'muted decided' },
              decision === 'landed' ? `${w.what}: marked as applied.` : `${w.what}: being applied.`,
            ),
          );
          followQueue();
        } catch (err) {
          showError($('#failures'), err);
          loadUncertain();
        }
      };
      landed.addEventListener('click', () => decide('landed', landed));
      apply.addEventListener('click', () => decide('apply', apply));
      box.append(card);
    }
  } catch (err) {
    showError($('#failures'), err);
  }
}

async function retryOne(jobId, btn) {
  const section = $('#failures');
  btn?.setAttribute('loading', '');
  btn?.setAttribute('disabled', '');
  try {
    await api(`/api/failures/${encodeURIComponent(jobId)}/retry`, { method: 'POST' });
    toast('Retrying');
    const row = btn?.closest('tr');
    row?.querySelector('td:last-child')?.replaceChildren(h('span', { class: 'muted retrying' }, 'Retrying…'));
    followQueue();
  } catch (err) {
    showError(section, err);
    btn?.removeAttribute('loading');
    btn?.removeAttribute('disabled');
  }
}

async function retryAll() {
  const section = $('#failures');
  try {
    const r = await api('/api/failures/retry-all', { method: 'POST' });
    toast(`Retrying ${r.retried}`);
    $('#failures-total').textContent =
      `Retrying ${r.retried}${r.gone ? ` (${r.gone} could not be retried)` : ''}…`;
    followQueue();
  } catch (err) {
    showError(section, err);
  }
}

// ------------------------------------------------------------------ activity

let activityCursor;
let activityPaged = false;
async function loadActivity(append = false) {
  activityPaged = append;
  const section = $('#activity');
  const body = $('#activity-body');
  const f = new FormData($('#activity-filters'));
  const qs = new URLSearchParams({ limit: '50' });
  if (f.get('status')) qs.set('status', f.get('status'));
  if (f.get('topic')) qs.set('topic', f.get('topic'));
  if (append && activityCursor) qs.set('cursor', activityCursor);
  try {
    const r = await api(`/api/events?${qs}`);
    clearError(section);
    if (!append) body.replaceChildren();
    activityCursor = r.nextCursor;
    $('#activity-more').hidden = !r.nextCursor;
    if (!r.events.length && !append) {
      body.replaceChildren(h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'Nothing here yet.')));
      return;
    }
    for (const e of r.events) {
      body.append(
        h(
          'tr',
          { class: `status-${e.status}` },
          h('td', {}, fmtTime(e.at)),
          h('td', {}, statusBadge(e.status)),
          h('td', {}, subjectOf(e), h('div', { class: 'muted' }, topicWords(e.topic))),
          h('td', {}, customerOf(e)),
          h(
            'td',
            { class: 'num' },
            typeof e.pointsDelta === 'number' ? signed(e.pointsDelta) : '',
            typeof e.pointsAfter === 'number'
              ? h('div', { class: 'muted' }, `balance ${e.pointsAfter}`)
              : null,
          ),
          h('td', {}, e.error ?? e.reason ?? ''),
        ),
      );
    }
  } catch (err) {
    showError(section, err);
  }
}

// ------------------------------------------------------------------ customer lookup

async function lookup(ev) {
  ev?.preventDefault();
  const section = $('#customers');
  const out = $('#lookup-result');
  const email = new FormData($('#lookup-form')).get('email')?.toString().trim();
  if (!email) {
    showError(section, new Error('Enter an email address.'));
    return;
  }
  out.replaceChildren(h('s-text', {}, 'Looking up…'));
  try {
    const r = await api(`/api/customers?email=${encodeURIComponent(email)}`);
    clearError(section);
    const rows = [];
    if (r.itretail) {
      rows.push(
        h(
          'div',
          { class: 'customer-card' },
          h('div', { class: 'card-value' }, r.itretail.name || email),
          h('div', {}, `Card ${r.itretail.cardNo ?? '—'} · IT Retail id ${r.itretail.id}`),
          h('div', { class: 'balance' }, `Balance: ${fmtNum(r.itretail.loyaltyPoints ?? 0)} points`),
          r.itretail.deleted
            ? h('div', { class: 'warn' }, 'This IT Retail customer is marked deleted.')
            : null,
        ),
      );
    } else {
      rows.push(
        h('div', { class: 'muted' }, r.itretailMessage ?? 'Not linked to an IT Retail customer yet.'),
      );
    }
    if (r.duplicates?.length) {
      rows.push(
        h(
          'div',
          { class: 'warn' },
          `IT Retail has ${r.duplicates.length + 1} customers with this email; the bridge uses ${r.itretail?.id ?? 'the first'}.`,
        ),
      );
    }
    const resync = h('s-button', { id: 'resync' }, 'Resync');
    resync.addEventListener('click', async () => {
      try {
        await api('/api/customers/resync', { method: 'POST', body: { email } });
        toast('Resync queued');
        resync.replaceWith(h('span', { class: 'muted' }, 'Resync queued; this updates when it is done.'));
        followQueue(() => lookup());
      } catch (err) {
        showError(section, err);
      }
    });
    rows.push(h('div', { class: 'toolbar' }, resync));
    const orders = r.orders ?? [];
    rows.push(
      h('h3', { class: 'subhead' }, 'Points from orders'),
      orders.length
        ? h(
            'table',
            { class: 'grid' },
            h(
              'thead',
              {},
              h('tr', {}, h('th', {}, 'Order'), h('th', {}, 'Points'), h('th', {}, 'Last change')),
            ),
            h(
              'tbody',
              {},
              orders.map((o) =>
                h(
                  'tr',
                  {},
                  h('td', {}, o.orderName ?? o.shopifyOrderId),
                  h('td', { class: 'num' }, signed(o.points)),
                  h('td', {}, fmtTime(o.lastAt), h('div', { class: 'muted' }, topicWords(o.lastTopic))),
                ),
              ),
            ),
          )
        : h('div', { class: 'muted' }, 'No orders synced for this customer yet.'),
    );
    out.replaceChildren(...rows);
  } catch (err) {
    out.replaceChildren();
    showError(section, err);
  }
}

// ------------------------------------------------------------------ link existing

let linkTimer;
function renderLinkProgress(p) {
  const box = $('#link-progress');
  if (!p || p.state === 'idle') {
    box.replaceChildren(h('s-text', {}, 'Not run yet.'));
    $('#link-start').removeAttribute('disabled');
    return;
  }
  const pct = p.total ? Math.min(100, Math.round((100 * p.done) / p.total)) : undefined;
  const running = p.state === 'queued' || p.state === 'running';
  $('#link-start').toggleAttribute('disabled', running);
  box.replaceChildren(
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
      'div',
      {},
      `${p.state === 'done' ? 'Finished' : p.state === 'failed' ? 'Stopped' : p.state === 'queued' ? 'Waiting to start' : 'Running'}: ` +
        `${fmtNum(p.done)}${p.total ? ` of ${fmtNum(p.total)}` : ''} customers · ${fmtNum(p.linked)} linked · ` +
        `${fmtNum(p.created)} created in IT Retail · ${fmtNum(p.skipped)} without email · ${fmtNum(p.failed)} failed`,
    ),
    p.error ? h('div', { class: 'warn' }, p.error) : null,
  );
  clearTimeout(linkTimer);
  if (running) linkTimer = setTimeout(loadLinkProgress, 2000);
}
async function loadLinkProgress() {
  try {
    renderLinkProgress(await api('/api/link-existing'));
  } catch (err) {
    showError($('#link-existing'), err);
  }
}
async function startLink() {
  try {
    renderLinkProgress(await api('/api/link-existing', { method: 'POST' }));
    toast('Linking started');
  } catch (err) {
    showError($('#link-existing'), err);
  }
}

// ------------------------------------------------------------------ catch-up

let catchUpTimer;
function renderCatchUp(c) {
  const box = $('#catch-up-status');
  $('#catch-up-start').toggleAttribute('disabled', Boolean(c?.running));
  const last = c?.lastRunAt
    ? `Last catch-up ${fmtTime(c.lastRunAt)}: ${fmtNum(c.ordersSeen)} orders read, ${fmtNum(c.ordersRecovered)} recovered.`
    : 'No catch-up has run yet.';
  box.replaceChildren(
    h('div', {}, c?.running ? `${last} A catch-up is running…` : last),
    c?.error ? h('div', { class: 'warn' }, c.error) : null,
  );
  clearTimeout(catchUpTimer);
  if (c?.running) catchUpTimer = setTimeout(loadCatchUp, 2000);
}
async function loadCatchUp() {
  try {
    renderCatchUp((await api('/api/status')).catchUp);
    clearError($('#catch-up'));
  } catch (err) {
    showError($('#catch-up'), err);
  }
}
async function startCatchUp() {
  try {
    renderCatchUp((await api('/api/catch-up', { method: 'POST' })).catchUp);
    toast('Catch-up started');
  } catch (err) {
    showError($('#catch-up'), err);
  }
}

// ------------------------------------------------------------------ data requests

async function loadDataRequests() {
  const section = $('#data-requests');
  const body = $('#data-requests-body');
  try {
    const r = await api('/api/data-requests');
    clearError(section);
    $('#data-requests-note').textContent = r.complete
      ? ''
      : `Showing the ${r.requests.length} newest; older reports may not be listed.`;
    if (!r.requests.length) {
      body.replaceChildren(
        h(
          'tr',
          {},
          h('td', { colspan: 4, class: 'empty' }, 'No customer data requests in the last 30 days.'),
        ),
      );
      return;
    }
    body.replaceChildren(
      ...r.requests.map((d) => {
        const btn = h('s-button', { class: 'download', 'data-request-id': d.id }, 'Download');
        btn.addEventListener('click', async () => {
          try {
            await download(`/api/data-requests/${encodeURIComponent(d.id)}`, `data-request-${d.id}.json`);
            clearError(section);
          } catch (err) {
            showError(section, err);
          }
        });
        return h(
          'tr',
          { 'data-request-id': d.id },
          h('td', {}, fmtTime(d.at)),
          h('td', {}, d.shopifyCustomerId ? `Customer ${d.shopifyCustomerId}` : '—'),
          h('td', {}, d.id),
          h('td', {}, btn),
        );
      }),
    );
  } catch (err) {
    showError(section, err);
  }
}

// ------------------------------------------------------------------ settings

function authKindChanged() {
  const kind = $('#settings-form [name=authKind]').value;
  for (const el of $$('.auth-password')) el.hidden = kind !== 'password';
  for (const el of $$('.auth-token')) el.hidden = kind !== 'token';
}

function fillSettings(s) {
  const f = $('#settings-form');
  f.pointsPerDollar.value = s.pointsPerDollar;
  f.includeTestOrders.checked = s.includeTestOrders;
  f.excludeTax.checked = s.pointsRules.excludeTax;
  f.excludeGiftCards.checked = s.pointsRules.excludeGiftCards;
  f.includeShipping.checked = s.pointsRules.includeShipping;
  f.orderRetentionDays.value = s.orderRetentionDays;
  f.paused.checked = s.paused;
  fillRedemption(f, s.redemption);
  f.baseUrl.value = s.itretail.baseUrl ?? '';
  f.username.value = s.itretail.username ?? '';
  f.password.value = '';
  f.token.value = '';
  const state = {
    shop: `Saved for this shop${s.itretail.username ? ` (user ${s.itretail.username})` : ' (API token)'}.`,
    environment: 'Using the credentials set on the server.',
    none: 'Not set up yet.',
  }[s.itretail.source];
  $('#itretail-state').textContent = state;
  f.authKind.value = s.itretail.source === 'shop' ? 'keep' : 'password';
  authKindChanged();
}

const REDEMPTION_NUMBERS = [
  'pointsPerUnit',
  'minimumPoints',
  'stepPoints',
  'maximumPoints',
  'codeLifetimeDays',
];

function fillRedemption(f, r) {
  if (!r) return;
  f.redeemEnabled.checked = r.enabled;
  f.giveBackExpired.checked = r.giveBackExpired;
  f.currency.value = r.currency;
  for (const name of REDEMPTION_NUMBERS) f[name].value = String(r[name]);
}

function redemptionFromForm(f) {
  const r = { enabled: f.redeemEnabled.checked, giveBackExpired: f.giveBackExpired.checked };
  if (f.currency.value.trim()) r.currency = f.currency.value.trim();
  // An empty box keeps the saved value; anything else is sent as typed and checked by the server.
  for (const name of REDEMPTION_NUMBERS) if (f[name].value.trim()) r[name] = Number(f[name].value);
  return r;
}

async function loadSettings() {
  try {
    fillSettings(await api('/api/settings'));
  } catch (err) {
    showError($('#settings'), err);
  }
}

function credentialsFromForm() {
  const f = $('#settings-form');
  const kind = f.authKind.value;
  const baseUrl = f.baseUrl.value.trim() || undefined;
  if (kind === 'password') return { baseUrl, username: f.username.value, password: f.password.value };
  if (kind === 'token') return { baseUrl, token: f.token.value };
  return undefined;
}

function showFieldErrors(fields) {
  for (const el of $$('#settings-form .field-error')) el.textContent = '';
  for (const [field, msg] of Object.entries(fields ?? {})) {
    const key = field.startsWith('itretail') ? 'itretail' : field;
    const el = $(`#settings-form .field-error[data-field="${key}"]`);
    if (el) el.textContent = el.textContent ? `${el.textContent} ${msg}` : msg;
  }
}

async function saveSettings(ev) {
  ev?.preventDefault();
  const f = $('#settings-form');
  const section = $('#settings');
  const body = {
    pointsPerDollar: f.pointsPerDollar.value.trim(),
    includeTestOrders: f.includeTestOrders.checked,
    excludeTax: f.excludeTax.checked,
    excludeGiftCards: f.excludeGiftCards.checked,
    includeShipping: f.includeShipping.checked,
    orderRetentionDays: Number(f.orderRetentionDays.value),
    paused: f.paused.checked,
    redemption: redemptionFromForm(f),
  };
  const creds = credentialsFromForm();
  if (creds) body.itretail = creds;
  // A "Saved." left from an earlier save must not stand for this one while it is on its way.
  $('#settings-result').textContent = 'Saving…';
  try {
    const s = await api('/api/settings', { method: 'PUT', body });
    clearError(section);
    showFieldErrors({});
    fillSettings(s);
    $('#settings-result').textContent = 'Saved.';
    toast('Settings saved');
    loadOverview();
  } catch (err) {
    showFieldErrors(err.body?.fields);
    $('#settings-result').textContent = '';
    showError(section, err);
  }
}

async function testConnection() {
  const out = $('#test-result');
  out.textContent = 'Testing…';
  try {
    const creds = credentialsFromForm();
    const r = await api('/api/settings/test-connection', {
      method: 'POST',
      body: creds ? { itretail: creds } : {},
    });
    out.className = r.ok ? 'ok' : 'warn';
    out.textContent = r.message;
  } catch (err) {
    out.className = 'warn';
    out.textContent = err.message;
    showFieldErrors(err.body?.fields);
  }
}

// ------------------------------------------------------------------ wiring

/** Reloads the overview, failures and activity together; resolves to the overview. */
async function refreshAll() {
  const [o] = await Promise.all([loadOverview(), loadFailures(), loadActivity(), loadUncertain()]);
  return o;
}

/**
 * After a retry or resync: refresh every couple of seconds while this shop has jobs waiting or running,
 * then once more (the last job may finish between the reads of one refresh), then call `done`.
 * Bounded, so a job that waits a long backoff is left to the regular refresh.
 */
let followTimer;
let followDone = [];
function followQueue(done) {
  if (done) followDone.push(done);
  let rounds = 30;
  let settled = false;
  const tick = async () => {
    const o = await refreshAll();
    const q = o?.queue;
    const pending = q ? q.waiting + q.active > 0 : true;
    rounds--;
    if ((pending || !settled) && rounds > 0) {
      settled = !pending;
      followTimer = setTimeout(tick, 2000);
      return;
    }
    const callbacks = followDone;
    followDone = [];
    for (const cb of callbacks) cb();
  };
  clearTimeout(followTimer);
  followTimer = setTimeout(tick, 1000);
}

function init() {
  $('#retry-all').addEventListener('click', retryAll);
  $('#failures-more').addEventListener('click', () => loadFailures(true));
  $('#activity-more').addEventListener('click', () => loadActivity(true));
  $('#activity-filters').addEventListener('change', () => loadActivity());
  $('#lookup-form').addEventListener('submit', lookup);
  $('#lookup-submit').addEventListener('click', lookup);
  $('#link-start').addEventListener('click', startLink);
  $('#catch-up-start').addEventListener('click', startCatchUp);
  $('#settings-form').addEventListener('submit', saveSettings);
  $('#settings-save').addEventListener('click', saveSettings);
  $('#test-connection').addEventListener('click', testConnection);
  $('#data-requests-refresh').addEventListener('click', loadDataRequests);
  $('#settings-form [name=authKind]').addEventListener('change', authKindChanged);
  if (!window.shopify?.idToken) {
    $('#global-error').replaceChildren(
      h(
        's-banner',
        { tone: 'critical', class: 'banner critical' },
        'App Bridge did not load. Open this app from the Shopify admin.',
      ),
    );
    return;
  }
  refreshAll();
  loadSettings();
  loadLinkProgress();
  loadCatchUp();
  loadDataRequests();
  setInterval(() => {
    if (document.visibilityState === 'visible') {
      loadOverview();
      if (!failuresPaged) loadFailures();
      loadUncertain();
      if (!activityPaged) loadActivity();
    }
  }, 15000);
}

window.addEventListener('error', (e) => {
  $('#global-error')?.replaceChildren(
    h(
      's-banner',
      { tone: 'critical', class: 'banner critical' },
      `Something went wrong on this page: ${e.message}`,
    ),
  );
});

init();
