/**
 * The one place that names Redis keys. Every key starts with the configured prefix, so several
 * installations (and every test file) can share one Redis without touching each other's data.
 * Shop-scoped keys put the shop second, so erasing a shop is a SCAN over `<prefix>:shop:<shop>:*`.
 */
export type Keys = ReturnType<typeof createKeys>;

export function createKeys(prefix: string) {
  const shopKey = (shop: string, ...parts: (string | number)[]) => [prefix, 'shop', shop, ...parts].join(':');
  return {
    prefix,
    /** BullMQ's own key prefix (queues live under `<prefix>:bull:<queue>:*`). */
    bullPrefix: `${prefix}:bull`,
    shopPattern: (shop: string) => `${shopKey(shop)}:*`,
    shop: shopKey,
    global: (...parts: (string | number)[]) => [prefix, 'global', ...parts].join(':'),
  };
}
