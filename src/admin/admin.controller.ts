import { Body, Controller, Delete, Get, HttpCode, Ip, Param, Patch, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBody,
  ApiCookieAuth,
  ApiCreatedResponse,
  ApiOkResponse,
  ApiParam,
  ApiSecurity,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { ImpersonationStartedDto, RevokedDto } from '../auth/auth.dto';
import { NotWhileImpersonating, Roles, Sensitive } from '../auth/auth.decorators';
import { actorOf, AuthService } from '../auth/auth.service';
import { CurrentSession, LiveSession } from '../auth/current-session.decorator';
import { SessionCookie } from '../session/session-cookie';
import type { RequestSession } from '../session/session.middleware';
import { loginContextOf } from '../session/session.service';
import { ApiError } from '../common/error-response';
import { SessionIdPipe } from '../session/session-id.pipe';
import { UserIdPipe } from '../users/user-id.pipe';
import { SessionHandle } from '../session/session-ids';
import { SessionRecord } from '../session/session-store';
import {
  CreateUserDto,
  DeletedUserDto,
  ImportResultDto,
  ImportUsersDto,
  PageQueryDto,
  UpdateUserDto,
  UserDto,
  UserListDto,
} from '../users/users.dto';
import { UsersService } from '../users/users.service';
import {
  AdminSessionListDto,
  AdminSessionPageDto,
  AuditPageDto,
  AuditQueryDto,
  SessionPageQueryDto,
  SessionStatsDto,
  StatsHistoryDto,
} from './admin.dto';
import { AdminService } from './admin.service';

@ApiTags('admin')
@ApiCookieAuth('session')
@ApiError(401, 'No live session')
@ApiError(
  403,
  'Not an admin; on a state-changing call also a missing or invalid X-CSRF-Token, a page of an origin CORS_ORIGINS ' +
    'does not allow, or no password proof within REAUTH_WINDOW (code reauthentication_required: POST /auth/reauthenticate); ' +
    'or an impersonation session (code impersonation_restricted)',
)
@ApiError(503, 'The session store cannot be reached')
@Roles(['admin'])
// Every write here is sensitive (ASVS 3.7.1): it needs a recent password proof.
@Sensitive('writes')
// An admin acting as a user is that user here: no admin API until the impersonation ends.
@NotWhileImpersonating()
@Controller('admin')
export class AdminController {
  constructor(
    private readonly admin: AdminService,
    private readonly users: UsersService,
    private readonly auth: AuthService,
    private readonly cookie: SessionCookie,
  ) {}

  /** Live counts, O(log n), and the 100 most recently active sessions. */
  @Get('sessions/stats')
  @ApiOkResponse({ type: SessionStatsDto })
  getSessionStats(): Promise<SessionStatsDto> {
    return this.admin.stats();
  }

  /**
   * One sample a minute over the last hour: live sessions when the minute ended, and the logins
   * that succeeded and failed during it. Written by whichever instance claims each minute.
   */
  @Get('sessions/stats/history')
  @ApiOkResponse({ type: StatsHistoryDto })
  getSessionStatsHistory(): Promise<StatsHistoryDto> {
    return this.admin.history();
  }

  /** Every session, newest activity first, a page at a time; or one user's with `userId`. */
  @Get('sessions')
  @ApiOkResponse({ type: AdminSessionPageDto })
  @ApiError(400, 'Invalid query')
  listSessions(@Query() query: SessionPageQueryDto): Promise<AdminSessionPageDto> {
    return this.admin.page(query);
  }

  /** Ends any session. */
  @Delete('sessions/:id')
  @ApiSecurity('csrf')
  @ApiParam({ name: 'id', type: String, description: 'A public session id (`<userId>.<hash>`)' })
  @ApiOkResponse({ type: RevokedDto })
  @ApiError(400, 'Not a session id')
  @ApiError(404, 'No such live session')
  revokeSession(
    @Param('id', SessionIdPipe) handle: SessionHandle,
    @CurrentSession() me: SessionRecord,
    @Ip() ip: string,
  ): Promise<RevokedDto> {
    return this.admin.revoke(handle, actorOf(me), ip);
  }

  /** One user's live sessions. */
  @Get('users/:userId/sessions')
  @ApiOkResponse({ type: AdminSessionListDto })
  @ApiError(400, 'Not a user id')
  listUserSessions(@Param('userId', UserIdPipe) userId: string): Promise<AdminSessionListDto> {
    return this.admin.userSessions(userId);
  }

  /** Ends all of one user's sessions. */
  @Delete('users/:userId/sessions')
  @ApiSecurity('csrf')
  @ApiOkResponse({ type: RevokedDto })
  @ApiError(400, 'Not a user id')
  revokeUserSessions(
    @Param('userId', UserIdPipe) userId: string,
    @CurrentSession() me: SessionRecord,
    @Ip() ip: string,
  ): Promise<RevokedDto> {
    return this.admin.revokeUser(userId, actorOf(me), ip);
  }

  /** Creates a user; roles default to ["user"]. */
  @Post('users')
  @ApiSecurity('csrf')
  @ApiBody({
    type: CreateUserDto,
    examples: {
      user: { summary: 'A user with the default roles', value: { username: 'alice', password: 'alice-password-1' } },
      admin: {
        summary: 'An admin',
        value: { username: 'bob.admin', password: 'a-long-admin-password', roles: ['admin', 'user'] },
      },
    },
  })
  @ApiCreatedResponse({ type: UserDto })
  @ApiError(400, 'Invalid body')
  @ApiError(409, 'Username already taken')
  @ApiError(413, 'Body larger than 16 kB')
  @ApiError(503, 'The session store cannot be reached, or too many passwords are being hashed at once')
  createUser(@Body() dto: CreateUserDto, @CurrentSession() me: SessionRecord, @Ip() ip: string): Promise<UserDto> {
    return this.users.create(dto, actorOf(me), ip);
  }

  /**
   * Creates up to 1,000 users of another system with their bcrypt or argon2 password hashes; each
   * user is created or skipped with a reason (name taken or invalid, same name twice, invalid roles,
   * unsupported or too costly hash). A hash that is not this service's argon2id is replaced at the
   * user's first login.
   */
  @Post('users/import')
  @HttpCode(200)
  @ApiSecurity('csrf')
  @ApiBody({
    type: ImportUsersDto,
    examples: {
      bcrypt: {
        summary: 'Users of an express-session app with bcrypt hashes',
        value: {
          users: [
            {
              username: 'carol',
              roles: ['user'],
              passwordHash: '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy',
            },
            {
              username: 'dave',
              passwordHash:
                '$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$2q3G3U0WZz8bXQn0tq3m3Q0c3mW2mB1b2W8m7e6Y0sA',
              disabled: true,
            },
          ],
        },
      },
    },
  })
  @ApiOkResponse({ type: ImportResultDto })
  @ApiError(400, 'Invalid body: not 1 to 1,000 users of the documented shape; nothing written')
  @ApiError(413, 'Body larger than 512 kB')
  importUsers(
    @Body() dto: ImportUsersDto,
    @CurrentSession() me: SessionRecord,
    @Ip() ip: string,
  ): Promise<ImportResultDto> {
    return this.users.import(dto, actorOf(me), ip);
  }

  /** Users in creation order, one page at a time. */
  @Get('users')
  @ApiOkResponse({ type: UserListDto })
  @ApiError(400, 'Invalid query')
  listUsers(@Query() query: PageQueryDto): Promise<UserListDto> {
    return this.users.list(query.limit, query.cursor === undefined ? 0 : Number(query.cursor));
  }

  /** Changes roles, password or disabled; any change ends all the user's sessions. */
  @Patch('users/:userId')
  @ApiSecurity('csrf')
  @ApiBody({
    type: UpdateUserDto,
    examples: {
      disable: { summary: 'Disable the user (ends their sessions)', value: { disabled: true } },
      roles: { summary: 'Change the roles', value: { roles: ['user', 'auditor'] } },
      password: { summary: 'Set a new password', value: { password: 'a-new-password-2' } },
    },
  })
  @ApiOkResponse({ type: UserDto })
  @ApiError(400, 'Invalid body or user id')
  @ApiError(404, 'No such user')
  @ApiError(409, 'An admin cannot disable or demote themselves')
  @ApiError(413, 'Body larger than 16 kB')
  @ApiError(503, 'The session store cannot be reached, or too many passwords are being hashed at once')
  updateUser(
    @Param('userId', UserIdPipe) userId: string,
    @Body() dto: UpdateUserDto,
    @CurrentSession() me: SessionRecord,
    @Ip() ip: string,
  ): Promise<UserDto> {
    return this.users.update(userId, dto, actorOf(me), ip);
  }

  /**
   * Starts a session as the user (not an admin) for support: marked with the caller, at most
   * IMPERSONATION_TIMEOUT long, audited with the caller as the actor of everything done in it. Sets
   * its cookie and keeps the caller's own session in a return cookie: POST /auth/impersonation/end
   * goes back. The session cannot reach this API, change the password or re-authenticate.
   */
  @Post('users/:userId/impersonate')
  @HttpCode(200)
  @ApiSecurity('csrf')
  @ApiOkResponse({
    type: ImpersonationStartedDto,
    headers: {
      'Set-Cookie': {
        description: "The impersonation session's cookie, and `<name>-return` holding the admin's own session",
        schema: { type: 'string' },
      },
    },
  })
  @ApiError(400, 'Not a user id')
  @ApiError(404, 'No such user')
  @ApiError(409, 'The user is disabled, or changed meanwhile')
  async impersonateUser(
    @Param('userId', UserIdPipe) userId: string,
    @LiveSession() session: RequestSession,
    @Req() req: Request,
    @Res({ passthrough: true }) res: Response,
  ): Promise<ImpersonationStartedDto> {
    const { response, cookie, returnCookie } = await this.auth.impersonate(session, userId, loginContextOf(req));
    this.cookie.writeReturn(res, returnCookie.secretId, returnCookie.expiresAt);
    this.cookie.write(res, cookie.secretId, cookie.expiresAt);
    return response;
  }

  /** Deletes a user and ends all their sessions. */
  @Delete('users/:userId')
  @ApiSecurity('csrf')
  @ApiOkResponse({ type: DeletedUserDto })
  @ApiError(400, 'Not a user id')
  @ApiError(404, 'No such user')
  @ApiError(409, 'An admin cannot delete themselves')
  deleteUser(
    @Param('userId', UserIdPipe) userId: string,
    @CurrentSession() me: SessionRecord,
    @Ip() ip: string,
  ): Promise<DeletedUserDto> {
    return this.users.remove(userId, actorOf(me), ip);
  }

  /** The audit log, newest first; by event type and by user with `type` and `userId`. */
  @Get('audit')
  @ApiOkResponse({ type: AuditPageDto })
  @ApiError(400, 'Invalid query')
  getAuditLog(@Query() query: AuditQueryDto): Promise<AuditPageDto> {
    return this.admin.auditLog(query);
  }
}
