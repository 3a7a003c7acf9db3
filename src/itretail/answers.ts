import { pipeline } from 'node:stream';
import streamArray from 'stream-json/streamers/stream-array.js';
import type { Dispatcher } from 'undici';
import { type CallName, ITRetailError, MalformedResponseError, UnavailableError } from './errors.js';
import {
  type CustomerRecord,
  type CustomerSummary,
  customerRecordSchema,
  customerSummarySchema,
} from './schemas.js';
import { CallbackFailure, errorCodeOf, isNetworkError, type RequestSpec } from './transport.js';

/** Reading a 2xx answer: JSON checked against its schema, whole or (GetAllCustomers) record by record. */

export async function readJson(spec: RequestSpec, res: Dispatcher.ResponseData): Promise<unknown> {
  const text = await res.body.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedResponseError(
      `${spec.call}: the answer is not JSON (HTTP ${res.statusCode}, ${describeBody(text, res.headers['content-type'])})`,
      { call: spec.call, status: res.statusCode },
    );
  }
}

export async function readRecord(
  spec: RequestSpec,
  res: Dispatcher.ResponseData,
  nullMeansMissing: boolean,
): Promise<CustomerRecord | null> {
  const json = await readJson(spec, res);
  if (json === null && nullMeansMissing) return null;
  const parsed = customerRecordSchema.safeParse(json);
  if (!parsed.success) throw shapeError(spec, res.statusCode, parsed.error);
  // No transforms in the schema: the validated value is the service's object, kept as sent.
  return json as CustomerRecord;
}

/**
 * Parses a top-level JSON array element by element, validating each as it arrives. `replayable`: the
 * records go to a collector that a retry starts afresh, so a broken-off body may be retried at any point.
 */
export async function streamSummaries(
  res: Dispatcher.ResponseData,
  onItem: (c: CustomerSummary) => void | Promise<void>,
  replayable: boolean,
): Promise<number> {
  const call: CallName = 'GetAllCustomers';
  const parser = streamArray.withParserAsStream();
  pipeline(res.body, parser, () => {
    // errors surface through the iteration below
  });
  let delivered = 0;
  try {
    for await (const item of parser as AsyncIterable<{ key: number; value: unknown }>) {
      const parsed = customerSummarySchema.safeParse(item.value);
      if (!parsed.success) {
        throw shapeError({ call }, res.statusCode, parsed.error, `element ${item.key}`);
      }
      try {
        await onItem(parsed.data as CustomerSummary);
      } catch (cbErr) {
        throw new CallbackFailure(cbErr);
      }
      delivered++;
    }
  } catch (err) {
    parser.destroy();
    if (err instanceof CallbackFailure || err instanceof ITRetailError) throw err;
    if (isNetworkError(err)) {
      if (delivered === 0 || replayable) throw err; // nothing handed over yet: the run loop may retry
      throw new UnavailableError(
        `${call}: the answer broke off after ${delivered} records (${errorCodeOf(err)})`,
        { call, status: res.statusCode },
      );
    }
    const msg = err instanceof Error ? err.message : 'unreadable';
    throw new MalformedResponseError(
      `${call}: the answer is not a JSON array of customers (${msg.slice(0, 120)}) after ${delivered} records`,
      { call, status: res.statusCode },
    );
  }
  return delivered;
}

export function shapeError(
  spec: Pick<RequestSpec, 'call'>,
  status: number,
  error: { issues: ReadonlyArray<{ path: PropertyKey[]; message: string }> },
  where?: string,
): MalformedResponseError {
  const issues = error.issues
    .slice(0, 3)
    .map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`)
    .join('; ');
  return new MalformedResponseError(
    `${spec.call}: the answer has the wrong shape${where ? ` at ${where}` : ''} (${issues})`,
    { call: spec.call, status },
  );
}

function describeBody(text: string, contentType: string | string[] | undefined): string {
  const ct = Array.isArray(contentType) ? contentType[0] : contentType;
  const head = text.trimStart().slice(0, 1);
  const kind =
    head === '<' ? 'an HTML/XML page' : text.length === 0 ? 'an empty body' : 'truncated or invalid JSON';
  return `${kind}, ${text.length} chars${ct ? `, ${ct}` : ''}`;
}
