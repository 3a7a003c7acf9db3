import type { Redis } from 'ioredis';
import { AppError, type Deferral } from '../errors.js';
import { SETTINGS_DIGEST_LUA } from '../settings.js';
import type { Keys } from '../store/keys.js';
import { ledgerKeys } from './ledger.js';
import {
  acquireLock,
  heldLock,
  type Lock,
  type LockOptions,
  LockPreludeStop,
  newLockToken,
} from './locks.js';
import { MERGE_ORDER_FACTS, type OrderMergeCall } from './order-state.js';
import type { OrderState } from './points.js';

/**
 * An order's facts merged in the order lock's script, ahead of taking the lock (the merge is idempotent and
 * commutative, so it needs no lock, and being in the same script nothing can reorder it with the read).
 */
export interface OrderMerge {
  call: OrderMergeCall;
  /**
   * The order was compacted after the retention horizon and these facts cannot restore it: a reason to skip
   * it, or undefined once the order was restored another way (read from Shopify and merged); then the
   * reconcile goes on.
   */
  compacted(): Promise<string | undefined>;
  /** Told the order's state as read with the lock (e.g. to name the order and its customer in the job). */
  seen?(state: OrderState): void;
}

/**
 * The order lock's script. Prelude, whether or not the lock is free: the job's facts merged into the order
 * (MERGE_ORDER_FACTS, run as a function over its own keys and arguments); a compacted order these facts
 * cannot restore stops the script before any lock is taken.
 * After the lock is taken: the order's hash and, for an order bound to a customer, that customer; else its
 * candidate: the Shopify customer's link ('customer'), else the email's link ('email'), else the index's
 * entry ('index', "<Id>|<CardNo>"). Then, when a customer lock token is given, the customer's lock is tried
 * once (never waited for) and, when taken, what withCustomer reads with it: pending write, uncertain write,
 * register changes to give back. Locks are taken order first, customer second, as everywhere.
 * The customer's keys are named from the shop's prefixes passed in ARGV: they carry the shop's hash tag,
 * so they are in the slot of the declared keys (Redis checks that on a cluster).
 * First of all, when the job holds the shop's settings from before (a settings digest is given): settings
 * that are no longer the shop's, or an IT Retail throttle on the shop, stop the script before anything is
 * merged or locked.
 * KEYS: lock, order, link:email, idx, link:customer, settings, IT Retail throttle, then the merge's keys.
 * ARGV: token, ttl, customer lock token ('' none), its ttl, prefixes of the customer lock, pending,
 * uncertain and restore-due keys, number of merge keys (0: no merge), settings digest ('' no check), then
 * the merge's arguments.
 */
const ORDER_LOCK_PRELUDE = `
local function mergeFacts(KEYS, ARGV)
${MERGE_ORDER_FACTS}
end
${SETTINGS_DIGEST_LUA}
if ARGV[10] ~= '' then
  if settingsDigest(redis.call('hgetall', KEYS[6])) ~= ARGV[10] then return { 'stop', 'settings' } end
  local wait = redis.call('pttl', KEYS[7])
  if wait > 0 then return { 'stop', 'throttled', wait } end
end
local nmk = tonumber(ARGV[9])
if nmk > 0 then
  local mk, ma = {}, {}
  for i = 1, nmk do mk[i] = KEYS[7 + i] end
  for i = 11, #ARGV do ma[#ma + 1] = ARGV[i] end
  if mergeFacts(mk, ma) == 0 then return { 'stop', 'compacted' } end
end`;

const ORDER_LOCK_READ = `
local h = redis.call('hgetall', KEYS[2])
local email, customer, bound = nil, nil, nil
for i = 1, #h, 2 do
  if h[i] == 'email' then email = h[i + 1]
  elseif h[i] == 'shopifyCustomerId' then customer = h[i + 1]
  elseif h[i] == 'itrCustomerId' and h[i + 1] ~= '' then bound = h[i + 1] end
end
local cand, via = '', ''
if bound then cand, via = bound, 'bound'
else
  if customer and customer ~= '' then
    local c = redis.call('hget', KEYS[5], customer)
    if c then cand, via = c, 'customer' end
  end
  if cand == '' and email and email ~= '' then
    local l = redis.call('hget', KEYS[3], email)
    if l then cand, via = l, 'email'
    else
      local i = redis.call('hget', KEYS[4], email)
      if i then cand, via = string.sub(i, 1, string.find(i, '|', 1, true) - 1), 'index' end
    end
  end
end
local cust = false
if cand ~= '' and ARGV[3] ~= '' and redis.call('set', ARGV[5] .. cand, ARGV[3], 'PX', ARGV[4], 'NX') then
  cust = { redis.call('get', ARGV[6] .. cand) or '', redis.call('get', ARGV[7] .. cand) or '',
    redis.call('hgetall', ARGV[8] .. cand) }
end
return { h, cand, via, cust }`;

/**
 * The shop's settings changed after the job read them (a pause, new credentials, another points rate):
 * the job is run again on the settings as they are now. Retried at once without using an attempt when it
 * happens again.
 */
export class SettingsChangedError extends AppError {
  override readonly code = 'SETTINGS_CHANGED' as const;
  constructor() {
    super('the shop’s settings changed while the job started; it runs again on the new ones', {
      retryable: true,
    });
  }
  override get deferral(): Deferral {
    return {};
  }
}

/** IT Retail asked the shop's traffic to wait (429 Retry-After): the job is put back until then. */
class ShopThrottledError extends AppError {
  override readonly code = 'ITR_THROTTLED' as const;
  constructor(readonly waitMs: number) {
    super(`IT Retail asked to slow down; waiting ${waitMs} ms`, { retryable: true });
  }
  override get deferral(): Deferral {
    return { ms: this.waitMs + Math.random() * 250 };
  }
}

export type Via = 'customer' | 'email' | 'index' | 'matched' | 'bound';

/** The order's lock and what its script read; the customer's lock too when the script could take it. */
interface OrderLockTaken {
  orderLock: Lock;
  /** The order's hash as HGETALL pairs. */
  pairs: unknown;
  /** The bound customer ('bound') or the candidate, '' for none. */
  linked: string;
  via: Via | '';
  /** The candidate's lock, taken by the same script (its `read` is what withCustomer reads with it). */
  custLock?: Lock;
}

/**
 * Takes the order's lock (waiting as LockOptions say), merging `merge`'s facts in the same script, and
 * tries the customer's lock once. 'compacted': the order was compacted and the facts cannot restore it
 * (nothing was written, no lock taken). With `settingsDigest` (see SETTINGS_DIGEST_LUA) the settings the
 * job holds are checked first: SettingsChangedError or ShopThrottledError, nothing written, no lock taken.
 */
export async function takeOrderLock(
  d: { redis: Redis; keys: Keys; customerLock?: LockOptions; orderLock?: LockOptions },
  shop: string,
  orderId: string,
  merge: OrderMerge | undefined,
  settingsDigest?: string,
): Promise<OrderLockTaken | 'compacted'> {
  const k = ledgerKeys(d.keys, shop);
  const custOpts: LockOptions = { ttlMs: 60_000, waitMs: 15_000, ...d.customerLock };
  const custToken = newLockToken();
  const custTtl = custOpts.ttlMs ?? 60_000;
  const read = {
    prelude: ORDER_LOCK_PRELUDE,
    lua: ORDER_LOCK_READ,
    keys: [
      k.order(orderId),
      k.linkEmail,
      d.keys.emailIndex(shop),
      k.linkCustomer,
      d.keys.settings(shop),
      d.keys.itretailThrottle(shop),
      ...(merge?.call.keys ?? []),
    ],
    args: [
      custToken,
      String(custTtl),
      k.custLock(''),
      k.pending(''),
      k.uncertain(''),
      k.restoreDue(''),
      String(merge?.call.keys.length ?? 0),
      settingsDigest ?? '',
      ...(merge?.call.args ?? []),
    ],
  };
  const lockOpts: LockOptions = { ttlMs: 60_000, waitMs: 20_000, ...d.orderLock };
  let orderLock: Lock;
  try {
    orderLock = await acquireLock(d.redis, k.orderLock(orderId), lockOpts, read);
  } catch (e) {
    if (!(e instanceof LockPreludeStop)) throw e;
    if (e.answer[1] === 'settings') throw new SettingsChangedError();
    if (e.answer[1] === 'throttled') throw new ShopThrottledError(Number(e.answer[2]));
    return 'compacted';
  }
  const [pairs, linked, via, custRead] = orderLock.read as [unknown, string, Via | '', unknown[] | null];
  const custLock = custRead
    ? heldLock(d.redis, k.custLock(linked), custToken, custTtl, custOpts.autoExtend !== false, [
        ...custRead,
        pairs,
      ])
    : undefined;
  return { orderLock, pairs, linked, via, custLock };
}
