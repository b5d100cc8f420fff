import { Injectable } from '@nestjs/common';
import { parse } from 'cookie';
import { unsign } from 'cookie-signature';
import type { Request, Response } from 'express';
import { LegacySessionConfig, SessionConfig } from '../config/config';

/** express-session's signed value: `s:<sid>.<HMAC-SHA256 of the sid with the secret, base64 without padding>`. */
const SIGNED = 's:';
/** express-session's ids are 32 characters of base64url; a custom `genid` may differ, within reason. */
const SESSION_ID = /^[\x21-\x7e]{1,256}$/;

export type LegacyCookieRead = { sid: string } | 'absent' | 'invalid';

/** The old app's session cookie (LEGACY_SESSION_COOKIE), read and verified as express-session does. */
@Injectable()
export class LegacyCookie {
  private readonly name: string;

  constructor(
    private readonly config: LegacySessionConfig,
    private readonly session: SessionConfig,
  ) {
    this.name = config.cookieName ?? '';
  }

  /** The old session's id when one of the old secrets signed the cookie. */
  read(req: Request): LegacyCookieRead {
    const header = req.headers.cookie;
    if (header === undefined || !header.includes(this.name)) return 'absent';
    const value = parse(header)[this.name];
    if (value === undefined) return 'absent';
    if (!value.startsWith(SIGNED)) return 'invalid';
    for (const secret of this.config.secrets) {
      const sid = unsign(value.slice(SIGNED.length), secret);
      if (sid !== false) return SESSION_ID.test(sid) ? { sid } : 'invalid';
    }
    return 'invalid';
  }

  /**
   * Tells the browser to drop the old cookie, unless it has the same name as ours: then the new
   * session's cookie, set in the same answer, replaces it.
   */
  clear(res: Response): void {
    if (this.name === this.session.cookieName) return;
    res.clearCookie(this.name, { path: '/' });
  }
}
