import { Injectable } from '@nestjs/common';
import { parse } from 'cookie';
import { sign, unsign } from 'cookie-signature';
import type { IncomingMessage } from 'node:http';
import type { CookieOptions, Response } from 'express';
import { SessionConfig } from '../config/config';
import { handleFromSessionId, SessionHandle } from './session-ids';

/** Verified cookies remembered per process; when full, the memory starts again (a bound, not an LRU). */
const VERIFIED_MAX = 10_000;

/** The session a verified cookie names. */
export interface CookieSession {
  /** The id inside the cookie: secret, never stored, never logged. */
  secretId: string;
  handle: SessionHandle;
}

/** express-session's cookie format: `s:` + `<id>.<HMAC-SHA256 of the id, base64 without padding>`. */
const SIGNED = 's:';

/**
 * The session cookie: read and verified on every request, written at login, cleared at logout.
 * The value is the one express-session writes, so cookies issued before stay valid.
 */
@Injectable()
export class SessionCookie {
  private readonly attributes: CookieOptions;
  /**
   * Cookie value → what it names, for values whose signature checked out: a returning cookie then
   * costs one map lookup instead of an HMAC per secret and a SHA-256. Only exact values that were
   * verified get in, and secrets change only with a restart, which empties it.
   */
  private readonly verified = new Map<string, CookieSession>();

  constructor(private readonly config: SessionConfig) {
    this.attributes = { path: '/', httpOnly: true, secure: config.cookieSecure, sameSite: config.cookieSameSite };
  }

  get name(): string {
    return this.config.cookieName;
  }

  /** Whether the cookie is Secure: then a browser sends it back over HTTPS only. */
  get secure(): boolean {
    return this.config.cookieSecure;
  }

  /**
   * The session the request's cookie names, when one of the secrets signed it and it is a session
   * id this service mints; null otherwise. Says nothing yet about whether the session is alive.
   */
  read(req: Pick<IncomingMessage, 'headers'>): CookieSession | null {
    return this.readNamed(req, this.config.cookieName);
  }

  /** Sets the cookie of a new session, signed with the first secret, until its absolute deadline. */
  write(res: Response, secretId: string, expiresAt: number): void {
    res.cookie(this.config.cookieName, SIGNED + sign(secretId, this.config.secrets[0]), {
      ...this.attributes,
      expires: new Date(expiresAt),
    });
  }

  clear(res: Response): void {
    res.clearCookie(this.config.cookieName, this.attributes);
  }

  /**
   * The admin's own session while they impersonate a user: the same signed value the session cookie
   * held, under `<name>-return` with the same attributes (HttpOnly, Secure and `__Host-` in
   * production), until the impersonation's deadline. POST /auth/impersonation/end puts it back.
   */
  writeReturn(res: Response, secretId: string, expiresAt: number): void {
    res.cookie(this.returnName, SIGNED + sign(secretId, this.config.secrets[0]), {
      ...this.attributes,
      expires: new Date(expiresAt),
    });
  }

  readReturn(req: Pick<IncomingMessage, 'headers'>): CookieSession | null {
    return this.readNamed(req, this.returnName);
  }

  clearReturn(res: Response): void {
    res.clearCookie(this.returnName, this.attributes);
  }

  private get returnName(): string {
    return `${this.config.cookieName}-return`;
  }

  private readNamed(req: Pick<IncomingMessage, 'headers'>, name: string): CookieSession | null {
    const header = req.headers.cookie;
    // Cheap test first: most anonymous requests carry no cookie of ours.
    if (header === undefined || !header.includes(name)) return null;
    const value = parse(header)[name];
    if (value === undefined) return null;
    const known = this.verified.get(value);
    if (known !== undefined) return known;
    const session = this.verify(value);
    if (session !== null) {
      if (this.verified.size >= VERIFIED_MAX) this.verified.clear();
      this.verified.set(value, session);
    }
    return session;
  }

  private verify(value: string): CookieSession | null {
    if (!value.startsWith(SIGNED)) return null;
    const signed = value.slice(SIGNED.length);
    for (const secret of this.config.secrets) {
      const secretId = unsign(signed, secret);
      if (secretId === false) continue;
      const handle = handleFromSessionId(secretId);
      return handle === null ? null : { secretId, handle };
    }
    return null;
  }
}
