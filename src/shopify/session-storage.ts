import { Session } from '@shopify/shopify-api';
import type { Redis } from 'ioredis';
import { decrypt, encrypt } from '../crypto.js';
import { AppError } from '../errors.js';
import type { Keys } from '../store/keys.js';

/**
 * The `SessionStorage` contract of `@shopify/shopify-app-session-storage`, restated so the package is not
 * needed: any code written for that interface works with this class.
 */
export interface SessionStorage {
  storeSession(session: Session): Promise<boolean>;
  loadSession(id: string): Promise<Session | undefined>;
  deleteSession(id: string): Promise<boolean>;
  deleteSessions(ids: string[]): Promise<boolean>;
  findSessionsByShop(shop: string): Promise<Session[]>;
}

/** What one session looks like in Redis. Tokens and the user's details are ciphertext. */
interface StoredSession {
  v: 1;
  id: string;
  shop: string;
  state: string;
  isOnline: boolean;
  scope?: string;
  expires?: number;
  refreshTokenExpires?: number;
  accessToken?: string; // encrypted
  refreshToken?: string; // encrypted
  onlineAccessInfo?: string; // encrypted JSON (names and email of the staff member)
}

class SessionStorageError extends AppError {
  declare readonly code: 'SESSION_CORRUPT' | 'SESSION_ID_UNKNOWN_SHOP';
  constructor(code: SessionStorageError['code'], message: string) {
    // Retried like any unexpected failure when a job meets it (a session is rewritten by the next sign-in).
    super(message, { code, retryable: true });
  }
}

const OFFLINE_ID = /^offline_(.+)$/;
const ONLINE_ID = /^(.+\.myshopify\.com)_\d+$/;

/**
 * Shopify sessions in Redis, one string per session at `keys.session(shop, id)` so that erasing
 * a shop (or the worker's `app/uninstalled` clean-up of `keys.session(shop, *)`) removes them.
 * `loadSession(id)` needs the shop to build the key: the library's ids carry it (`offline_<shop>`,
 * `<shop>_<userId>`); any other id is found through a small global index.
 */
export class RedisSessionStorage implements SessionStorage {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    private readonly encryptionKey: Buffer,
  ) {}

  private sessionKey(shop: string, id: string): string {
    return this.keys.session(shop, id);
  }

  /** Per-shop set of session ids; lives inside the session namespace so a shop-wide delete drops it too. */
  private indexKey(shop: string): string {
    return this.keys.sessionIds(shop);
  }

  private otherIdsKey(): string {
    return this.keys.sessionShop();
  }

  private async shopForId(id: string): Promise<string | undefined> {
    const m = OFFLINE_ID.exec(id) ?? ONLINE_ID.exec(id);
    if (m?.[1]) return m[1];
    return (await this.redis.hget(this.otherIdsKey(), id)) ?? undefined;
  }

  async storeSession(session: Session): Promise<boolean> {
    const stored: StoredSession = {
      v: 1,
      id: session.id,
      shop: session.shop,
      state: session.state ?? '',
      isOnline: Boolean(session.isOnline),
      scope: session.scope,
      expires: session.expires ? session.expires.getTime() : undefined,
      refreshTokenExpires: session.refreshTokenExpires ? session.refreshTokenExpires.getTime() : undefined,
      accessToken: session.accessToken ? encrypt(this.encryptionKey, session.accessToken) : undefined,
      refreshToken: session.refreshToken ? encrypt(this.encryptionKey, session.refreshToken) : undefined,
      onlineAccessInfo: session.onlineAccessInfo
        ? encrypt(this.encryptionKey, JSON.stringify(session.onlineAccessInfo))
        : undefined,
    };
    // The id → shop map is a key of its own (another hash slot on a cluster): written first, so a stored
    // session is always found.
    if (!OFFLINE_ID.test(session.id) && !ONLINE_ID.test(session.id)) {
      await this.redis.hset(this.otherIdsKey(), session.id, session.shop);
    }
    await this.redis
      .multi()
      .set(this.sessionKey(session.shop, session.id), JSON.stringify(stored))
      .sadd(this.indexKey(session.shop), session.id)
      .exec();
    return true;
  }

  async loadSession(id: string): Promise<Session | undefined> {
    const shop = await this.shopForId(id);
    if (!shop) return undefined;
    const raw = await this.redis.get(this.sessionKey(shop, id));
    return raw ? this.revive(raw) : undefined;
  }

  async deleteSession(id: string): Promise<boolean> {
    const shop = await this.shopForId(id);
    if (!shop) return true;
    await this.redis.multi().del(this.sessionKey(shop, id)).srem(this.indexKey(shop), id).exec();
    await this.redis.hdel(this.otherIdsKey(), id);
    return true;
  }

  async deleteSessions(ids: string[]): Promise<boolean> {
    for (const id of ids) await this.deleteSession(id);
    return true;
  }

  async findSessionsByShop(shop: string): Promise<Session[]> {
    const ids = await this.redis.smembers(this.indexKey(shop));
    if (ids.length === 0) return [];
    const values = await this.redis.mget(...ids.map((id) => this.sessionKey(shop, id)));
    const sessions: Session[] = [];
    const stale: string[] = [];
    values.forEach((raw, i) => {
      if (raw) sessions.push(this.revive(raw));
      else stale.push(ids[i] as string);
    });
    if (stale.length) await this.redis.srem(this.indexKey(shop), ...stale);
    return sessions;
  }

  private revive(raw: string): Session {
    let s: StoredSession;
    try {
      s = JSON.parse(raw) as StoredSession;
    } catch {
      throw new SessionStorageError('SESSION_CORRUPT', 'stored session is not valid JSON');
    }
    if (s.v !== 1 || typeof s.id !== 'string' || typeof s.shop !== 'string') {
      throw new SessionStorageError('SESSION_CORRUPT', 'stored session has an unknown shape');
    }
    const key = this.encryptionKey;
    return new Session({
      id: s.id,
      shop: s.shop,
      state: s.state,
      isOnline: s.isOnline,
      scope: s.scope,
      expires: s.expires !== undefined ? new Date(s.expires) : undefined,
      refreshTokenExpires: s.refreshTokenExpires !== undefined ? new Date(s.refreshTokenExpires) : undefined,
      accessToken: s.accessToken ? decrypt(key, s.accessToken) : undefined,
      refreshToken: s.refreshToken ? decrypt(key, s.refreshToken) : undefined,
      onlineAccessInfo: s.onlineAccessInfo ? JSON.parse(decrypt(key, s.onlineAccessInfo)) : undefined,
    });
  }
}
