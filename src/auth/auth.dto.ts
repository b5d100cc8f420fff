import { ApiProperty } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';

export class LoginDto {
  @IsString()
  @MinLength(1)
  @MaxLength(128)
  username!: string;

  @IsString()
  @MinLength(1)
  @MaxLength(1024)
  password!: string;

  /** The client's stable id for this device; a new login from the same device ends the older session. */
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9._:-]{1,128}$/, { message: 'deviceId must be 1-128 letters, digits or . _ : -' })
  deviceId?: string;
}

export class ChangePasswordDto {
  @IsString()
  @MinLength(1)
  @MaxLength(1024)
  currentPassword!: string;

  /** 8 to 1024 characters, as everywhere; must differ from the current one. */
  @IsString()
  @MinLength(8)
  @MaxLength(1024)
  newPassword!: string;
}

export class ReauthenticateDto {
  @IsString()
  @MinLength(1)
  @MaxLength(1024)
  password!: string;
}

export class ReauthenticatedDto {
  /** The password proof just made (ISO 8601): sensitive actions are allowed for REAUTH_WINDOW from it. */
  authenticatedAt!: string;
}

export class SessionUserDto {
  id!: string;
  username!: string;
  roles!: string[];
}

export class NewSessionDto {
  /** The public session id: names the session in the API, cannot be turned into a cookie. */
  id!: string;
  @ApiProperty({ type: String, nullable: true })
  deviceId!: string | null;
  /** ISO 8601. */
  createdAt!: string;
  /** When the session ends unless used again (idle timeout), or at the absolute timeout. ISO 8601. */
  expiresAt!: string;
}

export class LoginResponseDto {
  user!: SessionUserDto;
  session!: NewSessionDto;
  /** Send as X-CSRF-Token on every state-changing request of this session. */
  csrfToken!: string;
}

export class PasswordChangedDto {
  /** The caller's new session: the cookie changed with it. */
  session!: NewSessionDto;
  /** The new session's CSRF token. */
  csrfToken!: string;
  /** The user's other sessions that were ended. */
  revoked!: number;
}

/** The admin behind an impersonation session. */
export class ImpersonatorDto {
  id!: string;
  username!: string;
}

export class ImpersonationStartedDto extends LoginResponseDto {
  /** The admin (the caller): the new session is marked with it, and the audit log names it as the actor. */
  impersonatedBy!: ImpersonatorDto;
}

export class ImpersonationEndedDto {
  ended!: boolean;
  /** Whether the admin's own session was still alive and its cookie is set again; when false, sign in again. */
  restored!: boolean;
  /** The CSRF token of the admin's restored session; null when it was not restored. */
  csrfToken!: string | null;
}

export class CurrentSessionDto extends NewSessionDto {
  /** ISO 8601; may lag by up to SESSION_TOUCH_INTERVAL. */
  lastActivityAt!: string;
  /** Requests made with this session; may lag by up to SESSION_TOUCH_INTERVAL. */
  requestCount!: number;
}

export class ProfileDto {
  userId!: string;
  username!: string;
  roles!: string[];
  /**
   * When this session last proved the password (login or POST /auth/reauthenticate), ISO 8601; null
   * for a session adopted from another app, which never did. Sensitive actions need it within REAUTH_WINDOW.
   */
  @ApiProperty({ type: String, nullable: true })
  authenticatedAt!: string | null;
  /** The admin acting as this user (an impersonation session, POST /admin/users/{userId}/impersonate); null otherwise. */
  impersonatedBy!: ImpersonatorDto | null;
  session!: CurrentSessionDto;
}

export class CsrfDto {
  csrfToken!: string;
}

export class LogoutDto {
  loggedOut!: boolean;
}

export class OwnSessionDto {
  id!: string;
  @ApiProperty({ type: String, nullable: true })
  deviceId!: string | null;
  /** The User-Agent header of the login, as sent (control characters removed, at most 256 characters); "" when there was none. */
  userAgent!: string;
  /** The browser as the detection library names it, e.g. "Firefox 128.0"; "" for a client it does not know. */
  browser!: string;
  /** The operating system as the detection library names it, e.g. "Linux"; "" when unknown. */
  os!: string;
  ip!: string;
  createdAt!: string;
  lastActivityAt!: string;
  expiresAt!: string;
  /** True for the session this request was made with. */
  current!: boolean;
  /** The admin who started this session as the user (impersonation); null for the user's own. */
  impersonatedBy!: ImpersonatorDto | null;
}

export class OwnSessionsDto {
  sessions!: OwnSessionDto[];
}

export class RevokedDto {
  /** How many sessions were ended. */
  revoked!: number;
}
