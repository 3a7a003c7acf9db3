/*
 * Loyalty balance block: the live IT Retail balance from the app proxy, and Redeem.
 *   GET  /apps/loyalty/balance → {points, value, currency, linked, redemption: {enabled, minimumPoints, …}}
 *   POST /apps/loyalty/redeem  {points, key} → {code, pointsRedeemed, points, value, expiresAt}
 * Shopify signs both on their way to the app; the shopper is the signed-in customer. One key per
 * redemption: a double click or a retry after a lost answer sends the same key, so it is one redemption.
 */
(() => {
  const locale = document.documentElement.lang || undefined;

  function uuid() {
    if (window.crypto?.randomUUID) return window.crypto.randomUUID();
    const b = window.crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  function money(value, currency) {
    try {
      return new Intl.NumberFormat(locale, { style: 'currency', currency }).format(Number(value));
    } catch {
      return `${value} ${currency}`;
    }
  }

  /** The answer's JSON, or an Error carrying the server's own message (`{error}`) and the status. */
  async function call(url, init) {
    let res;
    try {
      res = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' }, ...init });
    } catch {
      const err = new Error('');
      err.status = 0;
      throw err;
    }
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    if (!res.ok) {
      const err = new Error(body && typeof body.error === 'string' ? body.error : '');
      err.status = res.status;
      throw err;
    }
    return body;
  }

  function init(root) {
    if (root.dataset.signedIn !== 'true' || root.dataset.itrbReady) return;
    root.dataset.itrbReady = '1';
    const $ = (sel) => root.querySelector(sel);
    const proxy = root.dataset.proxyUrl;
    const str = root.dataset;
    const form = $('[data-itrb-redeem]');
    const input = form.querySelector('input[name=points]');
    const button = form.querySelector('button');
    const errorBox = $('[data-itrb-error]');
    let pending = null; // {points, key} of a redemption whose answer has not arrived
    let busy = false;

    function showError(message) {
      errorBox.textContent = message;
      errorBox.hidden = !message;
    }

    function showBalance(b) {
      $('[data-itrb-points]').textContent = new Intl.NumberFormat(locale).format(b.points);
      if (b.value !== undefined && b.currency) {
        $('[data-itrb-value]').textContent = money(b.value, b.currency);
        $('[data-itrb-value-text]').hidden = false;
      }
      const r = b.redemption;
      if (r) {
        input.min = String(r.minimumPoints);
        input.step = String(r.stepPoints);
        const most = Math.min(r.maximumPoints, b.points - (b.points % r.stepPoints));
        input.max = String(most);
        if (!input.value) input.value = String(r.minimumPoints);
        form.hidden = !(r.enabled && b.linked && most >= r.minimumPoints);
      }
    }

    function showCode(c) {
      $('[data-itrb-code-text]').textContent = c.code;
      $('[data-itrb-apply]').href = `/discount/${encodeURIComponent(c.code)}?redirect=%2Fcart`;
      if (c.expiresAt) {
        $('[data-itrb-expires]').textContent = new Date(c.expiresAt).toLocaleDateString(locale);
        $('[data-itrb-expires-label]').hidden = false;
      }
      $('[data-itrb-code]').hidden = false;
    }

    async function refresh() {
      try {
        showBalance(await call(`${proxy}/balance`));
      } catch (err) {
        // The first paint (the metafield) stays; the live balance is a refinement.
        console.warn('Loyalty balance unavailable', err.status, err.message);
      }
    }

    async function redeem(ev) {
      ev.preventDefault();
      if (busy) return; // a double click: the first request is the redemption
      const points = Number(input.value);
      // A retry of a redemption whose answer was lost keeps its key; a new amount is a new redemption.
      if (!pending || pending.points !== points) pending = { points, key: uuid() };
      busy = true;
      button.disabled = true;
      const label = button.textContent;
      button.textContent = str.strRedeeming;
      showError('');
      try {
        let c;
        // 202: the code is on its way; the same key asks again (it answers the same redemption).
        for (let tries = 0; ; tries++) {
          c = await call(`${proxy}/redeem`, {
            method: 'POST',
            headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
            body: JSON.stringify(pending),
          });
          if (c?.code) break;
          if (tries >= 20) {
            const err = new Error(c?.message || '');
            err.status = 202;
            throw err;
          }
          await new Promise((r) => setTimeout(r, 1500));
        }
        pending = null;
        showCode(c);
        if (typeof c.points === 'number') {
          $('[data-itrb-points]').textContent = new Intl.NumberFormat(locale).format(c.points);
        }
        refresh();
      } catch (err) {
        // Refused (4xx): that redemption is over, the next try is a new one. No answer or 5xx: it may have
        // happened, so the same key goes again and the server answers what it did.
        if (err.status >= 400 && err.status < 500) pending = null;
        showError(err.message ? `${str.strFailed}: ${err.message}` : str.strTryAgain);
      } finally {
        busy = false;
        button.disabled = false;
        button.textContent = label;
      }
    }

    async function copy() {
      const code = $('[data-itrb-code-text]').textContent;
      const btn = $('[data-itrb-copy]');
      try {
        await navigator.clipboard.writeText(code);
      } catch {
        const range = document.createRange();
        range.selectNodeContents($('[data-itrb-code-text]'));
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        document.execCommand('copy');
      }
      btn.textContent = str.strCopied;
      setTimeout(() => {
        btn.textContent = str.strCopy;
      }, 2000);
    }

    form.addEventListener('submit', redeem);
    $('[data-itrb-copy]').addEventListener('click', copy);
    refresh();
  }

  function start() {
    for (const root of document.querySelectorAll('[data-itrb-loyalty]')) init(root);
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
  // The theme editor re-renders a block in place.
  document.addEventListener('shopify:section:load', start);
})();
