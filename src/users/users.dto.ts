import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayMinSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsInt,
  IsObject,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateNested,
} from 'class-validator';

export const USERNAME_PATTERN = /^[A-Za-z0-9._-]{3,64}$/;
export const ROLE_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;
export const MAX_ROLES = 16;

/** Up to 16 distinct role names (stated for OpenAPI too: the plugin cannot see through this). */
function IsRoleList(): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ required: false, type: [String], maxItems: MAX_ROLES, uniqueItems: true }),
    IsArray(),
    ArrayMaxSize(MAX_ROLES),
    ArrayUnique(),
    Matches(ROLE_PATTERN, { each: true, message: 'each role must be lower-case letters, digits, - or _ (at most 32)' }),
  );
}

/** At most `items` strings of at most `length` characters (the count stated for OpenAPI, as above). */
function IsStringList(items: number, length: number): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ required: false, type: [String], maxItems: items }),
    IsArray(),
    ArrayMaxSize(items),
    IsString({ each: true }),
    MaxLength(length, { each: true }),
  );
}

export class CreateUserDto {
  /** 3-64 letters, digits, dots, dashes or underscores; unique regardless of case. */
  @IsString()
  @Matches(USERNAME_PATTERN, { message: 'username must be 3-64 letters, digits, dots, dashes or underscores' })
  username!: string;

  /** 8 to 1024 characters. */
  @IsString()
  @MinLength(8)
  @MaxLength(1024)
  password!: string;

  /** Defaults to ["user"]. `admin` and `user` are built in; others may be added. */
  @IsOptional()
  @IsRoleList()
  roles?: string[];
}

export class UpdateUserDto {
  @IsOptional()
  @IsRoleList()
  roles?: string[];

  @IsOptional()
  @IsString()
  @MinLength(8)
  @MaxLength(1024)
  password?: string;

  @IsOptional()
  @IsBoolean()
  disabled?: boolean;
}

export class UserDto {
  id!: string;
  username!: string;
  roles!: string[];
  disabled!: boolean;
  /** ISO 8601. */
  createdAt!: string;
}

export class UserListDto {
  users!: UserDto[];
  /** Pass as `cursor` for the next page; null on the last page. */
  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}

export class PageQueryDto {
  /** 1-1000, default 100. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  @IsOptional()
  @IsString()
  @Matches(/^\d{1,9}$/, { message: 'cursor must be a value returned as nextCursor' })
  cursor?: string;
}

export class DeletedUserDto {
  deleted!: boolean;
  /** Sessions of the user that were ended. */
  revoked!: number;
}

/**
 * One user of another system. Only the shape is checked here (a wrong one is a 400 for the whole
 * call); a name, roles or hash this service will not take skips that user with a reason.
 */
export class ImportedUserDto {
  /** Taken as POST /admin/users takes it (3-64 letters, digits, dots, dashes or underscores). */
  @IsString()
  @MaxLength(256)
  username!: string;

  /**
   * bcrypt (`$2a$`, `$2b$`, `$2y$`, cost 4-14) or argon2id / argon2i in PHC string format (memory at
   * most 256 MiB, passes at most 16, parallelism at most 8). Replaced by this service's argon2id at
   * the user's first login.
   */
  @IsString()
  @MaxLength(512)
  passwordHash!: string;

  /** Defaults to ["user"]. Names as POST /admin/users takes them; other names, or more than 16, skip the user. */
  @IsOptional()
  @IsStringList(64, 64)
  roles?: string[];

  /** Defaults to false. */
  @IsOptional()
  @IsBoolean()
  disabled?: boolean;
}

export class ImportUsersDto {
  /** 1 to 1,000 users. */
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(1000)
  @IsObject({ each: true, message: 'each user must be an object' })
  @ValidateNested({ each: true, message: 'each user must be an object' })
  @Type(() => ImportedUserDto)
  users!: ImportedUserDto[];
}

export class SkippedUserDto {
  /** As sent. */
  username!: string;
  /** Why this user was not created, e.g. `username taken` or `bcrypt cost above 14`. */
  reason!: string;
}

export class ImportResultDto {
  /** Users created. */
  created!: number;
  /** Every user not created, in the order sent. */
  skipped!: SkippedUserDto[];
}
