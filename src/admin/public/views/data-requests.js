// @ts-check
// Customer data requests: the reports the app prepared (kept 30 days), each downloadable as JSON.

import { api, download } from '../lib/api.js';
import { fill, h, showError, time } from '../lib/dom.js';
import { table } from '../lib/table.js';

/**
 * @param {import('./context.js').AppContext} _ctx
 * @returns {import('./context.js').View}
 */
export function createDataRequests(_ctx) {
  const error = h('div', { class: 'section-error', role: 'alert' });
  const note = h('span', { class: 'muted' });
  const refresh = h('s-button', { class: 'refresh' }, 'Refresh');
  const box = h('div', { class: 'data-requests-table' }, h('p', { class: 'muted' }, 'Loading…'));
  const el = h(
    'section',
    { class: 'view', id: 'data-requests', 'aria-label': 'Data requests' },
    error,
    h(
      'p',
      {},
      'When a customer asks your store for their data, the app prepares a report of what it holds about them, kept for 30 days. Download it and send it to the customer.',
    ),
    h('div', { class: 'toolbar' }, refresh, note),
    box,
  );

  /** @param {any} d */
  function downloadButton(d) {
    const b = h('s-button', { class: 'download', 'data-request-id': d.id }, 'Download');
    b.addEventListener('click', async () => {
      try {
        await download(`/api/data-requests/${encodeURIComponent(d.id)}`, `data-request-${d.id}.json`);
        fill(error);
      } catch (err) {
        showError(error, err);
      }
    });
    return b;
  }

  async function load() {
    try {
      const r = await api('/api/data-requests');
      fill(error);
      fill(
        note,
        r.complete ? '' : `Showing the ${r.requests.length} newest; older reports may not be listed.`,
      );
      fill(
        box,
        table(
          [{ label: 'Prepared' }, { label: 'Customer' }, { label: 'Request' }, { label: '' }],
          r.requests.map((/** @type {any} */ d) => ({
            attrs: { 'data-request-id': d.id },
            cells: [
              time(d.at),
              d.email ?? (d.shopifyCustomerId ? `Shopify customer ${d.shopifyCustomerId}` : '—'),
              d.id,
              downloadButton(d),
            ],
          })),
          { empty: 'No customer data requests in the last 30 days.' },
        ),
      );
    } catch (err) {
      showError(error, err);
    }
  }
  refresh.addEventListener('click', () => load());

  return { id: 'data-requests', title: 'Data requests', el, load };
}
