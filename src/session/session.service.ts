import { createHmac, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import Bowser from 'bowser';
import type { Request } from 'express';
import { Clock } from '../common/clock';
import { SessionConfig } from '../config/config';
import { ActivityTracker } from './activity-tracker';
import { cleanUserAgent } from './user-agent';
import { handleFromSessionId, newSessionId, SessionHandle } from './session-ids';
import {
  EndFilter,
  expiresAt,
  Impersonator,
  SessionPage,
  SessionRecord,
  SessionStats,
  SessionStore,
} from './session-store';
import type { RequestSession } from './session.middleware';

export interface SessionUser {
  id: string;
  username: string;
  roles: string[];
  version: number;
}

/** What the HTTP layer tells about the client that is logging in. */
export interface LoginContext {
  ip: string;
  userAgent: string | undefined;
  /** Whether the request came over TLS, directly or through a trusted proxy. */
  secure: boolean;
}

/** The client a session is started for: address (through TRUST_PROXY), user agent, TLS. */
export function loginContextOf(req: Request): LoginContext {
  return { ip: req.ip ?? '', userAgent: req.get('user-agent'), secure: req.secure };
}

export interface StartedSession {
  /** The id the cookie carries: set by the controller, never stored, never logged. */
  secretId: string;
  record: SessionRecord;
  /** Sessions the login ended: the same device, or beyond MAX_SESSIONS_PER_USER. */
  ended: SessionHandle[];
  csrfToken: string;
}

function describeAgent(header: string | undefined): { userAgent: string; browser: string; os: string } {
  const userAgent = cleanUserAgent(header);
  if (!userAgent) return { userAgent, browser: '', os: '' };
  const parsed = Bowser.parse(userAgent);
  const name = (p: { name?: string; version?: string }): string => [p.name, p.version].filter(Boolean).join(' ');
  return { userAgent, browser: name(parsed.browser).slice(0, 64), os: name(parsed.os).slice(0, 64) };
}

export interface StartOptions {
  /** The session the request came with: it ends (a login over it). */
  replacing?: RequestSession;
  /** Brings the absolute deadline forward (an adopted legacy session keeps its own end; an impersonation is short). */
  notAfter?: number;
  /** The password proof the session starts with: now by default; null for one that began without (adopted). */
  authenticatedAt?: number | null;
  /** The admin who starts it as the user (impersonation). */
  impersonatedBy?: Impersonator | null;
}

/** Starts, reads and ends sessions; the one place that knows how a login becomes a session. */
@Injectable()
export class SessionService {
  constructor(
    private readonly store: SessionStore,
    private readonly activity: ActivityTracker,
    private readonly config: SessionConfig,
    private readonly clock: Clock,
  ) {}

  /**
   * Starts a session for a user who just proved who they are: a new id every time, so a cookie
   * planted before login is never adopted, and the session the request came with (`replacing`),
   * if any, ends. Null when the user was changed, disabled or deleted after their credentials were
   * read; then no cookie must be set, so the refusal looks like a wrong password.
   */
  async start(
    user: SessionUser,
    context: LoginContext,
    deviceId: string | null,
    options: StartOptions = {},
  ): Promise<StartedSession | null> {
    const { replacing, notAfter = Infinity, authenticatedAt, impersonatedBy = null } = options;
    if (replacing) await this.end(replacing);
    const secretId = newSessionId(user.id);
    const handle = handleFromSessionId(secretId);
    if (!handle) throw new Error('Session id was not minted for the user');
    const now = this.clock.now();
    const record: SessionRecord = {
      handle,
      username: user.username,
      roles: user.roles,
      deviceId,
      ...describeAgent(context.userAgent),
      ip: context.ip,
      createdAt: now,
      lastActivityAt: now,
      absoluteExpiresAt: Math.min(now + this.config.absoluteTimeoutMs, notAfter),
      requestCount: 1,
      authenticatedAt: authenticatedAt === undefined ? now : authenticatedAt,
      suspicion: 'none',
      impersonatedBy,
    };
    const { created, ended } = await this.store.create(record, {
      now,
      // An admin's look at a user's account must not push out one of the user's own sessions.
      maxPerUser: impersonatedBy === null ? this.config.maxSessionsPerUser : 0,
      userVersion: user.version,
    });
    if (!created) return null;
    return { secretId, record, ended, csrfToken: this.csrfToken(secretId) };
  }

  /** Records a password proof in the session at `at`; false when it has ended. */
  markAuthenticated(handle: SessionHandle, at: number): Promise<boolean> {
    return this.store.markAuthenticated(handle, at);
  }

  /**
   * Ends the session a request was made with (logout, or a login over it). It is marked ended
   * first, so the session middleware does not count this request for it once the answer is out.
   */
  async end(session: RequestSession): Promise<void> {
    session.ended = true;
    await this.revoke(session.record.handle);
  }

  /** When the session ends unless it is used again. */
  expiresAt(record: SessionRecord): number {
    return expiresAt(record, this.config.idleTimeoutMs);
  }

  /** Requests of this session, including those this instance has counted but not yet written. */
  requestCount(record: SessionRecord): number {
    return record.requestCount + this.activity.unwritten(record.handle);
  }

  /**
   * The CSRF token of a session: an HMAC of its id, so nothing is stored and a leaked token says
   * nothing about the cookie. Verified against every secret, so rotation keeps tokens valid.
   */
  csrfToken(secretId: string): string {
    return this.sign(this.config.secrets[0], secretId);
  }

  verifyCsrf(secretId: string, token: string | undefined): boolean {
    if (typeof token !== 'string') return false;
    // Compare bytes, not characters: a multi-byte header of the right length must not throw.
    const given = Buffer.from(token);
    if (given.length !== 43) return false;
    return this.config.secrets.some((secret) => timingSafeEqual(Buffer.from(this.sign(secret, secretId)), given));
  }

  /** The live session, or null (one read). */
  find(handle: SessionHandle): Promise<SessionRecord | null> {
    return this.store.get(handle, this.clock.now());
  }

  /** A user's live sessions, newest activity first. */
  async listForUser(userId: string): Promise<SessionRecord[]> {
    const sessions = await this.store.listForUser(userId, this.clock.now());
    return sessions.sort((a, b) => b.lastActivityAt - a.lastActivityAt);
  }

  stats(): Promise<SessionStats> {
    return this.store.stats(this.clock.now());
  }

  page(limit: number, cursor?: string): Promise<SessionPage> {
    return this.store.page(limit, cursor, this.clock.now());
  }

  /** Ends one session; the caller's own (`current`) is marked ended when it is the one. */
  async revoke(handle: SessionHandle, current?: RequestSession): Promise<boolean> {
    if (current?.record.handle.hash === handle.hash) current.ended = true;
    this.activity.forget(handle);
    return this.store.destroy(handle);
  }

  /** Ends a user's sessions that match `filter`; the caller's own (`current`) is marked ended when among them. */
  async revokeForUser(userId: string, filter: EndFilter = {}, current?: RequestSession): Promise<SessionHandle[]> {
    const ended = await this.store.destroyForUser(userId, filter);
    for (const handle of ended) {
      if (current?.record.handle.hash === handle.hash) current.ended = true;
      this.activity.forget(handle);
    }
    return ended;
  }

  private sign(secret: string, secretId: string): string {
    return createHmac('sha256', secret).update(`csrf:${secretId}`).digest('base64url');
  }
}
