import { Body, Controller, Delete, Get, HttpCode, Ip, Param, Patch, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiNotFoundResponse,
  ApiParam,
  ApiSecurity,
  ApiServiceUnavailableResponse,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { RevokedDto } from '../auth/auth.dto';
import { Roles } from '../auth/auth.decorators';
import { actorOf } from '../auth/auth.service';
import { CurrentSession } from '../auth/current-session.decorator';
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
} from './admin.dto';
import { AdminService } from './admin.service';

@ApiTags('admin')
@ApiCookieAuth('session')
@ApiUnauthorizedResponse({ description: 'No live session' })
@ApiForbiddenResponse({ description: 'Not an admin, or missing X-CSRF-Token on a state-changing call' })
@ApiServiceUnavailableResponse({ description: 'The session store cannot be reached' })
@Roles(['admin'])
@Controller('admin')
export class AdminController {
  constructor(
    private readonly admin: AdminService,
    private readonly users: UsersService,
  ) {}

  /** Live counts, O(log n), and the 100 most recently active sessions. */
  @Get('sessions/stats')
  stats(): Promise<SessionStatsDto> {
    return this.admin.stats();
  }

  /** Every session, newest activity first, a page at a time; or one user's with `userId`. */
  @Get('sessions')
  @ApiBadRequestResponse({ description: 'Invalid query' })
  sessions(@Query() query: SessionPageQueryDto): Promise<AdminSessionPageDto> {
    return this.admin.page(query);
  }

  /** Ends any session. */
  @Delete('sessions/:id')
  @ApiSecurity('csrf')
  @ApiParam({ name: 'id', type: String, description: 'A public session id (`<userId>.<hash>`)' })
  @ApiBadRequestResponse({ description: 'Not a session id' })
  @ApiNotFoundResponse({ description: 'No such live session' })
  revokeSession(
    @Param('id', SessionIdPipe) handle: SessionHandle,
    @CurrentSession() me: SessionRecord,
    @Ip() ip: string,
  ): Promise<RevokedDto> {
    return this.admin.revoke(handle, actorOf(me), ip);
  }

  /** One user's live sessions. */
  @Get('users/:userId/sessions')
  @ApiBadRequestResponse({ description: 'Not a user id' })
  userSessions(@Param('userId', UserIdPipe) userId: string): Promise<AdminSessionListDto> {
    return this.admin.userSessions(userId);
  }

  /** Ends all of one user's sessions. */
  @Delete('users/:userId/sessions')
  @ApiSecurity('csrf')
  @ApiBadRequestResponse({ description: 'Not a user id' })
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
  @ApiBadRequestResponse({ description: 'Invalid body' })
  @ApiConflictResponse({ description: 'Username already taken' })
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
  @ApiBadRequestResponse({ description: 'Invalid body: not 1 to 1,000 users of the documented shape; nothing written' })
  importUsers(
    @Body() dto: ImportUsersDto,
    @CurrentSession() me: SessionRecord,
    @Ip() ip: string,
  ): Promise<ImportResultDto> {
    return this.users.import(dto, actorOf(me), ip);
  }

  /** Users in creation order, one page at a time. */
  @Get('users')
  @ApiBadRequestResponse({ description: 'Invalid query' })
  listUsers(@Query() query: PageQueryDto): Promise<UserListDto> {
    return this.users.list(query.limit, query.cursor === undefined ? 0 : Number(query.cursor));
  }

  /** Changes roles, password or disabled; any change ends all the user's sessions. */
  @Patch('users/:userId')
  @ApiSecurity('csrf')
  @ApiBadRequestResponse({ description: 'Invalid body or user id' })
  @ApiNotFoundResponse({ description: 'No such user' })
  @ApiConflictResponse({ description: 'An admin cannot disable or demote themselves' })
  updateUser(
    @Param('userId', UserIdPipe) userId: string,
    @Body() dto: UpdateUserDto,
    @CurrentSession() me: SessionRecord,
    @Ip() ip: string,
  ): Promise<UserDto> {
    return this.users.update(userId, dto, actorOf(me), ip);
  }

  /** Deletes a user and ends all their sessions. */
  @Delete('users/:userId')
  @ApiSecurity('csrf')
  @ApiBadRequestResponse({ description: 'Not a user id' })
  @ApiNotFoundResponse({ description: 'No such user' })
  @ApiConflictResponse({ description: 'An admin cannot delete themselves' })
  deleteUser(
    @Param('userId', UserIdPipe) userId: string,
    @CurrentSession() me: SessionRecord,
    @Ip() ip: string,
  ): Promise<DeletedUserDto> {
    return this.users.remove(userId, actorOf(me), ip);
  }

  /** The audit log, newest first. */
  @Get('audit')
  @ApiBadRequestResponse({ description: 'Invalid query' })
  auditLog(@Query() query: AuditQueryDto): Promise<AuditPageDto> {
    return this.admin.auditLog(query);
  }
}
