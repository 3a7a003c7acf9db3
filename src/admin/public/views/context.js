// @ts-check
// What every view receives from the page, and what it gives back.

/**
 * @typedef {object} AppContext
 * @property {(section: string) => void} navigate Shows another section.
 * @property {() => void} follow Refreshes every couple of seconds while this shop's jobs run, then once more.
 * @property {(section: string) => void} changed Tells the page a section's data changed (reload when shown).
 *
 * @typedef {object} View
 * @property {string} id
 * @property {string} title
 * @property {HTMLElement} el
 * @property {() => Promise<any>} load Loads the section's data (again).
 * @property {() => boolean} [busy] True while a reload would take away what the merchant is doing.
 */

export {};
