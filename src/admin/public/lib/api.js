// @ts-check
// Calls of the session-token-protected JSON API with `await shopify.idToken()` as the bearer. Every failure
// becomes an ApiError whose message a merchant can act on.

import { h } from './dom.js';

export class ApiError extends Error {
  /**
   * @param {string} message
   * @param {number} status
   * @param {any} [body]
   */
  constructor(message, status, body) {
    super(message);
    this.status = status;
    this.body = body;
  }
}

/**
 * The API's message in words a merchant can act on; the API's own messages are plain already.
 * @param {number} status
 * @param {any} data
 */
function plainError(status, data) {
  const msg = typeof data?.error === 'string' ? data.error : undefined;
  if (status === 401) return 'Your Shopify session has expired. Reload the page from the Shopify admin.';
  if (status >= 500 && (!msg || msg === 'internal error')) {
    const ref = data?.requestId ? ` (reference ${data.requestId})` : '';
    return `The app ran into an unexpected problem${ref}. Try again in a minute.`;
  }
  if (!msg || msg === 'not found' || msg === 'bad request') {
    return 'The app could not handle this request. Reload the page and try again.';
  }
  return msg;
}

/**
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [opts]
 */
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

/** @param {Response} res */
async function failed(res) {
  let data = null;
  try {
    data = await res.json();
  } catch {
    /* not JSON */
  }
  return new ApiError(plainError(res.status, data), res.status, data);
}

/**
 * The API's JSON answer, or an ApiError.
 * @param {string} path
 * @param {{method?: string, body?: unknown}} [opts]
 * @returns {Promise<any>}
 */
export async function api(path, opts) {
  const res = await apiFetch(path, opts);
  if (!res.ok) throw await failed(res);
  try {
    return await res.json();
  } catch {
    return null;
  }
}

/**
 * The API's JSON answer, or `null` when the route is not there (404): for parts another release adds.
 * @param {string} path
 * @returns {Promise<any>}
 */
export async function apiIfPresent(path) {
  const res = await apiFetch(path);
  if (res.status === 404) return null;
  if (!res.ok) throw await failed(res);
  return res.json();
}

/**
 * Downloads an API answer as a file. A link cannot carry the session token, so the page fetches the file
 * itself and saves it through a blob URL, under the name the API gives it.
 * @param {string} path
 * @param {string} fallbackName
 */
export async function download(path, fallbackName) {
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
