import { createHash } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import ipaddr from 'ipaddr.js';
import { AuthConfig } from '../config/config';
import { usernameKey } from '../users/user-store';
import { Counter, LoginCounters } from './login-counters';

const digest = (text: string): string => createHash('sha256').update(text).digest('base64url').slice(0, 22);

/** The client a counter belongs to: an IPv4 address, or an IPv6 /64 (one host usually holds a whole /64). */
function clientNetwork(ip: string): string {
  if (!ipaddr.isValid(ip)) return 'unknown';
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return address.toString();
  return `${(address as ipaddr.IPv6).parts.slice(0, 4).join(':')}::/64`;
}

const usernameCounter = (username: string): Counter => ({ by: 'username', digest: digest(usernameKey(username)) });
const networkCounter = (ip: string): Counter => ({ by: 'network', digest: digest(clientNetwork(ip)) });

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

  constructor(
    private readonly counters: LoginCounters,
    private readonly config: AuthConfig,
  ) {
    this.windowMs = config.loginWindowSeconds * 1000;
  }

  /** Checks the client, then counts the attempt against the username; says whether it may go ahead. */
  async attempt(username: string, ip: string): Promise<Attempt> {
    const client = await this.counters.peek(networkCounter(ip));
    if (client.count >= this.config.loginMaxFailures) return { retryAfter: this.seconds(client.ttlMs), username, ip };
    const user = await this.counters.increment(usernameCounter(username), this.windowMs);
    if (user.count > this.config.loginMaxFailures) return { retryAfter: this.seconds(user.ttlMs), username, ip };
    return { retryAfter: 0, username, ip };
  }

  /** The attempt failed: the client's count goes up (the username's already did). */
  async failed(attempt: Attempt): Promise<void> {
    await this.counters.increment(networkCounter(attempt.ip), this.windowMs);
  }

  /** The attempt succeeded: the username starts afresh. */
  async succeeded(attempt: Attempt): Promise<void> {
    await this.counters.reset(usernameCounter(attempt.username));
  }

  private seconds(ms: number): number {
    return Math.max(1, Math.ceil(ms / 1000));
  }
}
