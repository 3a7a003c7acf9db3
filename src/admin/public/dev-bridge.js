// Development sign-in only: stands in for App Bridge outside Shopify's admin. Provides the part of the
// `shopify` global the page uses — idToken() — with tokens minted by the local server (refused in production).
(() => {
  const shop = document.currentScript?.dataset.shop ?? '';
  let cached = null;
  window.shopify = {
    async idToken() {
      if (cached && cached.until > Date.now()) return cached.token;
      const res = await fetch(`/dev/session-token?shop=${encodeURIComponent(shop)}`, { method: 'POST' });
      if (!res.ok) throw new Error(`development sign-in refused (${res.status})`);
      const { token } = await res.json();
      cached = { token, until: Date.now() + 40_000 };
      return token;
    },
    toast: {
      show(message) {
        const el = document.createElement('div');
        el.className = 'dev-toast';
        el.textContent = message;
        document.body.append(el);
        setTimeout(() => el.remove(), 3000);
      },
    },
  };
})();
