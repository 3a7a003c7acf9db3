import { type CallName, InvalidInputError } from './errors.js';
import {
  type CustomerRecord,
  formatPurchaseDate,
  missingFullRecordFields,
  type NewCustomer,
  newCustomerSchema,
} from './schemas.js';
import type { RequestSpec } from './transport.js';

/**
 * The request of each IT Retail call, its input checked before anything is sent (a refused input never
 * leaves the process; its message names fields and rules, never values).
 */

const GUIDISH = /^[^\s/?#&]+$/;

/** GetCustomerProductPurchases of one calendar day (local calendar parts of `date`). */
export function purchasesRequest(date: Date): RequestSpec {
  let q: string;
  try {
    q = formatPurchaseDate(date);
  } catch {
    throw new InvalidInputError('GetCustomerProductPurchases: date must be a valid Date', {
      call: 'GetCustomerProductPurchases',
    });
  }
  const spec: RequestSpec = {
    call: 'GetCustomerProductPurchases',
    kind: 'read',
    method: 'GET',
    path: `/api/CustomersData/GetCustomerProductPurchases?date=${q}`,
    auth: true,
  };
  return spec;
}

/** CreateCustomer; the Phone, when given, must already be 10 digits (see normalizePhone). */
export function createRequest(input: NewCustomer): RequestSpec {
  const call: CallName = 'CreateCustomer';
  const checked = newCustomerSchema.safeParse(input);
  if (!checked.success) {
    // Only field names and rules go into the message, never the values.
    const detail = checked.error.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ');
    throw new InvalidInputError(`CreateCustomer: invalid input (${detail})`, { call });
  }
  const body: Record<string, string> = {
    FirstName: input.FirstName,
    LastName: input.LastName,
    Email: input.Email,
  };
  if (input.Phone !== undefined) body.Phone = input.Phone;
  const spec: RequestSpec = {
    call,
    kind: 'write',
    method: 'POST',
    path: '/api/CustomersData/Post',
    body: JSON.stringify(body),
    contentType: 'application/json',
    auth: true,
  };
  return spec;
}

/** GetOne of one customer Id. */
export function getOneRequest(id: string): RequestSpec {
  const call: CallName = 'GetCustomer';
  if (typeof id !== 'string' || !GUIDISH.test(id)) {
    throw new InvalidInputError('GetCustomer: id must be a non-empty customer Id', { call });
  }
  const spec: RequestSpec = {
    call,
    kind: 'read',
    method: 'GET',
    path: `/api/CustomersData/GetOne/?Id=${encodeURIComponent(id)}`,
    auth: true,
  };
  return spec;
}

/** Put of a whole record (a record lacking a documented field is refused: the service would nullify it). */
export function putRequest(record: CustomerRecord): RequestSpec {
  const call: CallName = 'UpdateCustomer';
  if (!record || typeof record !== 'object' || Array.isArray(record)) {
    throw new InvalidInputError('UpdateCustomer: a full customer record is required', { call });
  }
  if (typeof record.Id !== 'string' || !GUIDISH.test(record.Id)) {
    throw new InvalidInputError('UpdateCustomer: the record has no Id', { call });
  }
  let body: Record<string, unknown> = record;
  if (!Object.hasOwn(record, 'expiration_date') && Object.hasOwn(record, 'ExpirationDate')) {
    body = { ...record, expiration_date: record.ExpirationDate };
  }
  const missing = missingFullRecordFields(body);
  if (missing.length > 0) {
    throw new InvalidInputError(
      `UpdateCustomer: refusing to send a partial record (the service would nullify: ${missing.join(', ')})`,
      { call },
    );
  }
  let json: string;
  try {
    json = JSON.stringify(body);
  } catch {
    throw new InvalidInputError('UpdateCustomer: the record cannot be serialised as JSON', { call });
  }
  const spec: RequestSpec = {
    call,
    kind: 'write',
    method: 'PUT',
    path: '/api/CustomersData/Put',
    body: json,
    contentType: 'application/json',
    auth: true,
  };
  return spec;
}

export function getAllRequest(): RequestSpec {
  return {
    call: 'GetAllCustomers',
    kind: 'read',
    method: 'GET',
    path: '/api/CustomersData/GetAllCustomers',
    auth: true,
  };
}

/** The token request for a login (password grant). */
export function tokenRequest(credentials: { username: string; password: string }): RequestSpec {
  const form = new URLSearchParams({
    grant_type: 'password',
    username: credentials.username,
    password: credentials.password,
  });
  const spec: RequestSpec = {
    call: 'token',
    kind: 'token',
    method: 'POST',
    path: '/token?accesslevel=0&securityCode=undefined',
    body: form.toString(),
    contentType: 'application/x-www-form-urlencoded',
    auth: false,
  };
  return spec;
}
