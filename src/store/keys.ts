/**
 * The one place that names Redis keys. Every key starts with the configured prefix, so several
 * installations (and every test file) can share one Redis without touching each other's data.
 * Shop-scoped keys put the shop second, in a hash tag (`<prefix>:shop:{<shop>}:…`): on a Redis Cluster all
 * of a shop's keys share one hash slot, so every script and transaction over them runs on one node, and
 * different shops spread over all nodes. Erasing a shop is a SCAN over `<prefix>:shop:{<shop>}:*` on the
 * node that holds it.
 */
export type Keys = ReturnType<typeof createKeys>;

export function createKeys(prefix: string) {
  const shopKey = (shop: string, ...parts: (string | number)[]) =>
    [prefix, 'shop', `{${shop}}`, ...parts].join(':');
  return {
    prefix,
    /** BullMQ's key prefix; each queue shard adds its own hash tag to it (see queue/shards.ts). */
    bullPrefix: `${prefix}:bull`,
    shopPattern: (shop: string) => `${shopKey(shop)}:*`,
    shop: shopKey,
    /** Keys read across shops (the shop registry, session ids of unknown shape): each is one key alone. */
    global: (...parts: (string | number)[]) => [prefix, 'global', ...parts].join(':'),
  };
}
