import { Body, Controller, Delete, Get, HttpCode, Ip, Param, Post, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiParam,
  ApiOkResponse,
  ApiSecurity,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { SessionIdPipe } from '../session/session-id.pipe';
import { SessionHandle } from '../session/session-ids';
import { SessionCookie } from '../session/session-cookie';
import type { RequestSession } from '../session/session.middleware';
import { LoginContext } from '../session/session.service';
import { SessionRecord } from '../session/session-store';
import { CsrfDto, LoginDto, LoginResponseDto, LogoutDto, OwnSessionsDto, ProfileDto, RevokedDto } from './auth.dto';
import { Public } from './auth.decorators';
import { AuthService } from './auth.service';
import { CurrentSession, LiveSession } from './current-session.decorator';
import { DeviceIdPipe } from './device-id.pipe';

@ApiTags('auth')
@ApiUnauthorizedResponse({ description: 'No live session' })
@ApiServiceUnavailableResponse({ description: 'The session store cannot be reached' })
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
  @ApiOkResponse({ type: LoginResponseDto })
  @ApiBadRequestResponse({ description: 'Invalid body' })
  @ApiUnauthorizedResponse({ description: 'Invalid credentials' })
  @ApiTooManyRequestsResponse({ description: 'Too many failed logins; see Retry-After' })
  @ApiServiceUnavailableResponse({
    description: 'The session store cannot be reached, or too many logins are being checked at once',
  })
  async login(
    @Body() dto: LoginDto,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<LoginResponseDto> {
    const context: LoginContext = { ip: req.ip ?? '', userAgent: req.get('user-agent'), secure: req.secure };
    const { response, cookie } = await this.auth.login(dto, context, req.liveSession);
    this.cookie.write(res, cookie.secretId, cookie.expiresAt);
    return response;
  }

  /** Ends the current session everywhere and clears the cookie. */
  @Post('logout')
  @ApiCookieAuth('session')
  @HttpCode(200)
  @ApiSecurity('csrf')
  @ApiForbiddenResponse({ description: 'Missing or invalid X-CSRF-Token' })
  logout(
    @LiveSession() session: RequestSession,
    @Ip() ip: string,
    @Res({ passthrough: true }) res: Response,
  ): Promise<LogoutDto> {
    // Cleared even if ending the session in the store fails: this browser is logged out either way.
    this.cookie.clear(res);
    return this.auth.logout(session, ip);
  }

  /** Who is logged in, and this session's figures. */
  @Get('profile')
  @ApiCookieAuth('session')
  profile(@CurrentSession() session: SessionRecord): ProfileDto {
    return this.auth.profile(session);
  }

  /** The CSRF token of the current session, for clients that lost it. */
  @Get('csrf')
  @ApiCookieAuth('session')
  csrf(@LiveSession() session: RequestSession): CsrfDto {
    return this.auth.csrf(session);
  }

  /** The caller's live sessions on every device, newest activity first. */
  @Get('sessions')
  @ApiCookieAuth('session')
  sessions(@CurrentSession() session: SessionRecord): Promise<OwnSessionsDto> {
    return this.auth.listOwn(session);
  }

  /** Ends all the caller's sessions except the current one. */
  @Delete('sessions')
  @ApiCookieAuth('session')
  @ApiSecurity('csrf')
  @ApiForbiddenResponse({ description: 'Missing or invalid X-CSRF-Token' })
  revokeOthers(@CurrentSession() session: SessionRecord, @Ip() ip: string): Promise<RevokedDto> {
    return this.auth.revokeOthers(session, ip);
  }

  /** Ends one of the caller's own sessions. */
  @Delete('sessions/:id')
  @ApiCookieAuth('session')
  @ApiSecurity('csrf')
  @ApiParam({ name: 'id', type: String, description: 'A public session id (`<userId>.<hash>`)' })
  @ApiBadRequestResponse({ description: 'Not a session id' })
  @ApiForbiddenResponse({ description: 'Missing or invalid X-CSRF-Token' })
  @ApiNotFoundResponse({ description: 'No such session of the caller' })
  revokeOwn(
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
  @ApiBadRequestResponse({ description: 'Not a device id' })
  @ApiForbiddenResponse({ description: 'Missing or invalid X-CSRF-Token' })
  revokeDevice(
    @LiveSession() session: RequestSession,
    @Param('deviceId', DeviceIdPipe) deviceId: string,
    @Ip() ip: string,
  ): Promise<RevokedDto> {
    return this.auth.revokeDevice(session, deviceId, ip);
  }
}
