import { Injectable, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { LegacySessionConfig } from '../config/config';
import { AdoptionOutcome, MetricsService } from '../metrics/metrics.service';
import { SessionCookie } from '../session/session-cookie';
import type { RequestSession } from '../session/session.middleware';
import { LoginContext, loginContextOf, SessionService } from '../session/session.service';
import { SessionRecord } from '../session/session-store';
import { UsersService } from '../users/users.service';
import { LegacyCookie } from './legacy-cookie';
import { LegacySessions, TakenSession } from './legacy-sessions';

/** The device id shape login accepts (LoginDto); an old session's other values are dropped. */
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

interface Adopted {
  secretId: string;
  record: SessionRecord;
}

/** Why a legacy session was not adopted, for the metric and the log. */
class Refusal {
  constructor(
    readonly outcome: Exclude<AdoptionOutcome, 'adopted'>,
    /** For the log and the audit; null when there is nothing worth a line (a replay, an expiry). */
    readonly reason: string | null = null,
    readonly username: string | null = null,
  ) {}
}

/** `session[path[0]][path[1]]...`, own fields only (never `__proto__` and kin). */
function field(session: unknown, path: string[]): unknown {
  let at: unknown = session;
  for (const name of path) {
    if (typeof at !== 'object' || at === null || !Object.hasOwn(at, name)) return undefined;
    at = (at as Record<string, unknown>)[name];
  }
  return at;
}

/**
 * Moves users of an express-session + connect-redis app over without a new login: a request with
 * the old app's cookie and no session of ours has its old session taken out of Redis (once: a
 * replayed cookie finds nothing), and gets a session of ours exactly as a login would make it: a
 * new id (no fixation), the user's current roles, the old session's device id and no later end.
 */
@Injectable()
export class LegacyAdoption {
  private readonly logger = new Logger('LegacyAdoption');
  /**
   * Adoptions under way in this process, by old session id: requests that arrive together with one
   * cookie (a page's parallel API calls) share one adoption and all get its cookie. Across
   * instances the atomic take decides, and the others answer as without a session.
   */
  private readonly inFlight = new Map<string, Promise<Adopted | Refusal>>();

  constructor(
    private readonly cookie: LegacyCookie,
    private readonly legacy: LegacySessions,
    private readonly config: LegacySessionConfig,
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly sessionCookie: SessionCookie,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
    private readonly clock: Clock,
  ) {}

  /**
   * The session this request is now served with, after its cookie has been set; null when the
   * request carries no adoptable legacy cookie (it then goes on without a session).
   */
  async adopt(req: Request, res: Response): Promise<RequestSession | null> {
    const read = this.cookie.read(req);
    if (read === 'absent') return null;
    if (read === 'invalid') {
      this.metrics.adoptions.inc({ outcome: 'invalid_signature' });
      return null;
    }
    const context = loginContextOf(req);
    // A Secure cookie set over plain HTTP would never come back: keep the old session for a request that can carry it.
    if (this.sessionCookie.secure && !context.secure) {
      this.metrics.adoptions.inc({ outcome: 'insecure' });
      return null;
    }
    const { sid } = read;
    let adoption = this.inFlight.get(sid);
    if (adoption === undefined) {
      adoption = this.take(sid, context).finally(() => this.inFlight.delete(sid));
      this.inFlight.set(sid, adoption);
    }
    const result = await adoption;
    if (result instanceof Refusal) return null;
    this.sessionCookie.write(res, result.secretId, result.record.absoluteExpiresAt);
    this.cookie.clear(res);
    return { secretId: result.secretId, record: { ...result.record }, ended: false };
  }

  private async take(sid: string, context: LoginContext): Promise<Adopted | Refusal> {
    const taken = await this.metrics.timeStore('legacy_take', () => this.legacy.take(sid));
    const result = taken === null ? new Refusal('missing') : await this.start(taken, context);
    if (result instanceof Refusal) {
      this.metrics.adoptions.inc({ outcome: result.outcome });
      if (result.reason !== null) await this.refused(result, context.ip);
      return result;
    }
    this.metrics.adoptions.inc({ outcome: 'adopted' });
    return result;
  }

  private async start(taken: TakenSession, context: LoginContext): Promise<Adopted | Refusal> {
    let session: unknown;
    try {
      session = JSON.parse(taken.value);
    } catch {
      return new Refusal('unreadable', 'its value is not JSON (connect-redis with another serializer?)');
    }
    const now = this.clock.now();
    const end = this.endOf(session, taken, now);
    if (end <= now) return new Refusal('missing');
    const name = field(session, this.config.userField);
    if (typeof name !== 'string' || name === '' || name.length > 256) {
      return new Refusal('unreadable', `it has no username in "${this.config.userField.join('.')}"`);
    }
    const user = await this.users.findByUsername(name);
    if (user === null) return new Refusal('unknown_user', 'its user is unknown here (import the users first)', name);
    if (user.disabled) return new Refusal('disabled_user', 'its user is disabled', name);
    const device = field(session, ['deviceId']);
    const deviceId = typeof device === 'string' && DEVICE_ID.test(device) ? device : null;
    // The old session proved a password to the old app, not to this service: a sensitive action asks again.
    const started = await this.sessions.start(user, context, deviceId, { notAfter: end, authenticatedAt: null });
    if (started === null) return new Refusal('user_changed', 'its user changed while it was adopted', name);
    const { secretId, record, ended } = started;
    const actor = { userId: user.id, username: user.username };
    await this.audit.record({
      type: 'session_adopted',
      actor,
      subject: record.handle.publicId,
      ip: context.ip,
      detail: `from an express-session session${deviceId ? ` (device ${deviceId})` : ''}`,
    });
    await this.audit.recordEach(
      {
        type: 'session_revoked',
        actor,
        ip: context.ip,
        detail: 'ended by an adopted session (same device or session limit)',
      },
      ended.map((h) => h.publicId),
    );
    return { secretId, record };
  }

  /**
   * When the old session would have ended: its TTL in Redis (connect-redis sets it from the
   * cookie's expiry), else the cookie's own `expires`, else never (our absolute timeout decides).
   */
  private endOf(session: unknown, taken: TakenSession, now: number): number {
    if (taken.ttlMs !== null) return now + taken.ttlMs;
    const expires = field(session, ['cookie', 'expires']);
    const at = typeof expires === 'string' ? Date.parse(expires) : NaN;
    return Number.isNaN(at) ? Infinity : at;
  }

  private async refused(refusal: Refusal, ip: string): Promise<void> {
    this.logger.warn(
      `Legacy session not adopted: ${refusal.reason}${refusal.username ? ` (username "${refusal.username}")` : ''}; ` +
        'it has been removed and its cookie gets 401',
    );
    await this.audit.record({
      type: 'session_adoption_refused',
      actor: null,
      subject: (refusal.username ?? '').slice(0, 64),
      ip,
      detail: refusal.reason ?? refusal.outcome,
    });
  }
}
