/** A Shopify shop's permanent domain, `<name>.myshopify.com`: the one pattern every entry point checks. */
export const SHOP_DOMAIN = /^[a-z0-9][a-z0-9-]*\.myshopify\.com$/;

/** The shop domain, trimmed and lower-cased, or undefined when the value is not one. */
export function validShopDomain(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const v = value.trim().toLowerCase();
  return SHOP_DOMAIN.test(v) ? v : undefined;
}
