import { SessionHandle } from './session-ids';

/** What the store keeps of one session. Immutable after login except the activity figures. */
export interface SessionRecord {
  handle: SessionHandle;
  username: string;
  roles: string[];
  deviceId: string | null;
  /** The raw User-Agent header, cleaned (user-agent.ts); '' when there was none. */
  userAgent: string;
  /** Browser and OS as the detection library names them; '' for a client it does not know. */
  browser: string;
  os: string;
  ip: string;
  createdAt: number;
  lastActivityAt: number;
  /** createdAt + SESSION_ABSOLUTE_TIMEOUT. */
  absoluteExpiresAt: number;
  requestCount: number;
  /** When the user last proved the password in this session (login, re-authentication); null: never (adopted). */
  authenticatedAt: number | null;
  /**
   * Theft signals (theft-signals.ts): `flagged` once the session was used from another network and
   * browser than its login's (audited once); `blocked` while it must pass POST /auth/reauthenticate.
   */
  suspicion: Suspicion;
  /** The admin who started this session as its user (POST /admin/users/{userId}/impersonate); null for the user's own. */
  impersonatedBy: Impersonator | null;
}

/** The admin behind an impersonation session. */
export interface Impersonator {
  id: string;
  username: string;
}

export type Suspicion = 'none' | 'flagged' | 'blocked';

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

export interface CreateOptions {
  now: number;
  /** 0 = no limit. */
  maxPerUser: number;
  /** The user's version read before the password was checked; a change since refuses the login. */
  userVersion: number;
}

export interface CreateResult {
  /** False when the user was changed, disabled or deleted since their credentials were read. */
  created: boolean;
  /** Sessions this login ended: the same device, or the least recently active beyond the limit. */
  ended: SessionHandle[];
}

export interface SessionPage {
  sessions: SessionRecord[];
  /** Opaque; null on the last page. */
  nextCursor: string | null;
}

export interface SessionStats {
  total: number;
  activeLast5m: number;
  activeLast15m: number;
  byRole: Record<string, number>;
}

/**
 * Where sessions live: Redis, or the embedded in-process store in development. Both pass the same
 * contract suite (test/session-store.contract.spec.ts). Every write that touches an existing session
 * succeeds only while that session exists, so a late write never brings an ended session back.
 */
export abstract class SessionStore {
  /**
   * Stores a new session, in one atomic step with ending the user's other session on the same
   * device and, beyond `maxPerUser`, the least recently active ones.
   */
  abstract create(record: SessionRecord, options: CreateOptions): Promise<CreateResult>;

  /** The live session, or null when it has ended or never existed. One read. */
  abstract get(handle: SessionHandle, now: number): Promise<SessionRecord | null>;

  /** Adds `count` requests and moves lastActivityAt to `at` (never back), extending the idle timeout. */
  abstract recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean>;

  /** Records a password proof at `at` (and lifts a `blocked` suspicion to `flagged`); false when the session has ended. */
  abstract markAuthenticated(handle: SessionHandle, at: number): Promise<boolean>;

  /**
   * Marks the session suspicious (`blocked` or `flagged`) unless it already is: true only for the
   * one caller that marked it, so the event is recorded once whichever instance sees it.
   */
  abstract flagSuspicious(handle: SessionHandle, block: boolean): Promise<boolean>;

  abstract destroy(handle: SessionHandle): Promise<boolean>;

  /** One user's live sessions, O(that user's sessions). */
  abstract listForUser(userId: string, now: number): Promise<SessionRecord[]>;

  /** Ends a user's sessions that match the filter; returns what it ended. */
  abstract destroyForUser(userId: string, filter: EndFilter): Promise<SessionHandle[]>;

  /** Counts over all sessions, O(log n). */
  abstract stats(now: number): Promise<SessionStats>;

  /** All sessions, newest activity first, one page at a time. */
  abstract page(limit: number, cursor: string | undefined, now: number): Promise<SessionPage>;

  /**
   * Maintenance: drops index entries of sessions that expired, a bounded amount of work per call,
   * and returns the sessions it found expired (each reported by exactly one caller).
   */
  abstract sweep(now: number): Promise<SessionHandle[]>;
}

/** Page cursors: the (lastActivityAt, public id) of the last entry of the previous page. */
export function encodeCursor(score: number, id: string): string {
  return Buffer.from(`${score}|${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): { score: number; id: string } | null {
  const [score, id, extra] = Buffer.from(cursor, 'base64url').toString().split('|');
  if (extra !== undefined || !/^\d{1,16}$/.test(score ?? '') || !id || id.length > 64) return null;
  return { score: Number(score), id };
}

/** Newest activity first; ties broken by id, descending, so the order is total. */
export function byActivityDesc(a: { score: number; id: string }, b: { score: number; id: string }): number {
  return b.score - a.score || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

/** One page of records already in memory (a user's sessions, the embedded store), newest activity first. */
export function pageInMemory(records: SessionRecord[], limit: number, cursor: string | undefined): SessionPage {
  const after = cursor === undefined ? null : decodeCursor(cursor);
  const ordered = records
    .map((record) => ({ score: record.lastActivityAt, id: record.handle.publicId, record }))
    .sort(byActivityDesc)
    .filter((e) => after === null || byActivityDesc(e, after) > 0);
  const taken = ordered.slice(0, limit);
  const last = taken[taken.length - 1];
  return {
    sessions: taken.map((e) => e.record),
    nextCursor: ordered.length > limit && last ? encodeCursor(last.score, last.id) : null,
  };
}
