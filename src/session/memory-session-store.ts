import { Injectable, OnModuleDestroy } from '@nestjs/common';
import { SessionConfig } from '../config/config';
import { SessionHandle } from './session-keys';
import { EndFilter, expiresAt, SessionRecord, SessionStore } from './session-store';

/**
 * The embedded store for development without Redis: one process, same rules as the Redis store
 * (atomic create with device and per-user limits, writes only to live sessions), no persistence.
 */
@Injectable()
export class MemorySessionStore extends SessionStore implements OnModuleDestroy {
  private readonly byUser = new Map<string, Map<string, SessionRecord>>();
  private readonly idleMs: number;
  private readonly sweeper: NodeJS.Timeout;

  constructor(config: SessionConfig) {
    super();
    this.idleMs = config.idleTimeoutMs;
    this.sweeper = setInterval(() => this.sweep(Date.now()), 60_000).unref();
  }

  onModuleDestroy(): void {
    clearInterval(this.sweeper);
  }

  create(record: SessionRecord, maxPerUser: number, now: number): Promise<SessionHandle[]> {
    const { userId } = record.handle;
    const sessions = this.live(userId, now);
    const ended: SessionHandle[] = [];
    const end = (r: SessionRecord): void => {
      sessions.delete(r.handle.hash);
      ended.push(r.handle);
    };
    if (record.deviceId !== null) {
      for (const r of [...sessions.values()]) if (r.deviceId === record.deviceId) end(r);
    }
    if (maxPerUser > 0 && sessions.size >= maxPerUser) {
      const byActivity = [...sessions.values()].sort((p, q) => p.lastActivityAt - q.lastActivityAt);
      byActivity.slice(0, sessions.size - maxPerUser + 1).forEach(end);
    }
    sessions.set(record.handle.hash, { ...record, roles: [...record.roles] });
    this.byUser.set(userId, sessions);
    return Promise.resolve(ended);
  }

  get(handle: SessionHandle, now: number): Promise<SessionRecord | null> {
    const record = this.live(handle.userId, now).get(handle.hash);
    return Promise.resolve(record ? { ...record, roles: [...record.roles] } : null);
  }

  recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean> {
    const record = this.live(handle.userId, at).get(handle.hash);
    if (!record) return Promise.resolve(false);
    record.requestCount += count;
    record.lastActivityAt = Math.max(record.lastActivityAt, at);
    return Promise.resolve(true);
  }

  destroy(handle: SessionHandle): Promise<boolean> {
    return Promise.resolve(this.byUser.get(handle.userId)?.delete(handle.hash) ?? false);
  }

  listForUser(userId: string, now: number): Promise<SessionRecord[]> {
    return Promise.resolve([...this.live(userId, now).values()].map((r) => ({ ...r, roles: [...r.roles] })));
  }

  destroyForUser(userId: string, filter: EndFilter): Promise<SessionHandle[]> {
    const sessions = this.byUser.get(userId) ?? new Map<string, SessionRecord>();
    const ended: SessionHandle[] = [];
    for (const r of [...sessions.values()]) {
      if (r.handle.hash === filter.exceptHash) continue;
      if (filter.deviceId !== undefined && r.deviceId !== filter.deviceId) continue;
      sessions.delete(r.handle.hash);
      ended.push(r.handle);
    }
    return Promise.resolve(ended);
  }

  ping(): Promise<void> {
    return Promise.resolve();
  }

  /** The user's sessions with the ended ones dropped. */
  private live(userId: string, now: number): Map<string, SessionRecord> {
    const sessions = this.byUser.get(userId) ?? new Map<string, SessionRecord>();
    for (const [hash, r] of sessions) if (expiresAt(r, this.idleMs) <= now) sessions.delete(hash);
    if (sessions.size === 0) this.byUser.delete(userId);
    return sessions;
  }

  private sweep(now: number): void {
    for (const userId of [...this.byUser.keys()]) this.live(userId, now);
  }
}
