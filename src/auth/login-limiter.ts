import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import ipaddr from 'ipaddr.js';
import { Clock } from '../common/clock';
import { AuthConfig } from '../config/config';
import { InjectRedis, RedisClient, runScript, script } from '../session/redis.provider';
import { KeyLayout } from '../session/session-keys';
import { usernameKey } from '../users/user-store';

/** KEYS: counter. ARGV: windowMs. Counts an attempt; the window starts at the first. Returns {count, ttl ms}. */
const COUNT_ATTEMPT = script(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return { n, redis.call('PTTL', KEYS[1]) }
`);

interface Window {
  count: number;
  resetAt: number;
}

const digest = (text: string): string => createHash('sha256').update(text).digest('base64url').slice(0, 22);

/** The client a counter belongs to: an IPv4 address, or an IPv6 /64 (one host usually holds a whole /64). */
function clientNetwork(ip: string): string {
  if (!ipaddr.isValid(ip)) return 'unknown';
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  return `${(address as ipaddr.IPv6).parts.slice(0, 4).join(':')}::/64`;
}

export interface Attempt {
  /** 0 when the attempt may go ahead; else seconds until the client may try again. */
  retryAfter: number;
  username: string;
  ip: string;
}

/**
 * Failed logins per username and per client network, shared by every instance through Redis.
 * - Per username, an attempt is counted before the password is checked, so parallel guesses at
 *   one account cannot all get in before the first failure is recorded; a success clears it.
 * - Per client network (an IPv4 address or an IPv6 /64), failures are counted once known, so many
 *   people logging in at once behind one NAT are never refused for succeeding together. A limited
 *   client creates no username counters, however many names it tries.
 * Each counter is one key named by a hash (client text stays out of key names) that expires with
 * its window, so the limiter cannot be used to fill Redis.
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

  /** Checks the client, then counts the attempt against the username; says whether it may go ahead. */
  async attempt(username: string, ip: string): Promise<Attempt> {
    const [userKey, ipKey] = this.counters(username, ip);
    const client = await this.peek(ipKey);
    if (client.count >= this.config.loginMaxFailures) return { retryAfter: this.seconds(client.ttlMs), username, ip };
    const user = await this.count(userKey);
    if (user.count > this.config.loginMaxFailures) return { retryAfter: this.seconds(user.ttlMs), username, ip };
    return { retryAfter: 0, username, ip };
  }

  /** The attempt failed: the client's count goes up (the username's already did). */
  async failed(attempt: Attempt): Promise<void> {
    const [, ipKey] = this.counters(attempt.username, attempt.ip);
    await this.count(ipKey);
  }

  /** The attempt succeeded: the username starts afresh. */
  async succeeded(attempt: Attempt): Promise<void> {
    const [userKey] = this.counters(attempt.username, attempt.ip);
    if (this.redis) await this.redis.del(userKey);
    else this.local.delete(userKey);
  }

  private counters(username: string, ip: string): [string, string] {
    return [
      this.keys.loginFailuresByUser(digest(usernameKey(username))),
      this.keys.loginFailuresByIp(digest(clientNetwork(ip))),
    ];
  }

  private async count(key: string): Promise<{ count: number; ttlMs: number }> {
    if (this.redis) {
      const [count, ttlMs] = await runScript<[number, number]>(this.redis, COUNT_ATTEMPT, [key], [this.windowMs]);
      return { count, ttlMs };
    }
    const window = this.liveWindow(key) ?? { count: 0, resetAt: this.clock.now() + this.windowMs };
    window.count += 1;
    this.local.set(key, window);
    return { count: window.count, ttlMs: window.resetAt - this.clock.now() };
  }

  private async peek(key: string): Promise<{ count: number; ttlMs: number }> {
    if (this.redis) {
      const [count, ttlMs] = await Promise.all([this.redis.get(key), this.redis.pTTL(key)]);
      return { count: Number(count ?? 0), ttlMs };
    }
    const window = this.liveWindow(key);
    return { count: window?.count ?? 0, ttlMs: window ? window.resetAt - this.clock.now() : 0 };
  }

  private seconds(ms: number): number {
    return Math.max(1, Math.ceil(ms / 1000));
  }

  private liveWindow(key: string): Window | undefined {
    const window = this.local.get(key);
    if (window && window.resetAt <= this.clock.now()) {
      this.local.delete(key);
      return undefined;
    }
    return window;
  }
}
