import { describe, expect, it } from 'vitest';
import { createKeys } from '../../src/store/keys.js';

/**
 * Every key's text is persisted: data already in Redis is read through it, and its hash tag decides the
 * cluster slot. These are the strings the app wrote before the keys had names; none may change.
 */
describe('Redis key names', () => {
  const k = createKeys('p');
  const S = 'a-shop.myshopify.com';
  const shop = (rest: string) => `p:shop:{${S}}:${rest}`;

  it('keep the text each key was always stored under', () => {
    const expected: [string, string][] = [
      [k.shops(), 'p:global:shops'],
      [k.sessionShop(), 'p:global:session-shop'],
      [k.shopPattern(S), shop('*')],
      [k.settings(S), shop('settings')],
      [k.session(S, 'offline_x'), shop('session:offline_x')],
      [k.sessionPattern(S), shop('session:*')],
      [k.sessionIds(S), shop('session:#ids')],
      [k.linkEmail(S), shop('link:email')],
      [k.linkCustomer(S), shop('link:customer')],
      [k.emailIndex(S), shop('idx')],
      [k.emailDups(S), shop('dups')],
      [k.emailIndexMeta(S), shop('idx:meta')],
      [k.emailIndexTmp(S, 'x1'), shop('idx:tmp:x1')],
      [k.emailDupsTmp(S, 'x1'), shop('dups:tmp:x1')],
      [k.gone(S, 'abc'), shop('gone:abc')],
      [k.customerUpdatedAt(S), shop('customer-updated-at')],
      [k.linkExisting(S), shop('link-existing')],
      [k.customerLock(S, 'c1'), shop('lock:cust:c1')],
      [k.orderLock(S, '7'), shop('lock:order:7')],
      [k.emailLock(S, 'h'), shop('lock:email:h')],
      [k.indexLock(S), shop('lock:idx')],
      [k.order(S, '7'), shop('order:7')],
      [k.ordersByEmail(S, 'a@b.c'), shop('orders-by-email:a@b.c')],
      [k.ordersByCustomer(S, '9'), shop('orders-by-customer:9')],
      [k.ordersByChange(S), shop('orders-by-change')],
      [k.orderLedger(S), shop('order-ledger')],
      [k.ordersNeedingRead(S), shop('orders-needing-read')],
      [k.pending(S, 'c1'), shop('pending:c1')],
      [k.pendingPattern(S), shop('pending:*')],
      [k.uncertain(S, 'c1'), shop('uncertain:c1')],
      [k.uncertainWrites(S), shop('uncertain-writes')],
      [k.held(S, 'c1'), shop('held:c1')],
      [k.writeMarker(S, 'w1'), shop('write:w1')],
      [k.restoreDue(S, 'c1'), shop('restore-due:c1')],
      [k.jobOutcome(S, 'j1'), shop('job-outcome:j1')],
      [k.itretailThrottle(S), shop('itretail-throttle')],
      [k.itretailHealth(S), shop('itretail-health')],
      [k.catchUp(S), shop('catch-up')],
      [k.catchUpRecovered(S, 'r1'), shop('catch-up-recovered:r1')],
      [k.catchUpDue(S), shop('catch-up-due')],
      [k.events(S), shop('ev')],
      [k.events(S, 'st', 'failed'), shop('ev:st:failed')],
      [k.stalledRecorded(S, 'j1:0'), shop('stalled-recorded:j1:0')],
      [k.failuresDismissed(S), shop('failures-dismissed')],
      [k.dataRequest(S, '77'), shop('data-request:77')],
      [k.dataRequests(S), shop('data-requests')],
      [k.storefrontBalance(S, '5'), shop('storefront:balance:5')],
    ];
    for (const [actual, want] of expected) expect(actual).toBe(want);
  });

  it('name every key of the app (a new key gets a line above)', () => {
    const named = Object.keys(k).filter((n) => !['prefix', 'bullPrefix', 'shop'].includes(n));
    expect(named).toHaveLength(46);
  });
});
