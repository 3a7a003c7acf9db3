// The part of App Bridge's `shopify` global the page uses (the real one, or the development stand-in).
interface ShopifyGlobal {
  idToken(): Promise<string>;
  toast?: { show(message: string): void };
  saveBar?: { show(id: string): Promise<void>; hide(id: string): Promise<void> };
}
interface Window {
  shopify: ShopifyGlobal;
}
