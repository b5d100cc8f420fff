import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { SessionConfig } from '../config/config';
import { EmbeddedDb, EmbeddedTable } from '../redis/embedded-db';
import { SessionHandle } from './session-ids';
import {
  CreateOptions,
  CreateResult,
  EndFilter,
  expiresAt,
  pageInMemory,
  SessionPage,
  SessionRecord,
  SessionStats,
  SessionStore,
} from './session-store';

const copy = (r: SessionRecord): SessionRecord => ({ ...r, roles: [...r.roles] });

/** userId -> session hash -> record. */
export const SESSIONS = new EmbeddedTable<string, Map<string, SessionRecord>>('sessions');

/**
 * The users table (users/memory-user-store.ts) as a login reads it: the same check as the
 * CREATE_SESSION script, in the same step that stores the session.
 */
const USERS = new EmbeddedTable<string, UserState>('users');

interface UserState {
  readonly version: number;
  readonly disabled: boolean;
}

/**
 * The embedded store for development without Redis: one process, the same rules as the Redis store
 * (atomic create with device and per-user limits, writes only to live sessions), no persistence.
 * Its stats and pages walk every session: fine for development, which is all it is for.
 */
@Injectable()
export class MemorySessionStore extends SessionStore implements OnModuleDestroy {
  private readonly idleMs: number;
  /** Sessions that expired since the last sweep, to report once. */
  private readonly expired: SessionHandle[] = [];

  private readonly sessions: Map<string, Map<string, SessionRecord>>;
  private readonly users: ReadonlyMap<string, UserState>;

  constructor(db: EmbeddedDb, config: SessionConfig) {
    super();
    this.sessions = db.table(SESSIONS);
    this.users = db.table(USERS);
    this.idleMs = config.idleTimeoutMs;
  }

  onModuleDestroy(): void {
    this.sessions.clear();
  }

  create(record: SessionRecord, options: CreateOptions): Promise<CreateResult> {
    const { userId } = record.handle;
    const user = this.users.get(userId);
    if (!user || user.version !== options.userVersion || user.disabled) {
      return Promise.resolve({ created: false, ended: [] });
    }
    const sessions = this.live(userId, options.now);
    const ended: SessionHandle[] = [];
    const end = (r: SessionRecord): void => {
      sessions.delete(r.handle.hash);
      ended.push(r.handle);
    };
    if (record.deviceId !== null) {
      for (const r of [...sessions.values()]) if (r.deviceId === record.deviceId) end(r);
    }
    if (options.maxPerUser > 0 && sessions.size >= options.maxPerUser) {
      const byActivity = [...sessions.values()].sort((p, q) => p.lastActivityAt - q.lastActivityAt);
      byActivity.slice(0, sessions.size - options.maxPerUser + 1).forEach(end);
    }
    sessions.set(record.handle.hash, copy(record));
    this.sessions.set(userId, sessions);
    return Promise.resolve({ created: true, ended });
  }

  get(handle: SessionHandle, now: number): Promise<SessionRecord | null> {
    const record = this.live(handle.userId, now).get(handle.hash);
    return Promise.resolve(record ? copy(record) : null);
  }

  recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean> {
    const record = this.live(handle.userId, at).get(handle.hash);
    if (!record) return Promise.resolve(false);
    record.requestCount += count;
    record.lastActivityAt = Math.max(record.lastActivityAt, at);
    return Promise.resolve(true);
  }

  markAuthenticated(handle: SessionHandle, at: number): Promise<boolean> {
    const record = this.live(handle.userId, at).get(handle.hash);
    if (!record) return Promise.resolve(false);
    record.authenticatedAt = at;
    if (record.suspicion === 'blocked') record.suspicion = 'flagged';
    return Promise.resolve(true);
  }

  flagSuspicious(handle: SessionHandle, block: boolean): Promise<boolean> {
    const record = this.sessions.get(handle.userId)?.get(handle.hash);
    if (!record || record.suspicion !== 'none') return Promise.resolve(false);
    record.suspicion = block ? 'blocked' : 'flagged';
    return Promise.resolve(true);
  }

  destroy(handle: SessionHandle): Promise<boolean> {
    return Promise.resolve(this.sessions.get(handle.userId)?.delete(handle.hash) ?? false);
  }

  listForUser(userId: string, now: number): Promise<SessionRecord[]> {
    return Promise.resolve([...this.live(userId, now).values()].map(copy));
  }

  destroyForUser(userId: string, filter: EndFilter): Promise<SessionHandle[]> {
    const sessions = this.sessions.get(userId) ?? new Map<string, SessionRecord>();
    const ended: SessionHandle[] = [];
    for (const r of [...sessions.values()]) {
      if (r.handle.hash === filter.exceptHash) continue;
      if (filter.deviceId !== undefined && r.deviceId !== filter.deviceId) continue;
      sessions.delete(r.handle.hash);
      ended.push(r.handle);
    }
    return Promise.resolve(ended);
  }

  stats(now: number): Promise<SessionStats> {
    const stats: SessionStats = { total: 0, activeLast5m: 0, activeLast15m: 0, byRole: {} };
    for (const r of this.all(now)) {
      stats.total += 1;
      if (r.lastActivityAt > now - 5 * 60_000) stats.activeLast5m += 1;
      if (r.lastActivityAt > now - 15 * 60_000) stats.activeLast15m += 1;
      for (const role of r.roles) stats.byRole[role] = (stats.byRole[role] ?? 0) + 1;
    }
    return Promise.resolve(stats);
  }

  page(limit: number, cursor: string | undefined, now: number): Promise<SessionPage> {
    const page = pageInMemory(this.all(now), limit, cursor);
    return Promise.resolve({ ...page, sessions: page.sessions.map(copy) });
  }

  sweep(now: number): Promise<SessionHandle[]> {
    for (const userId of [...this.sessions.keys()]) this.live(userId, now);
    return Promise.resolve(this.expired.splice(0));
  }

  private all(now: number): SessionRecord[] {
    return [...this.sessions.keys()].flatMap((userId) => [...this.live(userId, now).values()]);
  }

  /** The user's sessions with the expired ones dropped (and remembered for the next sweep). */
  private live(userId: string, now: number): Map<string, SessionRecord> {
    const sessions = this.sessions.get(userId) ?? new Map<string, SessionRecord>();
    for (const [hash, r] of sessions) {
      if (expiresAt(r, this.idleMs) <= now) {
        sessions.delete(hash);
        this.expired.push(r.handle);
      }
    }
    if (sessions.size === 0) this.sessions.delete(userId);
    return sessions;
  }
}
