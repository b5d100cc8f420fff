import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AuthConfig } from '../config/config';
import { InjectRedis, RedisClient, runScript, script } from '../session/redis.provider';
import { KeyLayout } from '../session/session-keys';
import { usernameKey } from '../users/user-store';

/** KEYS: counter. ARGV: windowMs. A fixed window that starts at the first failure. */
const COUNT_FAILURE = script(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
`);

interface Window {
  count: number;
  resetAt: number;
}

/**
 * Failed logins per username and per client IP, shared by every instance through Redis. Each
 * counter is one key that expires with its window, so the limiter cannot be used to fill Redis.
 * A success clears the username's count only: an IP that guesses many names stays limited.
 */
@Injectable()
export class LoginLimiter {
  private readonly windowMs: number;
  /** The embedded store's counters. */
  private readonly local = new Map<string, Window>();

  constructor(
    @InjectRedis() private readonly redis: RedisClient | null,
    private readonly keys: KeyLayout,
    private readonly config: AuthConfig,
    private readonly clock: Clock,
  ) {
    this.windowMs = config.loginWindowSeconds * 1000;
  }

  /** Seconds until a login may be tried again, or 0 when it may be tried now. */
  async retryAfter(username: string, ip: string): Promise<number> {
    const waits = await Promise.all(this.counters(username, ip).map((key) => this.blockedFor(key)));
    return Math.max(...waits);
  }

  async recordFailure(username: string, ip: string): Promise<void> {
    await Promise.all(this.counters(username, ip).map((key) => this.increment(key)));
  }

  async recordSuccess(username: string): Promise<void> {
    const [userKey] = this.counters(username, '');
    if (this.redis) await this.redis.del(userKey);
    else this.local.delete(userKey);
  }

  private counters(username: string, ip: string): [string, string] {
    const hash = createHash('sha256').update(usernameKey(username)).digest('base64url').slice(0, 22);
    return [this.keys.loginFailuresByUser(hash), this.keys.loginFailuresByIp(ip || 'unknown')];
  }

  private async blockedFor(key: string): Promise<number> {
    if (!this.redis) {
      const window = this.liveWindow(key);
      return window && window.count >= this.config.loginMaxFailures
        ? this.seconds(window.resetAt - this.clock.now())
        : 0;
    }
    const count = Number((await this.redis.get(key)) ?? 0);
    if (count < this.config.loginMaxFailures) return 0;
    return this.seconds(await this.redis.pTTL(key));
  }

  private async increment(key: string): Promise<void> {
    if (this.redis) {
      await runScript<number>(this.redis, COUNT_FAILURE, [key], [this.windowMs]);
      return;
    }
    const window = this.liveWindow(key) ?? { count: 0, resetAt: this.clock.now() + this.windowMs };
    window.count += 1;
    this.local.set(key, window);
  }

  private liveWindow(key: string): Window | undefined {
    const window = this.local.get(key);
    if (window && window.resetAt <= this.clock.now()) {
      this.local.delete(key);
      return undefined;
    }
    return window;
  }

  private seconds(ms: number): number {
    return Math.max(1, Math.ceil(ms / 1000));
  }
}
