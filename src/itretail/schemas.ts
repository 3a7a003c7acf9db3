import { z } from 'zod';

/**
 * Shapes of IT Retail answers. Objects are loose (unknown fields are kept), and every field the service
 * may leave empty accepts null or absence. Record schemas have no transforms or defaults: a validated
 * record is the very object the service sent, so a Put can send it back field for field.
 */

const str = z.string().nullish();
const num = z.number().nullish();
const bool = z.boolean().nullish();

const loyaltyOperationSchema = z.looseObject({
  Id: str,
  TenantId: str,
  CustomerId: str,
  LoyaltyPointsAdded: num,
  LoyaltyPointsAfterAdd: num,
  OperationDate: str,
  IsManualUpdate: bool,
  TransactionId: str,
});

/** Fields common to the summary (GetAllCustomers) and the full record (GetOne, Put). */
const commonShape = {
  Id: z.string().min(1),
  CardNo: str,
  LastName: str,
  FirstName: str,
  BirthDate: str,
  Phone: str,
  Discount: num,
  Email: str,
  Balance: num,
  BalanceLimit: num,
  LoyaltyPoints: num,
  InstoreChargeEnabled: bool,
};

/** A GetAllCustomers element. `Deleted` is the one field normalised (absent/null → false). */
export const customerSummarySchema = z.looseObject({
  ...commonShape,
  Deleted: z
    .boolean()
    .nullish()
    .transform((v) => v === true),
  ExpirationDate: str,
  expiration_date: str,
});

export type CustomerSummary = z.output<typeof customerSummarySchema>;

const listOf = <T extends z.ZodType>(item: T) => z.array(item).nullish();

/** GetOne / Put / Post answer: every field kept, nothing transformed. */
export const customerRecordSchema = z.looseObject({
  ...commonShape,
  Deleted: bool,
  Address1: str,
  Address2: str,
  City: str,
  State: str,
  Zip: str,
  CashBack: num,
  FrequentShopper: z.unknown().optional(),
  WriteChecks: bool,
  Type: z.unknown().optional(),
  Purchases: num,
  NumberOfChecks: num,
  PointsEarned: num,
  Created: str,
  Modified: str,
  ModifiedBy: z.unknown().optional(),
  ReceiptType: z.unknown().optional(),
  Attributes: z.unknown().optional(),
  TenantId: str,
  PaymentToken: z.unknown().optional(),
  Inc: num,
  expiration_date: str,
  ExpirationDate: str,
  CustomerBalanceOperations: listOf(z.unknown()),
  CustomerCoupons: listOf(z.unknown()),
  CustomerGroupCustomers: listOf(z.unknown()),
  CustomerLoyaltyPointOperations: listOf(loyaltyOperationSchema),
  TransactionLoyaltyOperations: listOf(z.unknown()),
});

export type CustomerRecord = z.output<typeof customerRecordSchema>;

/**
 * Every field of the full record as the service documents it. A Put body lacking one of them would
 * nullify it on the service, so the client refuses such a body.
 */
export const FULL_RECORD_FIELDS = [
  'Id',
  'CardNo',
  'LastName',
  'FirstName',
  'BirthDate',
  'Address1',
  'Address2',
  'Phone',
  'City',
  'State',
  'Zip',
  'CashBack',
  'Discount',
  'FrequentShopper',
  'WriteChecks',
  'Type',
  'Purchases',
  'NumberOfChecks',
  'PointsEarned',
  'Deleted',
  'Created',
  'Modified',
  'ModifiedBy',
  'ReceiptType',
  'Email',
  'Attributes',
  'TenantId',
  'PaymentToken',
  'Inc',
  'Balance',
  'BalanceLimit',
  'LoyaltyPoints',
  'expiration_date',
  'CustomerBalanceOperations',
  'CustomerCoupons',
  'CustomerGroupCustomers',
  'CustomerLoyaltyPointOperations',
  'TransactionLoyaltyOperations',
] as const;

/** Fields of FULL_RECORD_FIELDS the object lacks (as keys; a null value counts as present). */
export function missingFullRecordFields(record: Record<string, unknown>): string[] {
  return FULL_RECORD_FIELDS.filter((f) => !Object.hasOwn(record, f));
}

const customerPurchasesSchema = z.looseObject({
  Id: z.string().min(1),
  CardNumber: str,
  ProductsPurchased: z.array(z.string()).nullish(),
});
export const customerPurchasesListSchema = z.array(customerPurchasesSchema);

export type CustomerPurchases = z.output<typeof customerPurchasesSchema>;

export const tokenResponseSchema = z.looseObject({
  access_token: z.string().min(1),
  token_type: z.string().nullish(),
  expires_in: z.number().nullish(),
});

/** The .NET error body: `{"Message": "..."}` (token errors use error / error_description). */
export const serviceErrorSchema = z.looseObject({
  Message: z.string().optional(),
  message: z.string().optional(),
  error: z.string().optional(),
  error_description: z.string().optional(),
});

export const newCustomerSchema = z.object({
  FirstName: z.string().trim().min(1, 'FirstName is required'),
  LastName: z.string().trim().min(1, 'LastName is required'),
  Email: z.string().trim().min(3, 'Email is required').includes('@', { message: 'Email must contain @' }),
  Phone: z
    .string()
    .regex(/^\d{10}$/, 'Phone must be an unformatted 10 digit number')
    .optional(),
});
export type NewCustomer = z.input<typeof newCustomerSchema>;

/** The record's expiration date, whichever casing the service used (`expiration_date` or `ExpirationDate`). */
export function expirationDateOf(r: Record<string, unknown> | null | undefined): string | null {
  if (!r) return null;
  const v = r.expiration_date ?? r.ExpirationDate;
  return typeof v === 'string' ? v : null;
}

/**
 * A phone as IT Retail wants it on create: exactly 10 digits, no formatting. Accepts E.164 North American
 * numbers (`+16135550101`) and the usual US spellings (`(613) 555-0101`, `613.555.0101`, `1-613-555-0101`).
 * Anything else (other country codes, extensions, letters, too few or many digits) gives undefined.
 */
export function normalizePhone(input: string | null | undefined): string | undefined {
  if (typeof input !== 'string') return undefined;
  const s = input.trim();
  if (s === '' || !/^\+?[\d\s().-]+$/.test(s)) return undefined;
  const digits = s.replace(/\D/g, '');
  if (s.startsWith('+')) {
    return /^1\d{10}$/.test(digits) ? digits.slice(1) : undefined;
  }
  if (/^\d{10}$/.test(digits)) return digits;
  if (/^1\d{10}$/.test(digits)) return digits.slice(1);
  return undefined;
}

/**
 * The `date` query of GetCustomerProductPurchases: `MM/DD/YYYY` built from the Date's calendar parts in
 * the process's local time zone (a Date made with `new Date(2021, 2, 8)` gives `03/08/2021`). Run the
 * process in the store's time zone, or build the Date from the store's calendar day. Throws RangeError for
 * an invalid Date.
 */
export function formatPurchaseDate(d: Date): string {
  if (!(d instanceof Date) || Number.isNaN(d.getTime()))
    throw new RangeError('formatPurchaseDate: invalid Date');
  const mm = String(d.getMonth() + 1).padStart(2, '0');
  const dd = String(d.getDate()).padStart(2, '0');
  const yyyy = String(d.getFullYear()).padStart(4, '0');
  return `${mm}/${dd}/${yyyy}`;
}
