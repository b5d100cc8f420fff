import { ApiProperty } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, MaxLength, Min } from 'class-validator';
import { AUDIT_TYPES, AuditType } from '../audit/audit.service';
import { ImpersonatorDto } from '../auth/auth.dto';

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

  /** Only events of this type. */
  @IsOptional()
  @IsIn(AUDIT_TYPES, { message: `type must be one of: ${AUDIT_TYPES.join(', ')}` })
  @ApiProperty({ enum: AUDIT_TYPES, required: false })
  type?: AuditType;

  /** Only events this user did or that were done to them or to one of their sessions. */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9_-]{12}$/, { message: 'userId must be a user id' })
  userId?: string;
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
  /** When the session last proved the password (login or re-authentication); null for an adopted session. */
  @ApiProperty({ type: String, nullable: true })
  authenticatedAt!: string | null;
  /**
   * `flagged`: used from another network and browser than at its login (audited as session_suspicious);
   * `blocked`: and it must pass POST /auth/reauthenticate before anything else (SUSPICIOUS_SESSION_ACTION).
   */
  @ApiProperty({ enum: ['none', 'flagged', 'blocked'] })
  suspicion!: 'none' | 'flagged' | 'blocked';
  /** The admin who started this session as the user (impersonation); null for the user's own. */
  impersonatedBy!: ImpersonatorDto | null;
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

export class StatsSampleDto {
  /** The start of the minute (ISO 8601). */
  at!: string;
  /** Live sessions when the minute ended. */
  liveSessions!: number;
  /** Logins that succeeded during the minute. */
  loginsSucceeded!: number;
  /** Logins refused during the minute (wrong credentials and rate limited). */
  loginsFailed!: number;
}

export class StatsHistoryDto {
  /** Seconds between samples: 60. */
  intervalSeconds!: number;
  /** The last hour, oldest first; a minute when no instance was running has no sample. */
  samples!: StatsSampleDto[];
}

export class AuditPageDto {
  events!: AuditEventDto[];
  @ApiProperty({ type: String, nullable: true })
  nextCursor!: string | null;
}
