import { Body, Controller, Get, HttpCode, Post, Req, Res } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiOkResponse,
  ApiSecurity,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiTooManyRequestsResponse,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { SessionRecord } from '../session/session-store';
import { CsrfDto, LoginDto, LoginResponseDto, LogoutDto, ProfileDto } from './auth.dto';
import { Public } from './auth.decorators';
import { AuthService } from './auth.service';
import { CurrentSession } from './current-session.decorator';

@ApiTags('auth')
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
  login(@Req() req: Request, @Body() dto: LoginDto): Promise<LoginResponseDto> {
    return this.auth.login(req, dto);
  }

  /** Ends the current session everywhere and clears the cookie. */
  @Post('logout')
  @HttpCode(200)
  @ApiCookieAuth('session')
  @ApiSecurity('csrf')
  @ApiUnauthorizedResponse({ description: 'No live session' })
  @ApiForbiddenResponse({ description: 'Missing or invalid X-CSRF-Token' })
  logout(@Req() req: Request, @Res({ passthrough: true }) res: Response): Promise<LogoutDto> {
    return this.auth.logout(req, res);
  }

  /** Who is logged in, and this session's figures. */
  @Get('profile')
  @ApiCookieAuth('session')
  @ApiUnauthorizedResponse({ description: 'No live session' })
  profile(@CurrentSession() session: SessionRecord): ProfileDto {
    return this.auth.profile(session);
  }

  /** The CSRF token of the current session, for clients that lost it. */
  @Get('csrf')
  @ApiCookieAuth('session')
  @ApiUnauthorizedResponse({ description: 'No live session' })
  csrf(@Req() req: Request): CsrfDto {
    return this.auth.csrf(req);
  }
}
