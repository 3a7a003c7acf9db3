import { describe, expect, it } from 'vitest';
import {
  AuthenticationError,
  EmailTakenError,
  InvalidInputError,
  ITRetailError,
  isITRetailError,
  MalformedResponseError,
  NotFoundError,
  UnavailableError,
  WriteOutcomeUnknownError,
} from '../../src/itretail/errors.js';
import {
  customerRecordSchema,
  customerSummarySchema,
  expirationDateOf,
  FULL_RECORD_FIELDS,
  formatPurchaseDate,
  missingFullRecordFields,
  normalizePhone,
} from '../../src/itretail/schemas.js';
import { parseRetryAfter } from '../../src/itretail/transport.js';

// The seed article's GetOne example, verbatim.
const SEED_GETONE = `{
"Id": "c5b20c93-210c-464d-b533-58186aca4f4e", "CardNo": "0041234500897", "LastName": "Alonzo", "FirstName": "Theresa",
"BirthDate": null, "Address1": null, "Address2": null, "Phone": null, "City": null, "State": null, "Zip": null,
"CashBack": 0.0000, "Discount": 10, "FrequentShopper": null, "WriteChecks": true, "Type": null, "Purchases": 0.0000,
"NumberOfChecks": 0, "PointsEarned": 0, "Deleted": false, "Created": "2021-03-04T08:27:35.56",
"Modified": "2021-07-26T14:57:37.367", "ModifiedBy": 1, "ReceiptType": null, "Email": null, "Attributes": 4,
"TenantId": "85106598-08c9-45e0-8c53-9f7dcdf297ef", "PaymentToken": null, "Inc": 44727, "Balance": null,
"BalanceLimit": 500.0000, "LoyaltyPoints": 500, "expiration_date": "2021-03-16T05:00:00",
"CustomerBalanceOperations": [], "CustomerCoupons": [], "CustomerGroupCustomers": [],
"CustomerLoyaltyPointOperations": [], "TransactionLoyaltyOperations": []
}`;

describe('normalizePhone', () => {
  it.each([
    ['+16135550101', '6135550101'],
    ['6135550101', '6135550101'],
    ['(613) 555-0101', '6135550101'],
    ['613-555-0101', '6135550101'],
    ['613.555.0101', '6135550101'],
    ['1-613-555-0101', '6135550101'],
    ['+1 (613) 555-0101', '6135550101'],
    ['  16135550101 ', '6135550101'],
  ])('%s → %s', (input, want) => {
    expect(normalizePhone(input)).toBe(want);
  });

  it.each([
    ['+442071234567'],
    ['+1613555010'],
    ['555-0101'],
    ['26135550101'],
    ['613-555-0101 x12'],
    ['613-555-CALL'],
    ['61+35550101'],
    [''],
    ['   '],
  ])('%s cannot be made 10 digits → undefined', (input) => {
    expect(normalizePhone(input)).toBeUndefined();
  });

  it('null and undefined → undefined', () => {
    expect(normalizePhone(null)).toBeUndefined();
    expect(normalizePhone(undefined)).toBeUndefined();
  });
});

describe('formatPurchaseDate', () => {
  it('writes the local calendar day as MM/DD/YYYY with zero padding', () => {
    expect(formatPurchaseDate(new Date(2021, 2, 8))).toBe('03/08/2021');
    expect(formatPurchaseDate(new Date(2024, 11, 31, 23, 59))).toBe('12/31/2024');
    expect(formatPurchaseDate(new Date(2025, 0, 1, 0, 0))).toBe('01/01/2025');
  });
  it('refuses an invalid Date', () => {
    expect(() => formatPurchaseDate(new Date('nope'))).toThrow(RangeError);
  });
});

describe('schemas', () => {
  it('the seed GetOne record validates, with every documented field present', () => {
    const raw = JSON.parse(SEED_GETONE);
    expect(customerRecordSchema.safeParse(raw).success).toBe(true);
    expect(missingFullRecordFields(raw)).toEqual([]);
    expect(Object.keys(raw).sort()).toEqual([...FULL_RECORD_FIELDS].sort());
  });

  it('keeps unknown fields of a record and of a summary', () => {
    const raw = { ...JSON.parse(SEED_GETONE), LoyaltyTier: 'gold', Nested: { a: [1, 2] } };
    const rec = customerRecordSchema.parse(raw);
    expect(rec.LoyaltyTier).toBe('gold');
    expect(rec.Nested).toEqual({ a: [1, 2] });
    const sum = customerSummarySchema.parse({ Id: 'x', Deleted: false, Extra: 7 });
    expect(sum.Extra).toBe(7);
  });

  it('accepts null in every nullable field of the record', () => {
    const raw = JSON.parse(SEED_GETONE);
    for (const f of FULL_RECORD_FIELDS) if (f !== 'Id') raw[f] = null;
    expect(customerRecordSchema.safeParse(raw).success).toBe(true);
  });

  it('a summary with null or missing Deleted reads as not deleted', () => {
    expect(customerSummarySchema.parse({ Id: 'a', Deleted: null }).Deleted).toBe(false);
    expect(customerSummarySchema.parse({ Id: 'a' }).Deleted).toBe(false);
    expect(customerSummarySchema.parse({ Id: 'a', Deleted: true }).Deleted).toBe(true);
  });

  it('refuses a record without Id or with a wrongly typed field', () => {
    expect(customerRecordSchema.safeParse({ CardNo: '1' }).success).toBe(false);
    expect(customerRecordSchema.safeParse({ Id: 'a', LoyaltyPoints: '12' }).success).toBe(false);
    expect(customerSummarySchema.safeParse(null).success).toBe(false);
  });

  it('expirationDateOf reads either casing', () => {
    expect(expirationDateOf({ expiration_date: '2021-03-16T05:00:00' })).toBe('2021-03-16T05:00:00');
    expect(expirationDateOf({ ExpirationDate: '2021-05-04T00:00:00' })).toBe('2021-05-04T00:00:00');
    expect(expirationDateOf({ ExpirationDate: null })).toBeNull();
    expect(expirationDateOf(null)).toBeNull();
  });

  it('missingFullRecordFields names what a Put would nullify', () => {
    const raw = JSON.parse(SEED_GETONE);
    delete raw.Address1;
    delete raw.CustomerCoupons;
    expect(missingFullRecordFields(raw)).toEqual(['Address1', 'CustomerCoupons']);
  });
});

describe('errors', () => {
  it('each error has its stable code, retryable flag, status and service message', () => {
    const cases: [ITRetailError, string, boolean][] = [
      [new AuthenticationError('m', { call: 'token', status: 400 }), 'ITR_AUTH', false],
      [new NotFoundError('m', { call: 'UpdateCustomer', status: 400 }), 'ITR_NOT_FOUND', false],
      [new EmailTakenError('m', { call: 'CreateCustomer', status: 400 }), 'ITR_EMAIL_TAKEN', false],
      [new InvalidInputError('m', { call: 'CreateCustomer', status: 400 }), 'ITR_INVALID', false],
      [new UnavailableError('m', { call: 'GetCustomer', status: 503 }), 'ITR_UNAVAILABLE', true],
      [new MalformedResponseError('m', { call: 'GetCustomer', status: 200 }), 'ITR_MALFORMED', false],
      [new WriteOutcomeUnknownError('m', { call: 'UpdateCustomer', status: 500 }), 'ITR_WRITE_UNKNOWN', true],
    ];
    for (const [e, code, retryable] of cases) {
      expect(e).toBeInstanceOf(ITRetailError);
      expect(e).toBeInstanceOf(Error);
      expect(isITRetailError(e)).toBe(true);
      expect(e.code).toBe(code);
      expect(e.retryable).toBe(retryable);
      expect(e.name).toBe(e.constructor.name);
      expect(e.toJSON()).toMatchObject({ code, retryable, status: e.status, call: e.call });
    }
    const withMsg = new EmailTakenError('x', {
      call: 'CreateCustomer',
      status: 400,
      serviceMessage: 'A customer with this email already exists.',
    });
    expect(withMsg.serviceMessage).toBe('A customer with this email already exists.');
    expect(new UnavailableError('x', { call: 'GetCustomer', retryAfterMs: 3000 }).retryAfterMs).toBe(3000);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds, fractions and HTTP dates', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter('0.25')).toBe(250);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });
});
