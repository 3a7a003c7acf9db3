/** The sync queue every job goes through (webhooks and admin actions alike), split in shards (shards.ts). */
export const SYNC_QUEUE = 'sync';
