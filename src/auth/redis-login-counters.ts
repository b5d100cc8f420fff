import { KeyLayout } from '../redis/key-layout';
import { RedisClient } from '../redis/redis-client';
import { runScript, script } from '../redis/redis-scripts';
import { Counter, CounterState, LoginCounters } from './login-counters';

/** KEYS: counter. ARGV: windowMs. Counts an attempt; the window starts at the first. Returns {count, ttl ms}. */
const COUNT_ATTEMPT = script(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { n, redis.call('PTTL', KEYS[1]) }
`);

/** One key per counter, expiring with its window. */
export class RedisLoginCounters extends LoginCounters {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeyLayout,
  ) {
    super();
  }

  async increment(counter: Counter, windowMs: number): Promise<CounterState> {
    const [count, ttlMs] = await runScript<[number, number]>(
      this.redis,
      COUNT_ATTEMPT,
      [this.key(counter)],
      [windowMs],
    );
    return { count, ttlMs };
  }

  async peek(counter: Counter): Promise<CounterState> {
    const key = this.key(counter);
    const [count, ttlMs] = await Promise.all([this.redis.get(key), this.redis.pTTL(key)]);
    return { count: Number(count ?? 0), ttlMs };
  }

  async reset(counter: Counter): Promise<void> {
    await this.redis.del(this.key(counter));
  }

  private key({ by, digest }: Counter): string {
    return by === 'username' ? this.keys.loginFailuresByUser(digest) : this.keys.loginFailuresByIp(digest);
  }
}
