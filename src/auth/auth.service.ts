import { Injectable, UnauthorizedException } from '@nestjs/common';
import type { Request, Response } from 'express';
import { SessionConfig } from '../config/config';
import { SessionService } from '../session/session.service';
import { SessionRecord } from '../session/session-store';
import { UsersService } from '../users/users.service';
import { CsrfDto, LoginDto, LoginResponseDto, LogoutDto, ProfileDto } from './auth.dto';

const iso = (ms: number): string => new Date(ms).toISOString();

@Injectable()
export class AuthService {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionService,
    private readonly config: SessionConfig,
  ) {}

  async login(req: Request, dto: LoginDto): Promise<LoginResponseDto> {
    const user = await this.users.verifyCredentials(dto.username, dto.password);
    // One answer for unknown user, wrong password and disabled account: nothing to enumerate.
    if (!user) throw new UnauthorizedException('Invalid credentials');
    const { record, csrfToken } = await this.sessions.start(req, user, dto.deviceId ?? null);
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

  async logout(req: Request, res: Response): Promise<LogoutDto> {
    await this.sessions.end(req);
    res.clearCookie(this.config.cookieName, {
      path: '/',
      httpOnly: true,
      secure: this.config.cookieSecure,
      sameSite: this.config.cookieSameSite,
    });
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
        requestCount: this.sessions.requestCount(record),
      },
    };
  }

  csrf(req: Request): CsrfDto {
    return { csrfToken: this.sessions.csrfToken(req.sessionID) };
  }
}
