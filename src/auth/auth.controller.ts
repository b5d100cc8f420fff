import { Body, Controller, Delete, Get, HttpCode, Param, Post, Req, Res } from '@nestjs/common';
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
import { DeviceIdPipe, SessionIdPipe } from '../common/params';
import { SessionHandle } from '../session/session-keys';
import { SessionRecord } from '../session/session-store';
import { CsrfDto, LoginDto, LoginResponseDto, LogoutDto, OwnSessionsDto, ProfileDto, RevokedDto } from './auth.dto';
import { Public } from './auth.decorators';
import { AuthService } from './auth.service';
import { CurrentSession } from './current-session.decorator';

@ApiTags('auth')
@ApiUnauthorizedResponse({ description: 'No live session' })
@ApiServiceUnavailableResponse({ description: 'The session store cannot be reached' })
@Controller('auth')
export class AuthController {
  constructor(private readonly auth: AuthService) {}

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
  login(@Req() req: Request, @Body() dto: LoginDto): Promise<LoginResponseDto> {
    return this.auth.login(req, dto);
  }

  /** Ends the current session everywhere and clears the cookie. */
  @Post('logout')
  @ApiCookieAuth('session')
  @HttpCode(200)
  @ApiSecurity('csrf')
  @ApiForbiddenResponse({ description: 'Missing or invalid X-CSRF-Token' })
  logout(
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
    @CurrentSession() session: SessionRecord,
  ): Promise<LogoutDto> {
    return this.auth.logout(req, res, session);
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
  csrf(@Req() req: Request): CsrfDto {
    return this.auth.csrf(req);
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
  revokeOthers(@CurrentSession() session: SessionRecord, @Req() req: Request): Promise<RevokedDto> {
    return this.auth.revokeOthers(session, req.ip);
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
    @CurrentSession() session: SessionRecord,
    @Param('id', SessionIdPipe) target: SessionHandle,
    @Req() req: Request,
  ): Promise<RevokedDto> {
    return this.auth.revokeOwn(session, target, req.ip);
  }

  /** Ends the caller's session(s) on one device. */
  @Delete('devices/:deviceId')
  @ApiCookieAuth('session')
  @ApiSecurity('csrf')
  @ApiBadRequestResponse({ description: 'Not a device id' })
  @ApiForbiddenResponse({ description: 'Missing or invalid X-CSRF-Token' })
  revokeDevice(
    @CurrentSession() session: SessionRecord,
    @Param('deviceId', DeviceIdPipe) deviceId: string,
    @Req() req: Request,
  ): Promise<RevokedDto> {
    return this.auth.revokeDevice(session, deviceId, req.ip);
  }
}
