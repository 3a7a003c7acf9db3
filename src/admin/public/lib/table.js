// @ts-check
// Tables as Polaris draws them (s-table), with numeric columns right-aligned. Without Polaris, app.css lays
// the same elements out as a table, and as labelled cards on a phone (each cell carries its column's name).

import { h } from './dom.js';

/**
 * @typedef {{label: string, numeric?: boolean}} Column
 * @typedef {{cells: import('./dom.js').Child[], attrs?: import('./dom.js').Attrs}} Row
 */

/**
 * @param {Column[]} columns
 * @param {Row[]} rows
 * @param {{empty?: string, attrs?: import('./dom.js').Attrs}} [opts]
 */
export function table(columns, rows, opts = {}) {
  const header = h(
    's-table-header-row',
    {},
    columns.map((c) => h('s-table-header', { format: c.numeric ? 'numeric' : undefined }, c.label)),
  );
  const body = h('s-table-body', {});
  appendRows(body, columns, rows);
  const t = h('s-table', opts.attrs ?? {}, header, body);
  if (!rows.length && opts.empty) {
    body.append(h('s-table-row', { class: 'empty' }, h('s-table-cell', { 'data-label': '' }, opts.empty)));
  }
  return t;
}

/**
 * Adds rows to a table's body (for "Show more").
 * @param {Element} body
 * @param {Column[]} columns
 * @param {Row[]} rows
 */
export function appendRows(body, columns, rows) {
  for (const r of rows) {
    body.append(
      h(
        's-table-row',
        r.attrs ?? {},
        r.cells.map((c, i) =>
          h(
            's-table-cell',
            { class: columns[i]?.numeric ? 'num' : undefined, 'data-label': columns[i]?.label ?? '' },
            c,
          ),
        ),
      ),
    );
  }
}
