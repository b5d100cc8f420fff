import { Body, Controller, Get, Post, Query } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiCookieAuth,
  ApiForbiddenResponse,
  ApiSecurity,
  ApiTags,
  ApiUnauthorizedResponse,
} from '@nestjs/swagger';
import { Roles } from '../auth/auth.decorators';
import { CreateUserDto, PageQueryDto, UserDto, UserListDto } from '../users/users.dto';
import { UsersService } from '../users/users.service';

@ApiTags('admin')
@ApiCookieAuth('session')
@ApiUnauthorizedResponse({ description: 'No live session' })
@ApiForbiddenResponse({ description: 'Not an admin, or missing X-CSRF-Token' })
@Roles(['admin'])
@Controller('admin')
export class AdminController {
  constructor(private readonly users: UsersService) {}

  /** Creates a user; roles default to ["user"]. */
  @Post('users')
  @ApiSecurity('csrf')
  @ApiBadRequestResponse({ description: 'Invalid body' })
  @ApiConflictResponse({ description: 'Username already taken' })
  createUser(@Body() dto: CreateUserDto): Promise<UserDto> {
    return this.users.create(dto);
  }

  /** Users in creation order, one page at a time. */
  @Get('users')
  listUsers(@Query() query: PageQueryDto): Promise<UserListDto> {
    return this.users.list(query.limit, query.cursor === undefined ? 0 : Number(query.cursor));
  }
}
