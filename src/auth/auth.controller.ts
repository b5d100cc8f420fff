import { Body, Controller, Delete, Get, HttpCode, Ip, Param, Patch, Post, Req, Res } from '@nestjs/common';
import { ApiBody, ApiCookieAuth, ApiOkResponse, ApiParam, ApiSecurity, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ApiError } from '../common/error-response';
import { SessionIdPipe } from '../session/session-id.pipe';
import { SessionHandle } from '../session/session-ids';
import { SessionCookie } from '../session/session-cookie';
import type { RequestSession } from '../session/session.middleware';
import { loginContextOf } from '../session/session.service';
import { SessionRecord } from '../session/session-store';
import {
  ChangePasswordDto,
  CsrfDto,
  ImpersonationEndedDto,
  LoginDto,
  LoginResponseDto,
  LogoutDto,
  OwnSessionsDto,
  PasswordChangedDto,
  ProfileDto,
  ReauthenticateDto,
  ReauthenticatedDto,
  RevokedDto,
} from './auth.dto';
import { NotWhileImpersonating, Public, Sensitive } from './auth.decorators';
import { AuthService } from './auth.service';
import { CurrentSession, LiveSession } from './current-session.decorator';
import { DeviceIdPipe } from './device-id.pipe';

/** 403 on every state-changing call. */
const CSRF_REFUSED = 'Missing or invalid X-CSRF-Token, or called from a page of an origin CORS_ORIGINS does not allow';

@ApiTags('auth')
@ApiError(401, 'No live session')
@ApiError(503, 'The session store cannot be reached')
@Controller('auth')
export class AuthController {
  constructor(
    private readonly auth: AuthService,
    private readonly cookie: SessionCookie,
  ) {}

  /** Logs in: sets the session cookie (a new id every time) and returns the CSRF token. */
  @Public()
  @Post('login')
  @HttpCode(200)
  @ApiBody({
    type: LoginDto,
    examples: {
      device: {
        summary: 'From a device the client names',
        value: { username: 'admin', password: 'correct horse battery staple', deviceId: 'laptop-7f3a' },
      },
      anonymous: { summary: 'Without a device id', value: { username: 'alice', password: 'alice-password-1' } },
    },
  })
  @ApiOkResponse({
    type: LoginResponseDto,
    headers: {
      'Set-Cookie': {
        description:
          'The session cookie (HttpOnly; Secure and named `__Host-<name>` in production), a new id every time',
        schema: { type: 'string', example: 'sid=s%3A…; Path=/; Expires=…; HttpOnly; SameSite=Lax' },
      },
    },
  })
  @ApiError(400, 'Invalid body, or a login over plain HTTP while the cookie must be Secure')
  @ApiError(401, 'Invalid credentials (unknown user and wrong password alike)')
  @ApiError(403, 'Called from a page of an origin CORS_ORIGINS does not allow')
  @ApiError(413, 'Body larger than 16 kB')
  @ApiError(429, 'Too many failed logins for this username or client IP; see Retry-After')
  @ApiError(503, 'The session store cannot be reached, or too many logins are being checked at once')
  async login(
    @Body() dto: LoginDto,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<LoginResponseDto> {
    const { response, cookie } = await this.auth.login(dto, loginContextOf(req), req.liveSession);
    this.cookie.write(res, cookie.secretId, cookie.expiresAt);
    return response;
  }

  /** Ends the current session everywhere and clears the cookie. */
  @Post('logout')
  @ApiCookieAuth('session')
  @HttpCode(200)
  @ApiSecurity('csrf')
  @ApiOkResponse({
    type: LogoutDto,
    headers: { 'Set-Cookie': { description: 'Clears the session cookie', schema: { type: 'string' } } },
  })
  @ApiError(403, CSRF_REFUSED)
  logout(
    @LiveSession() session: RequestSession,
    @Ip() ip: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<LogoutDto> {
    // Cleared even if ending the session in the store fails: this browser is logged out either way.
    this.cookie.clear(res);
    if (!session.record.impersonatedBy) return this.auth.logout(session, ip);
    this.cookie.clearReturn(res);
    return this.auth.logout(session, ip, this.cookie.readReturn(req));
  }

  /**
   * Ends an impersonation (POST /admin/users/{userId}/impersonate): the impersonation session ends
   * and the admin's own session cookie is set again, when that session is still alive.
   */
  @Post('impersonation/end')
  @HttpCode(200)
  @ApiCookieAuth('session')
  @ApiSecurity('csrf')
  @ApiOkResponse({
    type: ImpersonationEndedDto,
    headers: {
      'Set-Cookie': {
        description: "The admin's session cookie again (or a cleared one), and the return cookie cleared",
        schema: { type: 'string' },
      },
    },
  })
  @ApiError(403, CSRF_REFUSED)
  @ApiError(409, 'This session is not an impersonation')
  async endImpersonation(
    @LiveSession() session: RequestSession,
    @Ip() ip: string,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ImpersonationEndedDto> {
    const { response, cookie } = await this.auth.endImpersonation(session, this.cookie.readReturn(req), ip);
    this.cookie.clearReturn(res);
    if (cookie) this.cookie.write(res, cookie.secretId, cookie.expiresAt);
    else this.cookie.clear(res);
    return response;
  }

  /**
   * Changes the caller's own password: the current one is checked as a login checks it (a wrong one
   * counts toward the login limits); every other session of the user ends and the caller continues
   * under a new session id (a new cookie and CSRF token).
   */
  @Patch('password')
  @NotWhileImpersonating()
  @ApiCookieAuth('session')
  @ApiSecurity('csrf')
  @ApiBody({
    type: ChangePasswordDto,
    examples: {
      change: {
        summary: 'A new password',
        value: { currentPassword: 'alice-password-1', newPassword: 'a-new-long-password' },
      },
    },
  })
  @ApiOkResponse({
    type: PasswordChangedDto,
    headers: {
      'Set-Cookie': { description: 'The new session cookie (the old one has ended)', schema: { type: 'string' } },
    },
  })
  @ApiError(400, 'Invalid body, or the new password equals the current one')
  @ApiError(
    403,
    `Current password is incorrect; or: ${CSRF_REFUSED}; or an impersonation session (code impersonation_restricted)`,
  )
  @ApiError(409, 'The account changed meanwhile: sign in again')
  @ApiError(429, 'Too many failed password checks for this username or client IP; see Retry-After')
  @ApiError(503, 'The session store cannot be reached, or too many passwords are being checked at once')
  async changePassword(
    @Body() dto: ChangePasswordDto,
    @LiveSession() session: RequestSession,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<PasswordChangedDto> {
    const { response, cookie, revoked } = await this.auth.changePassword(dto, session, loginContextOf(req));
    this.cookie.write(res, cookie.secretId, cookie.expiresAt);
    return { session: response.session, csrfToken: response.csrfToken, revoked: revoked ?? 0 };
  }

  /**
   * A fresh password proof: sensitive actions (ending all other own sessions, every admin write)
   * are allowed for REAUTH_WINDOW after it. Checked and limited as a login is.
   */
  @Post('reauthenticate')
  @NotWhileImpersonating()
  @HttpCode(200)
  @ApiCookieAuth('session')
  @ApiSecurity('csrf')
  @ApiBody({
    type: ReauthenticateDto,
    examples: { proof: { summary: 'The password', value: { password: 'alice-password-1' } } },
  })
  @ApiOkResponse({ type: ReauthenticatedDto })
  @ApiError(400, 'Invalid body')
  @ApiError(
    403,
    `Password is incorrect; or: ${CSRF_REFUSED}; or an impersonation session (code impersonation_restricted)`,
  )
  @ApiError(429, 'Too many failed password checks for this username or client IP; see Retry-After')
  @ApiError(503, 'The session store cannot be reached, or too many passwords are being checked at once')
  reauthenticate(
    @Body() dto: ReauthenticateDto,
    @LiveSession() session: RequestSession,
    @Ip() ip: string,
  ): Promise<ReauthenticatedDto> {
    return this.auth.reauthenticate(dto, session, ip);
  }

  /** Who is logged in, and this session's figures. */
  @Get('profile')
  @ApiCookieAuth('session')
  @ApiOkResponse({ type: ProfileDto })
  getProfile(@CurrentSession() session: SessionRecord): ProfileDto {
    return this.auth.profile(session);
  }

  /** The CSRF token of the current session, for clients that lost it. */
  @Get('csrf')
  @ApiCookieAuth('session')
  @ApiOkResponse({ type: CsrfDto })
  getCsrfToken(@LiveSession() session: RequestSession): CsrfDto {
    return this.auth.csrf(session);
  }

  /** The caller's live sessions on every device, newest activity first. */
  @Get('sessions')
  @ApiCookieAuth('session')
  @ApiOkResponse({ type: OwnSessionsDto })
  listMySessions(@CurrentSession() session: SessionRecord): Promise<OwnSessionsDto> {
    return this.auth.listOwn(session);
  }

  /** Ends all the caller's sessions except the current one (a sensitive action: see POST /auth/reauthenticate). */
  @Delete('sessions')
  @Sensitive('always')
  @ApiCookieAuth('session')
  @ApiSecurity('csrf')
  @ApiOkResponse({ type: RevokedDto })
  @ApiError(403, `${CSRF_REFUSED}; or no password proof within REAUTH_WINDOW (code reauthentication_required)`)
  revokeMyOtherSessions(@CurrentSession() session: SessionRecord, @Ip() ip: string): Promise<RevokedDto> {
    return this.auth.revokeOthers(session, ip);
  }

  /** Ends one of the caller's own sessions. */
  @Delete('sessions/:id')
  @ApiCookieAuth('session')
  @ApiSecurity('csrf')
  @ApiParam({ name: 'id', type: String, description: 'A public session id (`<userId>.<hash>`)' })
  @ApiOkResponse({ type: RevokedDto })
  @ApiError(400, 'Not a session id')
  @ApiError(403, CSRF_REFUSED)
  @ApiError(404, 'No such session of the caller')
  revokeMySession(
    @LiveSession() session: RequestSession,
    @Param('id', SessionIdPipe) target: SessionHandle,
    @Ip() ip: string,
  ): Promise<RevokedDto> {
    return this.auth.revokeOwn(session, target, ip);
  }

  /** Ends the caller's session(s) on one device. */
  @Delete('devices/:deviceId')
  @ApiCookieAuth('session')
  @ApiSecurity('csrf')
  @ApiOkResponse({ type: RevokedDto })
  @ApiError(400, 'Not a device id')
  @ApiError(403, CSRF_REFUSED)
  revokeMyDevice(
    @LiveSession() session: RequestSession,
    @Param('deviceId', DeviceIdPipe) deviceId: string,
    @Ip() ip: string,
  ): Promise<RevokedDto> {
    return this.auth.revokeDevice(session, deviceId, ip);
  }
}
