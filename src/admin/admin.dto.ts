import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';

export class SessionPageQueryDto {
  /** 1-500, default 50. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  /** `nextCursor` of the previous page. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  @Matches(/^[A-Za-z0-9_-]+$/, { message: 'cursor must be a value returned as nextCursor' })
  cursor?: string;

  /** Only this user's sessions. */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{12}$/, { message: 'userId must be a user id' })
  userId?: string;
}

export class AuditQueryDto {
  /** 1-500, default 100. */
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(500)
  limit?: number;

  /** `nextCursor` of the previous page. */
  @IsOptional()
  @IsString()
  @Matches(/^\d{1,16}-\d{1,10}$/, { message: 'cursor must be a value returned as nextCursor' })
  cursor?: string;
}

export class AdminSessionDto {
  id!: string;
  userId!: string;
  username!: string;
  roles!: string[];
  @ApiProperty({ type: String, nullable: true })
  deviceId!: string | null;
  /** The User-Agent header of the login, as sent (control characters removed, at most 256 characters). */
  userAgent!: string;
  /** As the detection library names it; "" for a client it does not know. */
  browser!: string;
  os!: string;
  ip!: string;
  createdAt!: string;
  lastActivityAt!: string;
  expiresAt!: string;
  /** May lag by up to SESSION_TOUCH_INTERVAL. */
  requestCount!: number;
}

export class AdminSessionPageDto {
  sessions!: AdminSessionDto[];
  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}

export class AdminSessionListDto {
  sessions!: AdminSessionDto[];
}

export class RecentSessionDto {
  id!: string;
  userId!: string;
  username!: string;
  lastActivityAt!: string;
}

export class SessionStatsDto {
  /** Live sessions. */
  total!: number;
  activeLast5m!: number;
  activeLast15m!: number;
  /** Live sessions per role (a session of a user with two roles counts for both). */
  @ApiProperty({ type: 'object', additionalProperties: { type: 'integer' } })
  byRole!: Record<string, number>;
  /** Up to 100, newest activity first. */
  recentSessions!: RecentSessionDto[];
}

export const AUDIT_TYPES = [
  'login',
  'login_failure',
  'logout',
  'session_revoked',
  'session_expired',
  'user_created',
  'user_updated',
  'user_deleted',
  'users_imported',
  'password_rehashed',
] as const;

export class AuditActorDto {
  userId!: string;
  username!: string;
}

export class AuditEventDto {
  id!: string;
  @IsIn(AUDIT_TYPES)
  @ApiProperty({ enum: AUDIT_TYPES })
  type!: string;
  at!: string;
  /** Null when the service did it (expiry). */
  @ApiProperty({ type: AuditActorDto, nullable: true })
  actor!: AuditActorDto | null;
  /** A public session id, a user id, the username a failed login named, or `users` for an import. */
  subject!: string;
  @ApiProperty({ type: String, nullable: true })
  ip!: string | null;
  @ApiProperty({ type: String, nullable: true })
  detail!: string | null;
}

export class AuditPageDto {
  events!: AuditEventDto[];
  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}
