import { abstractFetch, setAbstractFetchFunc } from '@shopify/shopify-api/runtime';
import { SHOP_DOMAIN } from '../../src/shop-domain.js';

/**
 * Sends the Shopify library's requests for chosen shops to another origin (a local stand-in for
 * Shopify in tests and in the demo). The library builds every URL as `https://<shop>/admin/...` and
 * makes every request through one replaceable fetch function; this wraps that function and rewrites
 * only the origin of requests whose host is a shop the resolver knows. Nothing else changes: the
 * library still validates the shop, signs nothing differently and parses the same answers.
 *
 * Process-wide by nature (the library keeps one fetch function). A test double: src/ never imports it; the
 * tests and the demo install it themselves.
 */
export type ShopOriginResolver = (shop: string) => string | undefined;

let installed: ShopOriginResolver[] | undefined;

export function routeShopRequests(resolver: ShopOriginResolver): () => void {
  if (!installed) {
    installed = [];
    const resolvers = installed;
    const original = abstractFetch as unknown as typeof fetch;
    const routed = (input: string | URL | Request, init?: RequestInit) => {
      const url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
      // The most recently added resolver wins, so a narrower override can sit on top of a broad one.
      for (let i = resolvers.length - 1; i >= 0; i--) {
        const origin = resolvers[i]?.(url.hostname);
        if (origin) {
          const target = new URL(`${url.pathname}${url.search}`, origin);
          return original(
            typeof input === 'string' || input instanceof URL ? target : new Request(target, input),
            init,
          );
        }
      }
      return original(input, init);
    };
    setAbstractFetchFunc(routed as never);
  }
  installed.push(resolver);
  return () => {
    const i = installed?.indexOf(resolver) ?? -1;
    if (i >= 0) installed?.splice(i, 1);
  };
}

/** Every shop (`<name>.myshopify.com`) to `origin`, e.g. a ShopifyAdminFake's. Returns the undo. */
export function routeAllShops(origin: string): () => void {
  return routeShopRequests((host) => (SHOP_DOMAIN.test(host) ? origin : undefined));
}
