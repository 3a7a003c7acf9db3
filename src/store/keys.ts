/**
 * The one place that names Redis keys. Every key starts with the configured prefix, so several
 * installations (and every test file) can share one Redis without touching each other's data.
 * Shop-scoped keys put the shop second, in a hash tag (`<prefix>:shop:{<shop>}:…`): on a Redis Cluster all
 * of a shop's keys share one hash slot, so every script and transaction over them runs on one node, and
 * different shops spread over all nodes. Erasing a shop is a SCAN over `<prefix>:shop:{<shop>}:*` on the
 * node that holds it.
 *
 * The strings are persisted (data already in Redis, the cluster's hash tags): a key's text never changes.
 */
export type Keys = ReturnType<typeof createKeys>;

type ShopKey = (shop: string, ...parts: (string | number)[]) => string;

export function createKeys(prefix: string) {
  // Built by concatenation: the worker names a few dozen keys per job, and an array per name showed in its
  // CPU profile.
  const shopKey: ShopKey = (shop, ...parts) => {
    let key = `${prefix}:shop:{${shop}}`;
    for (const part of parts) key += `:${part}`;
    return key;
  };
  /** Keys read across shops (the shop registry, session ids of unknown shape): each is one key alone. */
  const global = (...parts: (string | number)[]) => [prefix, 'global', ...parts].join(':');
  return {
    prefix,
    /** BullMQ's key prefix; each queue shard adds its own hash tag to it (see queue/shards.ts). */
    bullPrefix: `${prefix}:bull`,
    /** Any shop key built from its parts (tests, migrations); the app uses the named keys below. */
    shop: shopKey,
    shopPattern: (shop: string) => `${shopKey(shop)}:*`,
    ...installKeys(shopKey, global),
    ...customerKeys(shopKey),
    ...lockKeys(shopKey),
    ...orderKeys(shopKey),
    ...writeKeys(shopKey),
    ...itretailKeys(shopKey),
    ...catchUpKeys(shopKey),
    ...eventKeys(shopKey),
    ...privacyKeys(shopKey),
    ...storefrontKeys(shopKey),
  };
}

/** The shop and its install. */
function installKeys(shopKey: ShopKey, global: (...parts: string[]) => string) {
  return {
    /** Every shop the app has seen (set; the scheduled jobs walk it). */
    shops: () => global('shops'),
    /** The shop's settings (hash; credentials encrypted). */
    settings: (shop: string) => shopKey(shop, 'settings'),
    /** One Shopify session (string, encrypted). */
    session: (shop: string, id: string) => shopKey(shop, 'session', id),
    /** Every session of the shop (pattern; app/uninstalled removes them). */
    sessionPattern: (shop: string) => shopKey(shop, 'session', '*'),
    /** The shop's session ids (set). */
    sessionIds: (shop: string) => shopKey(shop, 'session', '#ids'),
    /** Session id → shop, for ids that do not name their shop (hash). */
    sessionShop: () => global('session-shop'),
  };
}

/** Customers: links and the email index (sync/matching.ts). */
function customerKeys(shopKey: ShopKey) {
  return {
    /** Normalized email → IT Retail customer id (hash). */
    linkEmail: (shop: string) => shopKey(shop, 'link', 'email'),
    /** Shopify customer id → IT Retail customer id (hash). */
    linkCustomer: (shop: string) => shopKey(shop, 'link', 'customer'),
    /** The email index of IT Retail's customers: email → `id|cardNo` (hash), its duplicates, its state. */
    emailIndex: (shop: string) => shopKey(shop, 'idx'),
    emailDups: (shop: string) => shopKey(shop, 'dups'),
    emailIndexMeta: (shop: string) => shopKey(shop, 'idx:meta'),
    emailIndexTmp: (shop: string, suffix: string) => shopKey(shop, 'idx:tmp', suffix),
    emailDupsTmp: (shop: string, suffix: string) => shopKey(shop, 'dups:tmp', suffix),
    /** An IT Retail customer confirmed gone (string with a TTL). */
    gone: (shop: string, itrId: string) => shopKey(shop, 'gone', itrId),
    /** Shopify's `updated_at` of the newest customers/* payload applied, per Shopify customer (hash). */
    customerUpdatedAt: (shop: string) => shopKey(shop, 'customer-updated-at'),
    /** The link-existing run's progress (hash). */
    linkExisting: (shop: string) => shopKey(shop, 'link-existing'),
  };
}

/** Locks (sync/locks.ts). */
function lockKeys(shopKey: ShopKey) {
  return {
    customerLock: (shop: string, itrId: string) => shopKey(shop, 'lock', 'cust', itrId),
    orderLock: (shop: string, orderId: string) => shopKey(shop, 'lock', 'order', orderId),
    emailLock: (shop: string, emailHash: string) => shopKey(shop, 'lock', 'email', emailHash),
    indexLock: (shop: string) => shopKey(shop, 'lock', 'idx'),
    metafieldSyncLock: (shop: string) => shopKey(shop, 'lock', 'metafield-sync'),
  };
}

/** Orders (sync/order-state.ts, retention.ts). */
function orderKeys(shopKey: ShopKey) {
  return {
    order: (shop: string, orderId: string) => shopKey(shop, 'order', orderId),
    ordersByEmail: (shop: string, email: string) => shopKey(shop, 'orders-by-email', email),
    ordersByCustomer: (shop: string, shopifyCustomerId: string) =>
      shopKey(shop, 'orders-by-customer', shopifyCustomerId),
    ordersByChange: (shop: string) => shopKey(shop, 'orders-by-change'),
    orderLedger: (shop: string) => shopKey(shop, 'order-ledger'),
    ordersNeedingRead: (shop: string) => shopKey(shop, 'orders-needing-read'),
  };
}

/** Writes to IT Retail (sync/ledger.ts). */
function writeKeys(shopKey: ShopKey) {
  return {
    pending: (shop: string, itrId: string) => shopKey(shop, 'pending', itrId),
    /** Every pending write of the shop (pattern). */
    pendingPattern: (shop: string) => `${shopKey(shop, 'pending')}:*`,
    uncertain: (shop: string, itrId: string) => shopKey(shop, 'uncertain', itrId),
    uncertainWrites: (shop: string) => shopKey(shop, 'uncertain-writes'),
    held: (shop: string, itrId: string) => shopKey(shop, 'held', itrId),
    writeMarker: (shop: string, writeId: string) => shopKey(shop, 'write', writeId),
    restoreDue: (shop: string, itrId: string) => shopKey(shop, 'restore-due', itrId),
    jobOutcome: (shop: string, jobId: string) => shopKey(shop, 'job-outcome', jobId),
  };
}

/** IT Retail's state for the shop. */
function itretailKeys(shopKey: ShopKey) {
  return {
    /** Set while IT Retail's Retry-After for the shop runs; its TTL is the time left. */
    itretailThrottle: (shop: string) => shopKey(shop, 'itretail-throttle'),
    itretailHealth: (shop: string) => shopKey(shop, 'itretail-health'),
  };
}

/** The catch-up from the Admin API (sync/catch-up-state.ts). */
function catchUpKeys(shopKey: ShopKey) {
  return {
    catchUp: (shop: string) => shopKey(shop, 'catch-up'),
    catchUpRecovered: (shop: string, runId: string) => shopKey(shop, 'catch-up-recovered', runId),
    catchUpDue: (shop: string) => shopKey(shop, 'catch-up-due'),
  };
}

/** Sync events (sync/events.ts) and jobs. */
function eventKeys(shopKey: ShopKey) {
  return {
    /** A sync event key (`ev:<parts>`: data, idx, st:<status>, tp:<topic>, …; none: the events' root). */
    events: (shop: string, ...parts: string[]) => shopKey(shop, 'ev', ...parts),
    /** Marks a stalled job's failure as recorded (string with a TTL). */
    stalledRecorded: (shop: string, marker: string) => shopKey(shop, 'stalled-recorded', marker),
    /** Failures the merchant dismissed because no retry can help (hash: event id → when). */
    failuresDismissed: (shop: string) => shopKey(shop, 'failures-dismissed'),
  };
}

/** Privacy (sync/jobs/privacy.ts). */
function privacyKeys(shopKey: ShopKey) {
  return {
    dataRequest: (shop: string, id: string) => shopKey(shop, 'data-request', id),
    /** The shop's data request report ids, scored by when each was prepared (sorted set). */
    dataRequests: (shop: string) => shopKey(shop, 'data-requests'),
  };
}

/** Storefront. */
function storefrontKeys(shopKey: ShopKey) {
  return {
    storefrontBalance: (shop: string, customerId: string) =>
      shopKey(shop, 'storefront', 'balance', customerId),
    /** The shop's register purchases of one day (GetCustomerProductPurchases, cached). */
    registerPurchases: (shop: string, day: string) => shopKey(shop, 'storefront', 'purchases', day),
    /** A redemption (ref `<Shopify customer>:<key>`): its hash carries the points it took. */
    redemption: (shop: string, ref: string) => shopKey(shop, 'redemption', ref),
    /** A Shopify customer's redemptions (sorted set by time). */
    redemptionsOf: (shop: string, customerId: string) => shopKey(shop, 'redemptions', customerId),
    /** Redemptions by when their code expires (sorted set). */
    redemptionsExpiring: (shop: string) => shopKey(shop, 'redemptions-expiring'),
    /** Shopify customer → balance the `$app.loyalty_points` metafield still has to get. */
    metafieldDirty: (shop: string) => shopKey(shop, 'metafield', 'dirty'),
    /** IT Retail id → the Shopify customer whose metafield shows its balance. */
    metafieldOwner: (shop: string) => shopKey(shop, 'metafield', 'owner'),
    /** Shopify customer → the balance last written to the metafield and when. */
    metafieldWritten: (shop: string) => shopKey(shop, 'metafield', 'written'),
    metafieldErrors: (shop: string) => shopKey(shop, 'metafield', 'errors'),
    metafieldStats: (shop: string) => shopKey(shop, 'metafield', 'stats'),
  };
}
