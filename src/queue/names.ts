/** The one queue every sync job goes through (webhooks and admin actions alike). */
export const SYNC_QUEUE = 'sync';
