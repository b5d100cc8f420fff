import { applyDecorators } from '@nestjs/common';
import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  ArrayUnique,
  IsArray,
  IsBoolean,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
} from 'class-validator';

export const USERNAME_PATTERN = /^[A-Za-z0-9._-]{3,64}$/;
export const ROLE_PATTERN = /^[a-z][a-z0-9_-]{0,31}$/;

/** Up to 16 distinct role names (stated for OpenAPI too: the plugin cannot see through this). */
function IsRoleList(): PropertyDecorator {
  return applyDecorators(
    ApiProperty({ required: false, type: [String], maxItems: 16, uniqueItems: true }),
    IsArray(),
    ArrayMaxSize(16),
    ArrayUnique(),
    Matches(ROLE_PATTERN, { each: true, message: 'each role must be lower-case letters, digits, - or _ (at most 32)' }),
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
