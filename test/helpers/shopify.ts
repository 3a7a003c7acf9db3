// The app's test environment. Shopify's side (webhooks, session tokens, signed URLs, the Admin API) is in
// fakes/shopify/.
import { redisEnv } from './redis.js';

/** Environment for loadConfig in tests: fixed Shopify app credentials, a throwaway encryption key. */
export const TEST_APP = {
  apiKey: 'test-api-key-0123456789abcdef',
  apiSecret: 'test-api-secret-0123456789abcdef',
  appUrl: 'https://bridge.example.test',
  encryptionKey: '00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff',
} as const;

export function testEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    SHOPIFY_API_KEY: TEST_APP.apiKey,
    SHOPIFY_API_SECRET: TEST_APP.apiSecret,
    SHOPIFY_APP_URL: TEST_APP.appUrl,
    ENCRYPTION_KEY: TEST_APP.encryptionKey,
    ...redisEnv(),
    ...extra,
  };
}
