import { startRedisServer } from './redis-server';

/**
 * Gives every test file a Redis: the one in REDIS_URL when set (tests then only use keys under
 * their own unique prefix), else a redis-server started here on a free port and stopped after.
 */
export default async function globalSetup(): Promise<void> {
  if (process.env.REDIS_URL) {
    process.env.TEST_REDIS_URL = process.env.REDIS_URL;
    process.env.TEST_REDIS_OWNED = '0';
    return;
  }
  const server = await startRedisServer();
  process.env.TEST_REDIS_URL = server.url;
  process.env.TEST_REDIS_OWNED = '1';
  (globalThis as { __REDIS_SERVER__?: typeof server }).__REDIS_SERVER__ = server;
}
