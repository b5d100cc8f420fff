import { Injectable } from '@nestjs/common';
import { SessionConfig } from '../config/config';
import { InjectRedis, RedisClient, runScript } from './redis.provider';
import { ACTIVITY_SHARDS, familyRoles, handleFromPublicId, KeyLayout, roleFamily, SessionHandle } from './session-keys';
import {
  CREATE_SESSION,
  DESTROY_FOR_USER,
  DESTROY_SESSION,
  LIST_FOR_USER,
  MARK_CAPPED,
  RECORD_ACTIVITY,
  UNINDEX_EXPIRED,
} from './session-scripts';
import {
  byActivityDesc,
  CreateOptions,
  CreateResult,
  decodeCursor,
  encodeCursor,
  EndFilter,
  expiresAt,
  SessionPage,
  SessionRecord,
  SessionStats,
  SessionStore,
} from './session-store';

type Fields = Record<string, string>;

const MINUTE = 60_000;
/** Per shard and sweep, at most this many expired entries of each kind (idle, absolute). */
const SWEEP_BATCH = 500;

function toFields(r: SessionRecord): string[] {
  return [
    'un', r.username,
    'r', r.roles.join(','),
    'd', r.deviceId ?? '',
    'b', r.browser,
    'o', r.os,
    'ip', r.ip,
    'c', String(r.createdAt),
    'a', String(r.lastActivityAt),
    'x', String(r.absoluteExpiresAt),
    'n', String(r.requestCount),
  ]; // prettier-ignore
}

function fromFields(handle: SessionHandle, f: Fields): SessionRecord {
  return {
    handle,
    username: f.un,
    roles: f.r ? f.r.split(',') : [],
    deviceId: f.d || null,
    browser: f.b ?? '',
    os: f.o ?? '',
    ip: f.ip ?? '',
    createdAt: Number(f.c),
    lastActivityAt: Number(f.a),
    absoluteExpiresAt: Number(f.x),
    requestCount: Number(f.n),
  };
}

function pairsToFields(pairs: string[]): Fields {
  const fields: Fields = {};
  for (let i = 0; i < pairs.length; i += 2) fields[pairs[i]] = pairs[i + 1];
  return fields;
}

const rolesOf = (value: string): string[] => (value ? value.split(',') : []);

interface Entry {
  key: string;
  id: string;
  score: number;
}

/**
 * Sessions in Redis. Key families (all under REDIS_KEY_PREFIX; README "Key layout"):
 * - `{u:<userId>}:s:<hash>`  hash of one session, expiring at its idle/absolute deadline;
 * - `{u:<userId>}:sessions`  sorted set of that user's session hashes by deadline;
 * - `{activity:<roles>:<0-7>}` sorted sets of `<userId>.<hash>` by last activity, per role family
 *   and shard, for stats and admin pages; `{activity}:families` lists the role families;
 * - `{activity:<roles>:<0-7>}:capped` the sessions of that shard whose absolute deadline comes
 *   before their idle deadline, by absolute deadline.
 */
@Injectable()
export class RedisSessionStore extends SessionStore {
  private readonly idleMs: number;

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    private readonly keys: KeyLayout,
    config: SessionConfig,
  ) {
    super();
    this.idleMs = config.idleTimeoutMs;
  }

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { userId, hash, id } = record.handle;
    const activityKey = this.keys.activity(record.roles, hash);
    // The activity index is written first: a crash in between leaves an entry without a session,
    // which readers skip and the sweeper drops, never a live session the admin views cannot see.
    await Promise.all([
      this.redis.sAdd(this.keys.activityFamilies(), roleFamily(record.roles)),
      this.redis.zAdd(activityKey, { score: record.lastActivityAt, value: id }),
    ]);
    await this.markCapped(activityKey, id, record.lastActivityAt, record.absoluteExpiresAt);
    const reply = await runScript<[number, ...string[]]>(
      this.redis,
      CREATE_SESSION,
      [this.keys.session(userId, hash), this.keys.userSessions(userId), this.keys.user(userId)],
      [
        hash,
        options.now,
        this.idleMs,
        options.maxPerUser,
        record.deviceId ?? '',
        this.keys.sessionBase(userId),
        expiresAt(record, this.idleMs),
        options.userVersion,
        ...toFields(record),
      ],
    );
    if (reply[0] !== 1) {
      await this.unindex(record.roles, record.handle);
      return { created: false, ended: [] };
    }
    // A login is refused when the user's roles changed, so the ended sessions share these roles.
    const ended = (reply.slice(1) as string[]).map((h) => ({ userId, hash: h, id: `${userId}.${h}` }));
    await Promise.all(ended.map((h) => this.unindex(record.roles, h)));
    return { created: true, ended };
  }

  async get(handle: SessionHandle, now: number): Promise<SessionRecord | null> {
    const fields = await this.redis.hGetAll(this.keys.session(handle.userId, handle.hash));
    if (fields.a === undefined) return null;
    const record = fromFields(handle, fields);
    return expiresAt(record, this.idleMs) > now ? record : null;
  }

  async recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean> {
    const alive = await runScript<[string, string] | null>(
      this.redis,
      RECORD_ACTIVITY,
      [this.keys.session(handle.userId, handle.hash), this.keys.userSessions(handle.userId)],
      [handle.hash, at, count, this.idleMs],
    );
    if (alive === null) return false;
    const activityKey = this.keys.activity(rolesOf(alive[0]), handle.hash);
    // XX: never re-adds a session that was ended meanwhile; GT: never moves activity back.
    await this.redis.zAdd(activityKey, { score: at, value: handle.id }, { condition: 'XX', comparison: 'GT' });
    await this.markCapped(activityKey, handle.id, at, Number(alive[1]));
    return true;
  }

  async destroy(handle: SessionHandle): Promise<boolean> {
    const roles = await runScript<string | null>(
      this.redis,
      DESTROY_SESSION,
      [this.keys.session(handle.userId, handle.hash), this.keys.userSessions(handle.userId)],
      [handle.hash],
    );
    if (roles === null) return false;
    await this.unindex(rolesOf(roles), handle);
    return true;
  }

  async listForUser(userId: string, now: number): Promise<SessionRecord[]> {
    const flat = await runScript<(string | string[])[]>(
      this.redis,
      LIST_FOR_USER,
      [this.keys.userSessions(userId)],
      [this.keys.sessionBase(userId), now, this.idleMs],
    );
    const records: SessionRecord[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const handle = handleFromPublicId(`${userId}.${flat[i] as string}`);
      if (handle) records.push(fromFields(handle, pairsToFields(flat[i + 1] as string[])));
    }
    return records;
  }

  async destroyForUser(userId: string, filter: EndFilter): Promise<SessionHandle[]> {
    const flat = await runScript<string[]>(
      this.redis,
      DESTROY_FOR_USER,
      [this.keys.userSessions(userId)],
      [this.keys.sessionBase(userId), filter.exceptHash ?? '', filter.deviceId ?? ''],
    );
    const ended: SessionHandle[] = [];
    const unindexed: Promise<void>[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const handle = { userId, hash: flat[i], id: `${userId}.${flat[i]}` };
      ended.push(handle);
      unindexed.push(this.unindex(rolesOf(flat[i + 1]), handle));
    }
    await Promise.all(unindexed);
    return ended;
  }

  async stats(now: number): Promise<SessionStats> {
    const idleFrom = now - this.idleMs;
    const windows = [idleFrom, Math.max(now - 5 * MINUTE, idleFrom), Math.max(now - 15 * MINUTE, idleFrom)];
    const families = await this.redis.sMembers(this.keys.activityFamilies());
    const counts = await Promise.all(
      families.flatMap((family) =>
        this.shardKeys(family).map(async (key) => {
          const [counted, ended] = await Promise.all([
            Promise.all(windows.map((from) => this.redis.zCount(key, `(${from}`, '+inf'))),
            this.cappedEnded(key, now),
          ]);
          // Sessions past their absolute deadline that no sweep has removed yet are not live.
          const endedScores = await Promise.all(ended.map((id) => this.redis.zScore(key, id)));
          for (const score of endedScores) {
            windows.forEach((from, i) => {
              if (score !== null && score > from) counted[i] -= 1;
            });
          }
          return { family, total: counted[0], m5: counted[1], m15: counted[2] };
        }),
      ),
    );
    const stats: SessionStats = { total: 0, activeLast5m: 0, activeLast15m: 0, byRole: {} };
    for (const { family, total, m5, m15 } of counts) {
      stats.total += total;
      stats.activeLast5m += m5;
      stats.activeLast15m += m15;
      if (total === 0) continue;
      for (const role of familyRoles(family)) stats.byRole[role] = (stats.byRole[role] ?? 0) + total;
    }
    return stats;
  }

  async page(limit: number, cursor: string | undefined, now: number): Promise<SessionPage> {
    const after = cursor === undefined ? null : decodeCursor(cursor);
    const floor = `(${now - this.idleMs}`;
    const families = await this.redis.sMembers(this.keys.activityFamilies());
    const perKey = await Promise.all(
      families.flatMap((family) =>
        this.shardKeys(family).map(async (key): Promise<Entry[]> => {
          const top = after === null ? '+inf' : `(${after.score}`;
          const [older, ties] = await Promise.all([
            this.redis.zRangeWithScores(key, top, floor, {
              BY: 'SCORE',
              REV: true,
              LIMIT: { offset: 0, count: limit + 1 },
            }),
            after === null ? [] : this.redis.zRangeWithScores(key, after.score, after.score, { BY: 'SCORE' }),
          ]);
          return [...ties.filter((t) => after !== null && t.value < after.id), ...older].map((e) => ({
            key,
            id: e.value,
            score: e.score,
          }));
        }),
      ),
    );
    const candidates = perKey.flat().sort(byActivityDesc);
    const taken = candidates.slice(0, limit);
    const records = await Promise.all(taken.map((entry) => this.readEntry(entry, now)));
    const last = taken[taken.length - 1];
    return {
      sessions: records.filter((r): r is SessionRecord => r !== null),
      nextCursor: candidates.length > limit && last ? encodeCursor(last.score, last.id) : null,
    };
  }

  async sweep(now: number): Promise<SessionHandle[]> {
    const families = await this.redis.sMembers(this.keys.activityFamilies());
    const found = await Promise.all(families.flatMap((f) => this.shardKeys(f).map((key) => this.sweepKey(key, now))));
    return found.flat();
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  private shardKeys(family: string): string[] {
    return Array.from({ length: ACTIVITY_SHARDS }, (_, shard) => this.keys.activityShard(family, shard));
  }

  /** The session behind an activity entry; a dead entry leaves the activity index on the way. */
  private async readEntry(entry: Entry, now: number): Promise<SessionRecord | null> {
    const handle = handleFromPublicId(entry.id);
    const record = handle ? await this.get(handle, now) : null;
    // The capped entry, if any, stays: the sweeper still finds and reports this expiry.
    if (!record) await this.redis.zRem(entry.key, entry.id);
    return record;
  }

  /** Sessions of an activity shard whose absolute deadline has passed. */
  private cappedEnded(activityKey: string, now: number): Promise<string[]> {
    return this.redis.zRangeByScore(this.keys.capped(activityKey), '-inf', now, {
      LIMIT: { offset: 0, count: SWEEP_BATCH },
    });
  }

  /** Records that a session will end at its absolute deadline, when that comes before the idle one. */
  private async markCapped(activityKey: string, id: string, lastActivityAt: number, absolute: number): Promise<void> {
    if (lastActivityAt + this.idleMs >= absolute) {
      await runScript(this.redis, MARK_CAPPED, [activityKey, this.keys.capped(activityKey)], [id, absolute]);
    }
  }

  private async unindex(roles: string[], handle: SessionHandle): Promise<void> {
    const key = this.keys.activity(roles, handle.hash);
    await Promise.all([this.redis.zRem(key, handle.id), this.redis.zRem(this.keys.capped(key), handle.id)]);
  }

  private async sweepKey(key: string, now: number): Promise<SessionHandle[]> {
    const [idle, capped] = await Promise.all([
      this.redis.zRangeByScore(key, '-inf', now - this.idleMs, { LIMIT: { offset: 0, count: SWEEP_BATCH } }),
      this.cappedEnded(key, now),
    ]);
    const dead = [...new Set([...idle, ...capped])];
    if (dead.length === 0) return [];
    const removed = await runScript<string[]>(this.redis, UNINDEX_EXPIRED, [key, this.keys.capped(key)], dead);
    return removed.flatMap((id) => {
      const handle = handleFromPublicId(id);
      return handle ? [handle] : [];
    });
  }
}
