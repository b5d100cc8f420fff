import { Injectable } from '@nestjs/common';
import { SessionConfig } from '../config/config';
import { InjectRedis, RedisClient, runScript } from './redis.provider';
import { ACTIVITY_SHARDS, familyRoles, handleFromPublicId, KeyLayout, roleFamily, SessionHandle } from './session-keys';
import { CREATE_SESSION, DESTROY_FOR_USER, DESTROY_SESSION, LIST_FOR_USER, RECORD_ACTIVITY } from './session-scripts';
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
/** Per shard and sweep: index entries past their idle deadline, and entries walked for absolute expiry. */
const SWEEP_BATCH = 500;
const WALK_BATCH = 200;

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
 *   and shard, for stats and admin pages; `{activity}:families` lists the role families.
 */
@Injectable()
export class RedisSessionStore extends SessionStore {
  private readonly idleMs: number;
  /** Where the rolling absolute-expiry walk stands in each activity key. */
  private readonly walked = new Map<string, number>();

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
      await this.redis.zRem(activityKey, id);
      return { created: false, ended: [] };
    }
    // A login is refused when the user's roles changed, so the ended sessions share these roles.
    const ended = (reply.slice(1) as string[]).map((h) => ({ userId, hash: h, id: `${userId}.${h}` }));
    await Promise.all(ended.map((h) => this.redis.zRem(this.keys.activity(record.roles, h.hash), h.id)));
    return { created: true, ended };
  }

  async get(handle: SessionHandle, now: number): Promise<SessionRecord | null> {
    const fields = await this.redis.hGetAll(this.keys.session(handle.userId, handle.hash));
    if (fields.a === undefined) return null;
    const record = fromFields(handle, fields);
    return expiresAt(record, this.idleMs) > now ? record : null;
  }

  async recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean> {
    const roles = await runScript<string | null>(
      this.redis,
      RECORD_ACTIVITY,
      [this.keys.session(handle.userId, handle.hash), this.keys.userSessions(handle.userId)],
      [handle.hash, at, count, this.idleMs],
    );
    if (roles === null) return false;
    // XX: never re-adds a session that was ended meanwhile; GT: never moves activity back.
    await this.redis.zAdd(
      this.keys.activity(rolesOf(roles), handle.hash),
      { score: at, value: handle.id },
      { condition: 'XX', comparison: 'GT' },
    );
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
    await this.redis.zRem(this.keys.activity(rolesOf(roles), handle.hash), handle.id);
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
    const unindexed: Promise<number>[] = [];
    for (let i = 0; i < flat.length; i += 2) {
      const handle = { userId, hash: flat[i], id: `${userId}.${flat[i]}` };
      ended.push(handle);
      unindexed.push(this.redis.zRem(this.keys.activity(rolesOf(flat[i + 1]), handle.hash), handle.id));
    }
    await Promise.all(unindexed);
    return ended;
  }

  async stats(now: number): Promise<SessionStats> {
    const idleFrom = now - this.idleMs;
    const since = (ms: number): string => `(${Math.max(now - ms, idleFrom)}`;
    const families = await this.redis.sMembers(this.keys.activityFamilies());
    const counts = await Promise.all(
      families.flatMap((family) =>
        this.shardKeys(family).map(async (key) => {
          const [total, m5, m15] = await Promise.all([
            this.redis.zCount(key, `(${idleFrom}`, '+inf'),
            this.redis.zCount(key, since(5 * MINUTE), '+inf'),
            this.redis.zCount(key, since(15 * MINUTE), '+inf'),
          ]);
          return { family, total, m5, m15 };
        }),
      ),
    );
    const stats: SessionStats = { total: 0, activeLast5m: 0, activeLast15m: 0, byRole: {} };
    for (const { family, total, m5, m15 } of counts) {
      stats.total += total;
      stats.activeLast5m += m5;
      stats.activeLast15m += m15;
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

  /** The session behind an activity entry; a dead entry is dropped on the way. */
  private async readEntry(entry: Entry, now: number): Promise<SessionRecord | null> {
    const handle = handleFromPublicId(entry.id);
    const record = handle ? await this.get(handle, now) : null;
    if (!record) await this.redis.zRem(entry.key, entry.id);
    return record;
  }

  private async sweepKey(key: string, now: number): Promise<SessionHandle[]> {
    const position = this.walked.get(key) ?? 0;
    const [idle, walk] = await Promise.all([
      this.redis.zRangeByScore(key, '-inf', now - this.idleMs, { LIMIT: { offset: 0, count: SWEEP_BATCH } }),
      this.redis.zRange(key, position, position + WALK_BATCH - 1),
    ]);
    this.walked.set(key, walk.length < WALK_BATCH ? 0 : position + WALK_BATCH);
    // The walk finds sessions that hit the absolute timeout while still active (their score is recent).
    const walkedDead = await Promise.all(
      walk.map(async (id) => {
        const handle = handleFromPublicId(id);
        if (!handle) return id;
        const [a, x] = await this.redis.hmGet(this.keys.session(handle.userId, handle.hash), ['a', 'x']);
        const dead = a === null || x === null || Math.min(Number(a) + this.idleMs, Number(x)) <= now;
        return dead ? id : null;
      }),
    );
    const dead = new Set([...idle, ...walkedDead.filter((id): id is string => id !== null)]);
    // One ZREM per entry: the instance whose ZREM removed it is the one that reports it.
    const removed = await Promise.all(
      [...dead].map(async (id) => ((await this.redis.zRem(key, id)) === 1 ? id : null)),
    );
    return removed.flatMap((id) => {
      const handle = id === null ? null : handleFromPublicId(id);
      return handle ? [handle] : [];
    });
  }
}
