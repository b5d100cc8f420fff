import { BadRequestException, Injectable, NotFoundException, UnauthorizedException } from '@nestjs/common';
import { AuditActor, AuditService } from '../audit/audit.service';
import { TooManyRequestsException } from '../common/too-many-requests.exception';
import { isoTime } from '../common/iso-time';
import { SessionConfig } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';
import { SessionHandle } from '../session/session-ids';
import type { RequestSession } from '../session/session.middleware';
import { LoginContext, SessionService } from '../session/session.service';
import { SessionRecord } from '../session/session-store';
import { UsersService } from '../users/users.service';
import { LoginLimiter } from './login-limiter';
import {
  CsrfDto,
  LoginDto,
  LoginResponseDto,
  LogoutDto,
  OwnSessionDto,
  OwnSessionsDto,
  ProfileDto,
  RevokedDto,
} from './auth.dto';

export function actorOf(record: SessionRecord): AuditActor {
  return { userId: record.handle.userId, username: record.username };
}

/** A login's answer, and the cookie the controller sets with it. */
export interface LoginResult {
  response: LoginResponseDto;
  cookie: { secretId: string; expiresAt: number };
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
      throw new TooManyRequestsException(
        `Too many failed logins, try again in ${attempt.retryAfter} s`,
        attempt.retryAfter,
      );
    }
    const user = await this.users.verifyCredentials(dto.username, dto.password);
    const started = user ? await this.sessions.start(user, context, dto.deviceId ?? null, current) : null;
    // One answer for unknown user, wrong password, disabled account and a user changed meanwhile.
    if (!user || !started) {
      this.metrics.logins.inc({ outcome: 'failure' });
      await this.limiter.failed(attempt);
      await this.audit.record({ type: 'login_failure', actor: null, subject: dto.username.slice(0, 64), ip });
      throw new UnauthorizedException('Invalid credentials');
    }
    this.metrics.logins.inc({ outcome: 'success' });
    await this.limiter.succeeded(attempt);
    const { secretId, record, ended, csrfToken } = started;
    const actor = actorOf(record);
    await this.audit.record({ type: 'login', actor, subject: record.handle.publicId, ip });
    await this.recordRevoked(actor, ended, ip, 'ended by a newer login (same device or session limit)');
    return {
      response: {
        user: { id: user.id, username: user.username, roles: user.roles },
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

  async logout(session: RequestSession, ip: string | undefined): Promise<LogoutDto> {
    await this.sessions.end(session);
    await this.audit.record({
      type: 'logout',
      actor: actorOf(session.record),
      subject: session.record.handle.publicId,
      ip,
    });
    return { loggedOut: true };
  }

  profile(record: SessionRecord): ProfileDto {
    return {
      userId: record.handle.userId,
      username: record.username,
      roles: record.roles,
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
    };
  }
}
