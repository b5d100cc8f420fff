import { Injectable } from '@nestjs/common';
import { SessionConfig } from '../config/config';
import { ACTIVITY_SHARDS, activityShardOf, familyRoles, KeyLayout, roleFamily } from '../redis/key-layout';
import { InjectRedis, RedisClient } from '../redis/redis-client';
import { runScript } from '../redis/redis-scripts';
import { NoReplicaWait, ReplicaWait } from '../redis/replica-wait';
import { META_FIELD, packMeta, packSession, unpackMeta, unpackSession } from './session-codec';
import { handleFromPublicId, SessionHandle } from './session-ids';
import {
  COUNT_SHARD,
  CREATE_SESSION,
  DESTROY_FOR_USER,
  DESTROY_SESSION,
  MARK_CAPPED,
  PAGE_SHARD,
  PRUNE_SESSIONS,
  FLAG_SUSPICIOUS,
  MARK_AUTHENTICATED,
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

const MINUTE = 60_000;
/** Per shard and sweep, at most this many expired entries of each kind (idle, absolute). */
const SWEEP_BATCH = 500;

const rolesOf = (meta: string | null): string[] => unpackMeta(meta)?.roles ?? [];

const handleOf = (userId: string, hash: string): SessionHandle => ({ userId, hash, publicId: `${userId}.${hash}` });

interface Entry {
  key: string;
  id: string;
  score: number;
}

/** One activity shard while a page is merged from all of them. */
interface PageSource {
  key: string;
  /** Fetch entries after this one (the cursor, then the last entry fetched). */
  from: { score: number; id: string } | null;
  more: boolean;
}

/**
 * Sessions in Redis. Key families (all under REDIS_KEY_PREFIX; README "Key layout"):
 * - `{u:<userId>}:s` hash of all that user's sessions (field = session hash, value = the packed
 *   session, session-codec.ts) plus `~u` (name and roles), expiring with its longest-lived session;
 * - `{activity:<roles>:<0-7>}` sorted sets of `<userId>.<hash>` by last activity, per role family
 *   and shard, for stats and admin pages; `{activity}:families` lists the role families;
 * - `{activity:<roles>:<0-7>}:capped` the sessions of that shard whose absolute deadline comes
 *   before their idle deadline, by absolute deadline.
 * A session that has expired may stay in its user's hash until something walks past it (a login
 * of that user, a listing, the sweeper): every read checks the deadlines itself.
 */
@Injectable()
export class RedisSessionStore extends SessionStore {
  private readonly idleMs: number;

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    private readonly keys: KeyLayout,
    config: SessionConfig,
    /** Endings return once a replica has them (Sentinel, Cluster): a failover right after a logout keeps it. */
    private readonly replicas: ReplicaWait = new NoReplicaWait(redis),
  ) {
    super();
    this.idleMs = config.idleTimeoutMs;
  }

  async create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { userId, hash, publicId } = record.handle;
    const activityKey = this.keys.activity(record.roles, hash);
    // The activity index is written first: a crash in between leaves an entry without a session,
    // which readers skip and the sweeper drops, never a live session the admin views cannot see.
    await Promise.all([
      this.redis.sAdd(this.keys.activityFamilies(), roleFamily(record.roles)),
      this.redis.zAdd(activityKey, { score: record.lastActivityAt, value: publicId }),
    ]);
    await this.markCapped(activityKey, publicId, record.lastActivityAt, record.absoluteExpiresAt);
    const reply = await runScript<[number, string, ...string[]]>(
      this.redis,
      CREATE_SESSION,
      [this.keys.userSessions(userId), this.keys.user(userId)],
      [
        hash,
        options.now,
        this.idleMs,
        options.maxPerUser,
        record.deviceId ?? '',
        expiresAt(record, this.idleMs),
        options.userVersion,
        packSession(record),
        packMeta(record.username, record.roles),
      ],
    );
    if (reply[0] !== 1) {
      await this.unindex(record.roles, [record.handle]);
      return { created: false, ended: [] };
    }
    // The ended sessions' roles: this login's, or those before a role change (the script ends those).
    const ended = (reply.slice(2) as string[]).map((h) => handleOf(userId, h));
    await this.unindex(rolesOf(reply[1]), ended);
    return { created: true, ended };
  }

  /** One HMGET: the session's field and the user's name and roles. */
  async get(handle: SessionHandle, now: number): Promise<SessionRecord | null> {
    const [value, meta] = await this.redis.hmGet(this.keys.userSessions(handle.userId), [handle.hash, META_FIELD]);
    const user = unpackMeta(meta);
    const record = value && user ? unpackSession(handle, value, user) : null;
    return record && expiresAt(record, this.idleMs) > now ? record : null;
  }

  async recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean> {
    const alive = await runScript<[string, string] | null>(
      this.redis,
      RECORD_ACTIVITY,
      [this.keys.userSessions(handle.userId)],
      [handle.hash, Math.trunc(at), Math.trunc(count), this.idleMs],
    );
    if (alive === null) return false;
    const activityKey = this.keys.activity(rolesOf(alive[0]), handle.hash);
    // XX: never re-adds a session that was ended meanwhile; GT: never moves activity back.
    await this.redis.zAdd(activityKey, { score: at, value: handle.publicId }, { condition: 'XX', comparison: 'GT' });
    await this.markCapped(activityKey, handle.publicId, at, Number(alive[1]));
    return true;
  }

  async markAuthenticated(handle: SessionHandle, at: number): Promise<boolean> {
    const key = this.keys.userSessions(handle.userId);
    const done = await runScript<number>(
      this.redis,
      MARK_AUTHENTICATED,
      [key],
      [handle.hash, Math.trunc(at).toString(36)],
    );
    return done === 1;
  }

  async flagSuspicious(handle: SessionHandle, block: boolean): Promise<boolean> {
    const key = this.keys.userSessions(handle.userId);
    return (await runScript<number>(this.redis, FLAG_SUSPICIOUS, [key], [handle.hash, block ? 'b' : 'f'])) === 1;
  }

  async destroy(handle: SessionHandle): Promise<boolean> {
    const key = this.keys.userSessions(handle.userId);
    const meta = await this.replicas.acknowledged(key, (redis) =>
      runScript<string | null>(redis, DESTROY_SESSION, [key], [handle.hash]),
    );
    if (meta === null) return false;
    await this.unindex(rolesOf(meta), [handle]);
    return true;
  }

  /** One HGETALL, decoded here: no script walks the user's sessions inside Redis. */
  async listForUser(userId: string, now: number): Promise<SessionRecord[]> {
    const key = this.keys.userSessions(userId);
    const fields = await this.redis.hGetAll(key);
    const user = unpackMeta(fields[META_FIELD]);
    if (!user) return [];
    const records: SessionRecord[] = [];
    const ended: string[] = [];
    for (const hash of Object.keys(fields)) {
      if (hash === META_FIELD) continue;
      const record = unpackSession(handleOf(userId, hash), fields[hash], user);
      if (record && expiresAt(record, this.idleMs) > now) records.push(record);
      else ended.push(hash);
    }
    // Rare (the sweeper usually comes first): drop what has expired; its expiry is still reported
    // by the sweeper, from the activity index.
    if (ended.length > 0) await runScript(this.redis, PRUNE_SESSIONS, [key], [now, this.idleMs, ...ended]);
    return records;
  }

  async destroyForUser(userId: string, filter: EndFilter): Promise<SessionHandle[]> {
    const key = this.keys.userSessions(userId);
    // Also covers the user change written just before, on the same hash tag (RedisUserStore).
    const [meta, ...hashes] = await this.replicas.acknowledged(key, (redis) =>
      runScript<string[]>(redis, DESTROY_FOR_USER, [key], [filter.exceptHash ?? '', filter.deviceId ?? '']),
    );
    const ended = hashes.map((h) => handleOf(userId, h));
    await this.unindex(rolesOf(meta), ended);
    return ended;
  }

  async stats(now: number): Promise<SessionStats> {
    const idleFrom = now - this.idleMs;
    const floors = [idleFrom, Math.max(now - 5 * MINUTE, idleFrom), Math.max(now - 15 * MINUTE, idleFrom)];
    const families = await this.redis.sMembers(this.keys.activityFamilies());
    // One script per shard (three ZCOUNTs and the capped check), not five commands: fewer round
    // trips, and far less for Node to allocate and collect.
    const counts = await Promise.all(
      families.map((family) =>
        Promise.all(
          this.shardKeys(family).map((key) =>
            runScript<number[]>(this.redis, COUNT_SHARD, [key, this.keys.capped(key)], [now, SWEEP_BATCH, ...floors]),
          ),
        ),
      ),
    );
    const stats: SessionStats = { total: 0, activeLast5m: 0, activeLast15m: 0, byRole: {} };
    families.forEach((family, i) => {
      let total = 0;
      for (const [all, m5, m15] of counts[i]) {
        total += all;
        stats.activeLast5m += m5;
        stats.activeLast15m += m15;
      }
      stats.total += total;
      if (total === 0) return;
      for (const role of familyRoles(family)) stats.byRole[role] = (stats.byRole[role] ?? 0) + total;
    });
    return stats;
  }

  /**
   * Merges the shards: first a few entries from each (about twice a fair share of the page), then
   * more only from shards whose last entry could still be on the page.
   */
  async page(limit: number, cursor: string | undefined, now: number): Promise<SessionPage> {
    const after = cursor === undefined ? null : decodeCursor(cursor);
    const families = await this.redis.sMembers(this.keys.activityFamilies());
    const sources: PageSource[] = families.flatMap((f) =>
      this.shardKeys(f).map((key) => ({ key, from: after, more: true })),
    );
    const want = limit + 1;
    const candidates: Entry[] = [];
    let count = Math.min(want, Math.ceil((2 * want) / Math.max(1, sources.length)) + 4);
    for (let pending = sources; pending.length > 0; count = want) {
      await Promise.all(pending.map((source) => this.fetchPage(source, count, now, candidates)));
      candidates.sort(byActivityDesc);
      const edge = candidates.length >= want ? candidates[want - 1] : null;
      pending = sources.filter((s) => s.more && (edge === null || s.from === null || byActivityDesc(s.from, edge) < 0));
    }
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

  private shardKeys(family: string): string[] {
    return Array.from({ length: ACTIVITY_SHARDS }, (_, shard) => this.keys.activityShard(family, shard));
  }

  /** Adds to `into` the shard's next entries after `source.from`, and moves `from` past them. */
  private async fetchPage(source: PageSource, count: number, now: number, into: Entry[]): Promise<void> {
    const from = source.from;
    const [ties, rest] = await runScript<[string[], string[]]>(
      this.redis,
      PAGE_SHARD,
      [source.key],
      [now - this.idleMs, count, ...(from ? [from.score, from.id] : [])],
    );
    for (let i = 0; i < ties.length; i += 2) {
      // Same score as `from`: only those with a smaller id come after it.
      if (from !== null && ties[i] < from.id) into.push({ key: source.key, id: ties[i], score: from.score });
    }
    for (let i = 0; i < rest.length; i += 2) into.push({ key: source.key, id: rest[i], score: Number(rest[i + 1]) });
    source.more = rest.length === 2 * count;
    if (rest.length > 0) source.from = { id: rest[rest.length - 2], score: Number(rest[rest.length - 1]) };
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

  /** Removes sessions of one role family from the activity indexes: two variadic ZREMs per shard. */
  private async unindex(roles: string[], handles: SessionHandle[]): Promise<void> {
    if (handles.length === 0) return;
    const family = roleFamily(roles);
    const byShard = new Map<number, string[]>();
    for (const h of handles) {
      const shard = activityShardOf(h.hash);
      const ids = byShard.get(shard);
      if (ids) ids.push(h.publicId);
      else byShard.set(shard, [h.publicId]);
    }
    await Promise.all(
      [...byShard].flatMap(([shard, ids]) => {
        const key = this.keys.activityShard(family, shard);
        return [this.redis.zRem(key, ids), this.redis.zRem(this.keys.capped(key), ids)];
      }),
    );
  }

  /**
   * Expired entries of one shard: each candidate is checked against its user's hash first (the
   * index can trail an activity write), which also drops the expired session there; then the dead
   * ones leave the index, and whoever removed an entry reports it.
   */
  private async sweepKey(key: string, now: number): Promise<SessionHandle[]> {
    const [idle, capped] = await Promise.all([
      this.redis.zRangeByScore(key, '-inf', now - this.idleMs, { LIMIT: { offset: 0, count: SWEEP_BATCH } }),
      this.cappedEnded(key, now),
    ]);
    if (idle.length === 0 && capped.length === 0) return [];
    const byUser = new Map<string, string[]>();
    const dead: string[] = [];
    for (const id of new Set([...idle, ...capped])) {
      const handle = handleFromPublicId(id);
      if (!handle) {
        dead.push(id);
        continue;
      }
      const hashes = byUser.get(handle.userId);
      if (hashes) hashes.push(handle.hash);
      else byUser.set(handle.userId, [handle.hash]);
    }
    const alive: { score: number; value: string }[] = [];
    await Promise.all(
      [...byUser].map(async ([userId, hashes]) => {
        const states = await runScript<string[]>(
          this.redis,
          PRUNE_SESSIONS,
          [this.keys.userSessions(userId)],
          [now, this.idleMs, ...hashes],
        );
        states.forEach((lastActivityAt, i) => {
          const id = `${userId}.${hashes[i]}`;
          if (lastActivityAt === '') dead.push(id);
          else alive.push({ score: Number(lastActivityAt), value: id });
        });
      }),
    );
    // Alive after all: its activity was written but the index update had not landed yet.
    if (alive.length > 0) await this.redis.zAdd(key, alive, { condition: 'XX', comparison: 'GT' });
    if (dead.length === 0) return [];
    const removed = await runScript<string[]>(this.redis, UNINDEX_EXPIRED, [key, this.keys.capped(key)], dead);
    return removed.flatMap((id) => {
      const handle = handleFromPublicId(id);
      return handle ? [handle] : [];
    });
  }
}
