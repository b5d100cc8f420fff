import { LegacySessionConfig } from '../config/config';
import type { RedisClient } from '../redis/redis-client';
import { runScript, script } from '../redis/redis-scripts';

/** An old session as connect-redis stored it, taken out of Redis. */
export interface TakenSession {
  /** The stored text: JSON with connect-redis's default serializer. */
  value: string;
  /** Milliseconds it had left (its TTL); null when the key had no TTL. */
  ttlMs: number | null;
}

/**
 * KEYS: the old session. Reads it with its remaining TTL and deletes it, in one step: GETDEL's
 * atomicity (of two requests with the same cookie, on any number of instances, one gets the
 * session and the other nothing) plus the TTL, which is the old session's real end, in the same
 * round trip. A key of another type is left alone.
 */
const TAKE = script(`
if redis.call('TYPE', KEYS[1]).ok ~= 'string' then return false end
local value = redis.call('GET', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
return {value, ttl}
`);

/**
 * The sessions an express-session + connect-redis app wrote, under `<LEGACY_SESSION_PREFIX><sid>`
 * in the same Redis. Taking one removes it: a session is adopted once. On a cluster the script runs
 * on whichever node owns the key (its one key routes it).
 */
export class LegacySessions {
  constructor(
    private readonly redis: RedisClient,
    private readonly config: LegacySessionConfig,
  ) {}

  async take(sid: string): Promise<TakenSession | null> {
    const reply = await runScript<[string, number] | null>(this.redis, TAKE, [this.config.prefix + sid], []);
    if (!reply) return null;
    const [value, ttl] = reply;
    return { value, ttlMs: ttl < 0 ? null : ttl };
  }
}
