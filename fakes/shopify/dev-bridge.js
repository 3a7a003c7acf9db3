// Development sign-in only: stands in for App Bridge outside Shopify's admin. Provides the part of the
// `shopify` global the page uses — idToken() — with tokens minted by the local server (never served in
// production). The sections of the page ask for a token at the same moment: they share ONE request, and
// its token until shortly before it expires.
(() => {
  const shop = document.currentScript?.dataset.shop ?? '';
  /** @type {{token: string, until: number} | undefined} */
  let current;
  /** @type {Promise<{token: string, until: number}> | undefined} */
  let inflight;
  const fetchToken = async () => {
    const res = await fetch(`/dev/session-token?shop=${encodeURIComponent(shop)}`, { method: 'POST' });
    if (!res.ok) throw new Error(`development sign-in refused (${res.status})`);
    const { token } = await res.json();
    return { token, until: Date.now() + 40_000 };
  };
  window.shopify = {
    async idToken() {
      if (current && current.until > Date.now()) return current.token;
      inflight ??= fetchToken()
        .then((t) => {
          current = t;
          return t;
        })
        .finally(() => {
          inflight = undefined;
        });
      return (await inflight).token;
    },
    toast: {
      show(message) {
        const el = document.createElement('div');
        el.className = 'dev-toast';
        el.style.cssText =
          'position:fixed;bottom:16px;left:50%;transform:translateX(-50%);background:#303030;color:#fff;padding:8px 14px;border-radius:8px';
        el.textContent = message;
        document.body.append(el);
        setTimeout(() => el.remove(), 3000);
      },
    },
  };
})();
