import {
  BadRequestException,
  HttpException,
  HttpStatus,
  Injectable,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import type { Request, Response } from 'express';
import { AuditActor, AuditService } from '../audit/audit.service';
import { SessionConfig } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';
import { SessionHandle } from '../session/session-keys';
import { SessionService } from '../session/session.service';
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

const iso = (ms: number): string => new Date(ms).toISOString();

export function describeDevice(record: SessionRecord): string {
  return [record.browser, record.os].filter(Boolean).join(' on ');
}

export function actorOf(record: SessionRecord): AuditActor {
  return { userId: record.handle.userId, username: record.username };
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

  async login(req: Request, dto: LoginDto): Promise<LoginResponseDto> {
    // A Secure cookie is never sent over plain HTTP: say so instead of creating a session nobody gets.
    if (this.config.cookieSecure && !req.secure) {
      throw new BadRequestException('Log in over HTTPS (behind a TLS proxy, set TRUST_PROXY)');
    }
    const ip = req.ip ?? '';
    const attempt = await this.limiter.attempt(dto.username, ip);
    if (attempt.retryAfter > 0) {
      this.metrics.logins.inc({ outcome: 'rate_limited' });
      req.res?.setHeader('Retry-After', String(attempt.retryAfter));
      throw new HttpException(
        {
          statusCode: 429,
          message: `Too many failed logins, try again in ${attempt.retryAfter} s`,
          error: 'Too Many Requests',
        },
        HttpStatus.TOO_MANY_REQUESTS,
      );
    }
    const user = await this.users.verifyCredentials(dto.username, dto.password);
    const started = user ? await this.sessions.start(req, req.res!, user, dto.deviceId ?? null) : null;
    // One answer for unknown user, wrong password, disabled account and a user changed meanwhile.
    if (!user || !started) {
      this.metrics.logins.inc({ outcome: 'failure' });
      await this.limiter.failed(attempt);
      await this.audit.record({ type: 'login_failure', actor: null, subject: dto.username.slice(0, 64), ip });
      throw new UnauthorizedException('Invalid credentials');
    }
    this.metrics.logins.inc({ outcome: 'success' });
    await this.limiter.succeeded(attempt);
    const { record, ended, csrfToken } = started;
    const actor = actorOf(record);
    await this.audit.record({ type: 'login', actor, subject: record.handle.id, ip: req.ip });
    await this.recordRevoked(actor, ended, req.ip, 'ended by a newer login (same device or session limit)');
    return {
      user: { id: user.id, username: user.username, roles: user.roles },
      session: {
        id: record.handle.id,
        deviceId: record.deviceId,
        createdAt: iso(record.createdAt),
        expiresAt: iso(this.sessions.expiresAt(record)),
      },
      csrfToken,
    };
  }

  async logout(req: Request, res: Response, record: SessionRecord): Promise<LogoutDto> {
    await this.sessions.end(req, res);
    await this.audit.record({ type: 'logout', actor: actorOf(record), subject: record.handle.id, ip: req.ip });
    return { loggedOut: true };
  }

  profile(record: SessionRecord): ProfileDto {
    return {
      userId: record.handle.userId,
      username: record.username,
      roles: record.roles,
      session: {
        id: record.handle.id,
        deviceId: record.deviceId,
        createdAt: iso(record.createdAt),
        lastActivityAt: iso(record.lastActivityAt),
        expiresAt: iso(this.sessions.expiresAt(record)),
        // Already counts this request and those this instance has not written yet.
        requestCount: record.requestCount,
      },
    };
  }

  csrf(req: Request): CsrfDto {
    return { csrfToken: this.sessions.csrfToken(req.liveSession!.id) };
  }

  async listOwn(current: SessionRecord): Promise<OwnSessionsDto> {
    const sessions = await this.sessions.listForUser(current.handle.userId);
    return { sessions: sessions.map((s) => this.toOwnSession(s, current)) };
  }

  /** Ends one of the caller's sessions; another user's id is indistinguishable from no session. */
  async revokeOwn(current: SessionRecord, target: SessionHandle, ip: string | undefined): Promise<RevokedDto> {
    if (target.userId !== current.handle.userId || !(await this.sessions.revoke(target))) {
      throw new NotFoundException('Session not found');
    }
    await this.recordRevoked(actorOf(current), [target], ip, 'by its owner');
    return { revoked: 1 };
  }

  async revokeOthers(current: SessionRecord, ip: string | undefined): Promise<RevokedDto> {
    const ended = await this.sessions.revokeForUser(current.handle.userId, { exceptHash: current.handle.hash });
    await this.recordRevoked(actorOf(current), ended, ip, 'by its owner (all other sessions)');
    return { revoked: ended.length };
  }

  async revokeDevice(current: SessionRecord, deviceId: string, ip: string | undefined): Promise<RevokedDto> {
    const ended = await this.sessions.revokeForUser(current.handle.userId, { deviceId });
    await this.recordRevoked(actorOf(current), ended, ip, `by its owner (device ${deviceId})`);
    return { revoked: ended.length };
  }

  private async recordRevoked(
    actor: AuditActor,
    ended: SessionHandle[],
    ip: string | undefined,
    detail: string,
  ): Promise<void> {
    await Promise.all(
      ended.map((h) => this.audit.record({ type: 'session_revoked', actor, subject: h.id, ip, detail })),
    );
  }

  private toOwnSession(s: SessionRecord, current: SessionRecord): OwnSessionDto {
    return {
      id: s.handle.id,
      deviceId: s.deviceId,
      userAgent: describeDevice(s),
      browser: s.browser,
      os: s.os,
      ip: s.ip,
      createdAt: iso(s.createdAt),
      lastActivityAt: iso(s.lastActivityAt),
      expiresAt: iso(this.sessions.expiresAt(s)),
      current: s.handle.id === current.handle.id,
    };
  }
}
