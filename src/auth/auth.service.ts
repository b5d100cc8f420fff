import {
  BadRequestException,
  ConflictException,
  ForbiddenException,
  Injectable,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { AuditActor, AuditService } from '../audit/audit.service';
import { TooManyRequestsException } from '../common/too-many-requests.exception';
import { Clock } from '../common/clock';
import { isoTime } from '../common/iso-time';
import { AuthConfig, SessionConfig } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';
import { StatsHistory } from '../stats/stats-history.service';
import type { CookieSession } from '../session/session-cookie';
import { SessionHandle } from '../session/session-ids';
import type { RequestSession } from '../session/session.middleware';
import { LoginContext, SessionService } from '../session/session.service';
import { SessionRecord } from '../session/session-store';
import { UsersService } from '../users/users.service';
import { LoginLimiter } from './login-limiter';
import {
  ChangePasswordDto,
  ReauthenticateDto,
  ReauthenticatedDto,
  CsrfDto,
  ImpersonationEndedDto,
  ImpersonationStartedDto,
  LoginDto,
  LoginResponseDto,
  LogoutDto,
  OwnSessionDto,
  OwnSessionsDto,
  ProfileDto,
  RevokedDto,
} from './auth.dto';

/** Who acts with a session: its user, or during an impersonation the admin behind it. */
export function actorOf(record: SessionRecord): AuditActor {
  const admin = record.impersonatedBy;
  return admin
    ? { userId: admin.id, username: admin.username }
    : { userId: record.handle.userId, username: record.username };
}

/** A login's answer, and the cookie the controller sets with it. */
export interface LoginResult {
  response: LoginResponseDto;
  cookie: { secretId: string; expiresAt: number };
  /** Sessions of the user a password change ended (the caller's own left out). */
  revoked?: number;
}

/** An impersonation's answer, its session's cookie and the admin's, kept to return to. */
export interface ImpersonationResult {
  response: ImpersonationStartedDto;
  cookie: { secretId: string; expiresAt: number };
  returnCookie: { secretId: string; expiresAt: number };
}

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly audit: AuditService,
    private readonly limiter: LoginLimiter,
    private readonly metrics: MetricsService,
    private readonly config: SessionConfig,
    private readonly authConfig: AuthConfig,
    private readonly history: StatsHistory,
    private readonly clock: Clock,
  ) {}

  /** `current` is the session the request came with: a successful login ends it (no session fixation). */
  async login(dto: LoginDto, context: LoginContext, current?: RequestSession): Promise<LoginResult> {
    // A Secure cookie is never sent over plain HTTP: say so instead of creating a session nobody gets.
    if (this.config.cookieSecure && !context.secure) {
      throw new BadRequestException('Log in over HTTPS (behind a TLS proxy, set TRUST_PROXY)');
    }
    const { ip } = context;
    const attempt = await this.limiter.attempt(dto.username, ip);
    if (attempt.retryAfter > 0) {
      this.metrics.logins.inc({ outcome: 'rate_limited' });
      await this.history.countLogin('failed');
      throw new TooManyRequestsException(
        `Too many failed logins, try again in ${attempt.retryAfter} s`,
        attempt.retryAfter,
      );
    }
    const user = await this.users.verifyCredentials(dto.username, dto.password);
    const started = user
      ? await this.sessions.start(user, context, dto.deviceId ?? null, { replacing: current })
      : null;
    // One answer for unknown user, wrong password, disabled account and a user changed meanwhile.
    if (!user || !started) {
      this.metrics.logins.inc({ outcome: 'failure' });
      await Promise.all([this.limiter.failed(attempt), this.history.countLogin('failed')]);
      await this.audit.record({ type: 'login_failure', actor: null, subject: dto.username.slice(0, 64), ip });
      throw new UnauthorizedException('Invalid credentials');
    }
    this.metrics.logins.inc({ outcome: 'success' });
    await Promise.all([this.limiter.succeeded(attempt), this.history.countLogin('succeeded')]);
    const { secretId, record, ended, csrfToken } = started;
    const actor = actorOf(record);
    await this.audit.record({ type: 'login', actor, subject: record.handle.publicId, ip });
    await this.recordRevoked(actor, ended, ip, 'ended by a newer login (same device or session limit)');
    return this.started(user, { secretId, record, csrfToken });
  }

  /**
   * PATCH /auth/password: the current password is checked as a login checks it (a wrong one counts
   * toward the login limits), then every session of the user ends and the caller continues under a
   * new session id (a new cookie), on the same device.
   */
  async changePassword(dto: ChangePasswordDto, current: RequestSession, context: LoginContext): Promise<LoginResult> {
    if (dto.newPassword === dto.currentPassword) {
      throw new BadRequestException('The new password must differ from the current one');
    }
    const { record } = current;
    const user = await this.checkPassword(
      record,
      dto.currentPassword,
      context.ip,
      'Current password is incorrect',
      'password change',
    );
    const changed = await this.users.changeOwnPassword(user, dto.newPassword, context.ip);
    // Ended with the others: this request must not count activity for it any more.
    current.ended = true;
    const started = changed ? await this.sessions.start(changed.user, context, record.deviceId) : null;
    if (!changed || !started) throw new ConflictException('The account changed meanwhile: sign in again');
    const { secretId, record: next, csrfToken } = started;
    await this.audit.record({
      type: 'login',
      actor: actorOf(next),
      subject: next.handle.publicId,
      ip: context.ip,
      detail: 'after a password change',
    });
    return {
      ...this.started(user, { secretId, record: next, csrfToken }),
      revoked: changed.ended.filter((h) => h.publicId !== record.handle.publicId).length,
    };
  }

  /** The answer and the cookie of a session just started for `user`. */
  private started(
    user: { id: string; username: string },
    { secretId, record, csrfToken }: { secretId: string; record: SessionRecord; csrfToken: string },
  ): LoginResult {
    return {
      response: {
        user: { id: user.id, username: user.username, roles: record.roles },
        session: {
          id: record.handle.publicId,
          deviceId: record.deviceId,
          createdAt: isoTime(record.createdAt),
          expiresAt: isoTime(this.sessions.expiresAt(record)),
        },
        csrfToken,
      },
      cookie: { secretId, expiresAt: record.absoluteExpiresAt },
    };
  }

  /**
   * POST /auth/reauthenticate: a fresh password proof for sensitive actions, checked and limited as a
   * login is. A wrong password is 403 (the session itself is fine) and counts toward the limits.
   */
  async reauthenticate(dto: ReauthenticateDto, current: RequestSession, ip: string): Promise<ReauthenticatedDto> {
    const { record } = current;
    await this.checkPassword(record, dto.password, ip, 'Password is incorrect', 're-authentication');
    const at = this.clock.now();
    if (!(await this.sessions.markAuthenticated(record.handle, at))) {
      throw new UnauthorizedException('Authentication required');
    }
    await this.audit.record({ type: 'reauthenticated', actor: actorOf(record), subject: record.handle.publicId, ip });
    return { authenticatedAt: isoTime(at) };
  }

  /** The session user's password, checked as a login checks it; throws 429 when limited, 403 when wrong. */
  private async checkPassword(record: SessionRecord, password: string, ip: string, wrong: string, what: string) {
    const attempt = await this.limiter.attempt(record.username, ip);
    if (attempt.retryAfter > 0) {
      throw new TooManyRequestsException(
        `Too many failed password checks, try again in ${attempt.retryAfter} s`,
        attempt.retryAfter,
      );
    }
    const user = await this.users.verifyCredentials(record.username, password);
    if (!user || user.id !== record.handle.userId) {
      await this.limiter.failed(attempt);
      await this.audit.record({
        type: 'login_failure',
        actor: actorOf(record),
        subject: record.username,
        ip,
        detail: `wrong password at a ${what}`,
      });
      throw new ForbiddenException(wrong);
    }
    await this.limiter.succeeded(attempt);
    return user;
  }

  /**
   * Ends the session. Signing out of an impersonation signs the browser out entirely: the admin's
   * own session kept to return to (`returnTo`, from its cookie) ends too.
   */
  async logout(session: RequestSession, ip: string | undefined, returnTo?: CookieSession | null): Promise<LogoutDto> {
    await this.sessions.end(session);
    const actor = actorOf(session.record);
    await this.audit.record({ type: 'logout', actor, subject: session.record.handle.publicId, ip });
    const admin = session.record.impersonatedBy;
    if (admin) {
      await this.audit.record({
        type: 'impersonation_ended',
        actor,
        subject: session.record.handle.publicId,
        ip,
        detail: `by a logout as ${session.record.username}`,
      });
      if (returnTo && returnTo.handle.userId === admin.id && (await this.sessions.revoke(returnTo.handle))) {
        await this.audit.record({ type: 'logout', actor, subject: returnTo.handle.publicId, ip });
      }
    }
    return { loggedOut: true };
  }

  /**
   * POST /admin/users/{userId}/impersonate: a session as that user, marked with the admin, for at
   * most IMPERSONATION_TIMEOUT, carrying the admin's password proof (it cannot make its own). It
   * does not count toward the user's session limit; the admin's own session stays, to return to.
   */
  async impersonate(admin: RequestSession, userId: string, context: LoginContext): Promise<ImpersonationResult> {
    const user = await this.users.get(userId);
    if (user.roles.includes('admin')) throw new ForbiddenException('Admins cannot be impersonated');
    if (user.disabled) throw new ConflictException('The user is disabled');
    const { record: own, secretId: ownSecretId } = admin;
    const impersonatedBy = { id: own.handle.userId, username: own.username };
    const started = await this.sessions.start(user, context, null, {
      notAfter: this.clock.now() + this.authConfig.impersonationTimeoutMs,
      authenticatedAt: own.authenticatedAt,
      impersonatedBy,
    });
    if (!started) throw new ConflictException('The user changed meanwhile: try again');
    const { secretId, record, csrfToken } = started;
    await this.audit.record({
      type: 'impersonation_started',
      actor: actorOf(own),
      subject: record.handle.publicId,
      ip: context.ip,
      detail: `as ${user.username} until ${isoTime(record.absoluteExpiresAt)}`,
    });
    const { response, cookie } = this.started(user, { secretId, record, csrfToken });
    return {
      response: { ...response, impersonatedBy },
      cookie,
      // The admin's cookie goes back when the impersonation ends; it lasts no longer than the impersonation.
      returnCookie: { secretId: ownSecretId, expiresAt: record.absoluteExpiresAt },
    };
  }

  /**
   * POST /auth/impersonation/end: ends the impersonation session and, when the admin's own session
   * named by the return cookie is still alive, hands its cookie back.
   */
  async endImpersonation(
    current: RequestSession,
    returnTo: CookieSession | null,
    ip: string | undefined,
  ): Promise<{ response: ImpersonationEndedDto; cookie: { secretId: string; expiresAt: number } | null }> {
    const admin = current.record.impersonatedBy;
    if (!admin) throw new ConflictException('This session is not an impersonation');
    await this.sessions.end(current);
    const own = returnTo && returnTo.handle.userId === admin.id ? await this.sessions.find(returnTo.handle) : null;
    await this.audit.record({
      type: 'impersonation_ended',
      actor: actorOf(current.record),
      subject: current.record.handle.publicId,
      ip,
      detail: own ? 'back to the admin session' : "the admin's own session had ended: sign in again",
    });
    if (!own || !returnTo) return { response: { ended: true, restored: false, csrfToken: null }, cookie: null };
    return {
      response: { ended: true, restored: true, csrfToken: this.sessions.csrfToken(returnTo.secretId) },
      cookie: { secretId: returnTo.secretId, expiresAt: own.absoluteExpiresAt },
    };
  }

  profile(record: SessionRecord): ProfileDto {
    return {
      userId: record.handle.userId,
      username: record.username,
      roles: record.roles,
      authenticatedAt: record.authenticatedAt === null ? null : isoTime(record.authenticatedAt),
      impersonatedBy: record.impersonatedBy,
      session: {
        id: record.handle.publicId,
        deviceId: record.deviceId,
        createdAt: isoTime(record.createdAt),
        lastActivityAt: isoTime(record.lastActivityAt),
        expiresAt: isoTime(this.sessions.expiresAt(record)),
        // Already counts this request and those this instance has not written yet.
        requestCount: record.requestCount,
      },
    };
  }

  csrf(session: RequestSession): CsrfDto {
    return { csrfToken: this.sessions.csrfToken(session.secretId) };
  }

  async listOwn(current: SessionRecord): Promise<OwnSessionsDto> {
    const sessions = await this.sessions.listForUser(current.handle.userId);
    return { sessions: sessions.map((s) => this.toOwnSession(s, current)) };
  }

  /** Ends one of the caller's sessions; another user's id is indistinguishable from no session. */
  async revokeOwn(current: RequestSession, target: SessionHandle, ip: string | undefined): Promise<RevokedDto> {
    const { record } = current;
    if (target.userId !== record.handle.userId || !(await this.sessions.revoke(target, current))) {
      throw new NotFoundException('Session not found');
    }
    await this.recordRevoked(actorOf(record), [target], ip, 'by its owner');
    return { revoked: 1 };
  }

  async revokeOthers(current: SessionRecord, ip: string | undefined): Promise<RevokedDto> {
    const ended = await this.sessions.revokeForUser(current.handle.userId, { exceptHash: current.handle.hash });
    await this.recordRevoked(actorOf(current), ended, ip, 'by its owner (all other sessions)');
    return { revoked: ended.length };
  }

  async revokeDevice(current: RequestSession, deviceId: string, ip: string | undefined): Promise<RevokedDto> {
    const { record } = current;
    const ended = await this.sessions.revokeForUser(record.handle.userId, { deviceId }, current);
    await this.recordRevoked(actorOf(record), ended, ip, `by its owner (device ${deviceId})`);
    return { revoked: ended.length };
  }

  private async recordRevoked(
    actor: AuditActor,
    ended: SessionHandle[],
    ip: string | undefined,
    detail: string,
  ): Promise<void> {
    await this.audit.recordEach(
      { type: 'session_revoked', actor, ip, detail },
      ended.map((h) => h.publicId),
    );
  }

  private toOwnSession(s: SessionRecord, current: SessionRecord): OwnSessionDto {
    return {
      id: s.handle.publicId,
      deviceId: s.deviceId,
      userAgent: s.userAgent,
      browser: s.browser,
      os: s.os,
      ip: s.ip,
      createdAt: isoTime(s.createdAt),
      lastActivityAt: isoTime(s.lastActivityAt),
      expiresAt: isoTime(this.sessions.expiresAt(s)),
      current: s.handle.publicId === current.handle.publicId,
      impersonatedBy: s.impersonatedBy,
    };
  }
}
