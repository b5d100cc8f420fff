import { createHmac, timingSafeEqual } from 'node:crypto';
import { Injectable } from '@nestjs/common';
import Bowser from 'bowser';
import type { Request, Response } from 'express';
import { Clock } from '../common/clock';
import { SessionConfig } from '../config/config';
import { ActivityTracker } from './activity-tracker';
import { SessionCookie } from './session-cookie';
import { handleFromSessionId, newSessionId, SessionHandle } from './session-keys';
import { EndFilter, expiresAt, SessionPage, SessionRecord, SessionStats, SessionStore } from './session-store';

export interface SessionUser {
  id: string;
  username: string;
  roles: string[];
  version: number;
}

export interface StartedSession {
  record: SessionRecord;
  /** Sessions the login ended: the same device, or beyond MAX_SESSIONS_PER_USER. */
  ended: SessionHandle[];
  csrfToken: string;
}

function describeAgent(userAgent: string | undefined): { browser: string; os: string } {
  if (!userAgent) return { browser: '', os: '' };
  const parsed = Bowser.parse(userAgent.slice(0, 512));
  const name = (p: { name?: string; version?: string }): string => [p.name, p.version].filter(Boolean).join(' ');
  return { browser: name(parsed.browser).slice(0, 64), os: name(parsed.os).slice(0, 64) };
}

/** Starts, reads and ends sessions; the one place that knows how a login becomes a session. */
@Injectable()
export class SessionService {
  constructor(
    private readonly store: SessionStore,
    private readonly activity: ActivityTracker,
    private readonly config: SessionConfig,
    private readonly clock: Clock,
    private readonly cookie: SessionCookie,
  ) {}

  /**
   * Starts a session for a user who just proved who they are: a new id every time, so a cookie
   * planted before login is never adopted, and the request's previous session, if any, ends.
   * Null when the user was changed, disabled or deleted after their credentials were read; then
   * no cookie is set, so the refusal looks like a wrong password.
   */
  async start(req: Request, res: Response, user: SessionUser, deviceId: string | null): Promise<StartedSession | null> {
    if (req.liveSession) {
      await this.revoke(req.liveSession.record.handle);
      req.liveSession = undefined;
    }
    const id = newSessionId(user.id);
    const handle = handleFromSessionId(id);
    if (!handle) throw new Error('Session id was not minted for the user');
    const now = this.clock.now();
    const record: SessionRecord = {
      handle,
      username: user.username,
      roles: user.roles,
      deviceId,
      ...describeAgent(req.headers['user-agent']),
      ip: req.ip ?? '',
      createdAt: now,
      lastActivityAt: now,
      absoluteExpiresAt: now + this.config.absoluteTimeoutMs,
      requestCount: 1,
    };
    const { created, ended } = await this.store.create(record, {
      now,
      maxPerUser: this.config.maxSessionsPerUser,
      userVersion: user.version,
    });
    if (!created) return null;
    this.cookie.write(res, id, record.absoluteExpiresAt);
    req.liveSession = { id, record };
    return { record, ended, csrfToken: this.csrfToken(id) };
  }

  /** Ends the request's own session (logout) and clears its cookie. */
  async end(req: Request, res: Response): Promise<SessionHandle | null> {
    const current = req.liveSession;
    this.cookie.clear(res);
    if (!current) return null;
    req.liveSession = undefined;
    await this.revoke(current.record.handle);
    return current.record.handle;
  }

  current(req: Request): SessionRecord | null {
    return req.liveSession?.record ?? null;
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
  csrfToken(sessionId: string): string {
    return this.sign(this.config.secrets[0], sessionId);
  }

  verifyCsrf(sessionId: string, token: string | undefined): boolean {
    if (typeof token !== 'string') return false;
    // Compare bytes, not characters: a multi-byte header of the right length must not throw.
    const given = Buffer.from(token);
    if (given.length !== 43) return false;
    return this.config.secrets.some((secret) => timingSafeEqual(Buffer.from(this.sign(secret, sessionId)), given));
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

  async revoke(handle: SessionHandle): Promise<boolean> {
    this.activity.forget(handle);
    return this.store.destroy(handle);
  }

  async revokeForUser(userId: string, filter: EndFilter = {}): Promise<SessionHandle[]> {
    const ended = await this.store.destroyForUser(userId, filter);
    ended.forEach((h) => this.activity.forget(h));
    return ended;
  }

  private sign(secret: string, sessionId: string): string {
    return createHmac('sha256', secret).update(`csrf:${sessionId}`).digest('base64url');
  }
}
