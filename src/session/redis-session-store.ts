import { Injectable } from '@nestjs/common';
import { SessionConfig } from '../config/config';
import { InjectRedis, RedisClient, runScript } from './redis.provider';
import { handleFromPublicId, KeyLayout, SessionHandle } from './session-keys';
import { CREATE_SESSION, DESTROY_FOR_USER, DESTROY_SESSION, LIST_FOR_USER, RECORD_ACTIVITY } from './session-scripts';
import { EndFilter, expiresAt, SessionRecord, SessionStore } from './session-store';

type Fields = Record<string, string>;

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

/**
 * Sessions in Redis. Key families (all under REDIS_KEY_PREFIX):
 * - `{u:<userId>}:s:<hash>`  hash of one session, expiring at its idle/absolute deadline;
 * - `{u:<userId>}:sessions`  sorted set of that user's session hashes by deadline;
 * - `{activity:<0-15>}`      sorted sets of `<userId>.<hash>` by last activity, for the admin views.
 */
@Injectable()
export class RedisSessionStore extends SessionStore {
  private readonly keys: KeyLayout;
  private readonly idleMs: number;

  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    keys: KeyLayout,
    config: SessionConfig,
  ) {
    super();
    this.keys = keys;
    this.idleMs = config.idleTimeoutMs;
  }

  async create(record: SessionRecord, maxPerUser: number, now: number): Promise<SessionHandle[]> {
    const { userId, hash, id } = record.handle;
    // The activity index is written first: a crash in between leaves an entry without a session,
    // which readers skip and drop, never a live session that the admin views cannot see.
    await this.redis.zAdd(this.keys.activity(hash), { score: record.lastActivityAt, value: id });
    const ended = await runScript<string[]>(
      this.redis,
      CREATE_SESSION,
      [this.keys.session(userId, hash), this.keys.userSessions(userId)],
      [
        hash,
        now,
        this.idleMs,
        maxPerUser,
        record.deviceId ?? '',
        this.keys.sessionBase(userId),
        expiresAt(record, this.idleMs),
        ...toFields(record),
      ],
    );
    const handles = ended.map((h) => ({ userId, hash: h, id: `${userId}.${h}` }));
    await this.unindex(handles);
    return handles;
  }

  async get(handle: SessionHandle, now: number): Promise<SessionRecord | null> {
    const fields = await this.redis.hGetAll(this.keys.session(handle.userId, handle.hash));
    if (fields.a === undefined) return null;
    const record = fromFields(handle, fields);
    return expiresAt(record, this.idleMs) > now ? record : null;
  }

  async recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean> {
    const alive = await runScript<number>(
      this.redis,
      RECORD_ACTIVITY,
      [this.keys.session(handle.userId, handle.hash), this.keys.userSessions(handle.userId)],
      [handle.hash, at, count, this.idleMs],
    );
    if (alive !== 1) return false;
    // XX: never re-adds a session that was ended meanwhile; GT: never moves activity back.
    await this.redis.zAdd(
      this.keys.activity(handle.hash),
      { score: at, value: handle.id },
      { condition: 'XX', comparison: 'GT' },
    );
    return true;
  }

  async destroy(handle: SessionHandle): Promise<boolean> {
    const deleted = await runScript<number>(
      this.redis,
      DESTROY_SESSION,
      [this.keys.session(handle.userId, handle.hash), this.keys.userSessions(handle.userId)],
      [handle.hash],
    );
    await this.unindex([handle]);
    return deleted === 1;
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
    const ended = await runScript<string[]>(
      this.redis,
      DESTROY_FOR_USER,
      [this.keys.userSessions(userId)],
      [this.keys.sessionBase(userId), filter.exceptHash ?? '', filter.deviceId ?? ''],
    );
    const handles = ended.map((h) => ({ userId, hash: h, id: `${userId}.${h}` }));
    await this.unindex(handles);
    return handles;
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }

  private async unindex(handles: SessionHandle[]): Promise<void> {
    await Promise.all(handles.map((h) => this.redis.zRem(this.keys.activity(h.hash), h.id)));
  }
}
