import { KeyLayout } from '../redis/key-layout';
import { RedisClient } from '../redis/redis-client';
import { runScript, script } from '../redis/redis-scripts';
import { HISTORY_MINUTES, LoginOutcome, StatsHistoryStore, StatsSample } from './stats-history-store';

/** Counters and claims outlive the hour they serve by a margin, then expire by themselves. */
const KEEP_MS = 2 * HISTORY_MINUTES * 60_000;

/** KEYS: the minute's counters. ARGV: field, ttl ms. One login counted in one round trip. */
const COUNT_LOGIN = script(`
redis.call('HINCRBY', KEYS[1], ARGV[1], 1)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`);

/** KEYS: the minute's claim. ARGV: ttl ms. 1 for the first caller of a minute, 0 for every other. */
const CLAIM_MINUTE = script(`
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 1 end
return 0
`);

/**
 * KEYS: history, the minute's counters. ARGV: minute, live sessions, oldest minute kept, samples kept.
 * The sample is `minute:live:succeeded:failed`, scored by minute; a minute is stored once.
 */
const APPEND_SAMPLE = script(`
local counts = redis.call('HMGET', KEYS[2], 'succeeded', 'failed')
local sample = ARGV[1] .. ':' .. ARGV[2] .. ':' .. (counts[1] or 0) .. ':' .. (counts[2] or 0)
redis.call('ZREMRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[1], sample)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])
redis.call('ZREMRANGEBYRANK', KEYS[1], 0, -tonumber(ARGV[4]) - 1)
return 1
`);

export class RedisStatsHistoryStore extends StatsHistoryStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeyLayout,
  ) {
    super();
  }

  async countLogin(outcome: LoginOutcome, minute: number): Promise<void> {
    await runScript(this.redis, COUNT_LOGIN, [this.keys.statsLogins(minute)], [outcome, KEEP_MS]);
  }

  async claim(minute: number): Promise<boolean> {
    return (await runScript<number>(this.redis, CLAIM_MINUTE, [this.keys.statsClaim(minute)], [KEEP_MS])) === 1;
  }

  async append(minute: number, liveSessions: number): Promise<void> {
    await runScript(
      this.redis,
      APPEND_SAMPLE,
      [this.keys.statsHistory(), this.keys.statsLogins(minute)],
      [minute, liveSessions, minute - HISTORY_MINUTES + 1, HISTORY_MINUTES],
    );
  }

  async since(from: number): Promise<StatsSample[]> {
    const members = await this.redis.zRangeByScore(this.keys.statsHistory(), from, '+inf');
    return members.map(parseSample).filter((s): s is StatsSample => s !== null);
  }
}

function parseSample(member: string): StatsSample | null {
  const [minute, liveSessions, loginsSucceeded, loginsFailed] = member.split(':').map(Number);
  if (![minute, liveSessions, loginsSucceeded, loginsFailed].every(Number.isSafeInteger)) return null;
  return { minute, liveSessions, loginsSucceeded, loginsFailed };
}
