import { randomBytes } from 'node:crypto';

/**
 * Random bytes for ids that must be unique, not secret (sync event ids, write ids), taken from a pool filled
 * 4 KB at a time: a call into OpenSSL for 3 or 9 bytes cost more than the rest of building the id, twice per
 * job. Lock tokens use randomUUID, which pools the same way.
 */
const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let at = 0;

export function pooledRandomBytes(n: number): Buffer {
  if (at + n > pool.length) {
    pool = randomBytes(Math.max(POOL_BYTES, n));
    at = 0;
  }
  const out = pool.subarray(at, at + n);
  at += n;
  return out;
}
