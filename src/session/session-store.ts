import { SessionHandle } from './session-keys';

/** What the store keeps of one session. Immutable after login except the activity figures. */
export interface SessionRecord {
  handle: SessionHandle;
  username: string;
  roles: string[];
  deviceId: string | null;
  browser: string;
  os: string;
  ip: string;
  createdAt: number;
  lastActivityAt: number;
  /** createdAt + SESSION_ABSOLUTE_TIMEOUT. */
  absoluteExpiresAt: number;
  requestCount: number;
}

export interface SessionTimeouts {
  idleTimeoutMs: number;
}

/** When a session ends: the first of idle and absolute expiry. */
export function expiresAt(record: Pick<SessionRecord, 'lastActivityAt' | 'absoluteExpiresAt'>, idleMs: number): number {
  return Math.min(record.lastActivityAt + idleMs, record.absoluteExpiresAt);
}

export interface EndFilter {
  /** Keep this session (the caller's current one). */
  exceptHash?: string;
  /** End only the sessions on this device. */
  deviceId?: string;
}

/**
 * Where sessions live: Redis, or the embedded in-process store in development. Both pass the same
 * contract suite (test/session-store.contract.spec.ts). Every write that touches an existing session
 * succeeds only while that session exists, so a late write never brings an ended session back.
 */
export abstract class SessionStore {
  /**
   * Stores a new session. In the same atomic step, ends the user's other session on the same device
   * and, beyond `maxPerUser` (0 = no limit), the least recently active ones. Returns what it ended.
   */
  abstract create(record: SessionRecord, maxPerUser: number, now: number): Promise<SessionHandle[]>;

  /** The live session, or null when it has ended or never existed. One read. */
  abstract get(handle: SessionHandle, now: number): Promise<SessionRecord | null>;

  /** Adds `count` requests and moves lastActivityAt to `at` (never back), extending the idle timeout. */
  abstract recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean>;

  abstract destroy(handle: SessionHandle): Promise<boolean>;

  /** One user's live sessions, O(that user's sessions). */
  abstract listForUser(userId: string, now: number): Promise<SessionRecord[]>;

  /** Ends a user's sessions that match the filter; returns what it ended. */
  abstract destroyForUser(userId: string, filter: EndFilter): Promise<SessionHandle[]>;

  /** Throws when the store cannot be reached. */
  abstract ping(): Promise<void>;
}
