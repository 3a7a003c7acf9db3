#!/usr/bin/env node
// One-off upgrade of an installation's keys to the hash-tagged names (`<prefix>:shop:<shop>:…` →
// `<prefix>:shop:{<shop>}:…`), on the single Redis the older version used, before the new version starts.
// Stop the web processes and let the workers drain the queue first: the older `<prefix>:bull:sync:*` queue
// is not moved (the new version's queue is in shards), and its finished jobs expire by themselves.
//   REDIS_URL=redis://… REDIS_KEY_PREFIX=itrb node scripts/migrate-hash-tags.mjs [--dry-run]
// RENAMENX never overwrites: a key whose new name exists already is reported and left as it is.
import { Redis } from 'ioredis';

const url = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
const prefix = process.env.REDIS_KEY_PREFIX || 'itrb';
const dryRun = process.argv.includes('--dry-run');
const redis = new Redis(url, { maxRetriesPerRequest: 3 });
const head = `${prefix}:shop:`;
let renamed = 0;
let kept = 0;
let cursor = '0';
do {
  const [next, found] = await redis.scan(cursor, 'MATCH', `${head}*`, 'COUNT', 1000);
  cursor = next;
  for (const key of found) {
    const rest = key.slice(head.length);
    if (rest.startsWith('{')) continue; // already tagged
    const i = rest.indexOf(':');
    const shop = i < 0 ? rest : rest.slice(0, i);
    const target = `${head}{${shop}}${i < 0 ? '' : rest.slice(i)}`;
    if (dryRun) {
      renamed++;
      continue;
    }
    if ((await redis.renamenx(key, target)) === 1) renamed++;
    else {
      kept++;
      console.error(`left as it is (new name exists): ${key}`);
    }
  }
} while (cursor !== '0');
console.log(
  `${dryRun ? 'would rename' : 'renamed'} ${renamed} keys under ${head}*${kept ? `; ${kept} left` : ''}`,
);
await redis.quit();
