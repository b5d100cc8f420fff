import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { Transform, Type } from 'class-transformer';
import {
  ArrayMinSize,
  IsBoolean,
  IsIn,
  IsInt,
  IsOptional,
  IsString,
  Matches,
  Max,
  MaxLength,
  Min,
  MinLength,
  ValidateIf,
} from 'class-validator';
import { LOG_LEVELS, LogLevel } from '../common/logger';
import { ConfigError, Env, parseBoolean, parseList, readEnv } from './env';

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,64}$/;
const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9a-fA-F:]+\]:\d{1,5}$/;

class EnvVars {
  @IsIn(['development', 'production', 'test'], { message: 'NODE_ENV must be development, production or test' })
  NODE_ENV = 'development';

  @Type(() => Number)
  @IsInt({ message: 'PORT must be a whole number' })
  @Min(0)
  @Max(65535)
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.toLowerCase() : value))
  @IsIn(LOG_LEVELS, { message: 'LOG_LEVEL must be error, warn, info or debug' })
  LOG_LEVEL: LogLevel = 'info';

  @Transform(({ value }) => parseTrustProxy(value))
  @ValidateIf((o: EnvVars) => typeof o.TRUST_PROXY !== 'boolean' && typeof o.TRUST_PROXY !== 'number')
  @IsString({ message: 'TRUST_PROXY must be true, false, a hop count or a comma list of addresses' })
  TRUST_PROXY: boolean | number | string = false;

  @IsOptional()
  @Matches(/^rediss?:\/\//, { message: 'REDIS_URL must start with redis:// or rediss://' })
  REDIS_URL?: string;

  @IsOptional()
  @Transform(({ value }) => parseList(value))
  @ArrayMinSize(1)
  @Matches(HOST_PORT, { each: true, message: 'REDIS_CLUSTER_NODES must be a comma list of host:port' })
  REDIS_CLUSTER_NODES?: string[];

  @IsOptional()
  @Transform(({ value }) => parseList(value))
  @ArrayMinSize(1)
  @Matches(HOST_PORT, { each: true, message: 'REDIS_SENTINELS must be a comma list of host:port' })
  REDIS_SENTINELS?: string[];

  /** Password of the cluster nodes or of the master/replicas behind Sentinel (REDIS_URL carries its own). */
  @IsOptional()
  @IsString()
  REDIS_PASSWORD?: string;

  @ValidateIf((o: EnvVars) => o.REDIS_SENTINELS !== undefined)
  @IsString({ message: 'REDIS_SENTINEL_NAME is required with REDIS_SENTINELS' })
  REDIS_SENTINEL_NAME?: string;

  // Braces would change the cluster hash slot of every key; the prefix must stay outside the tag.
  @Matches(/^[A-Za-z0-9:_.-]{1,64}$/, {
    message: 'REDIS_KEY_PREFIX may hold only letters, digits and : _ . - (no braces), at most 64 characters',
  })
  REDIS_KEY_PREFIX = 'sess:';

  /** Milliseconds an ending waits for a replica to acknowledge it (Sentinel, Cluster); 0 = off. */
  @Type(() => Number)
  @IsInt({ message: 'REVOCATION_REPLICA_WAIT must be a whole number of milliseconds' })
  @Min(0, { message: 'REVOCATION_REPLICA_WAIT must be 0 (off) or more milliseconds' })
  @Max(10_000, { message: 'REVOCATION_REPLICA_WAIT must be at most 10000 ms' })
  REVOCATION_REPLICA_WAIT = 500;

  @IsOptional()
  @Transform(({ value }) => parseList(value))
  @ArrayMinSize(1, { message: 'SESSION_SECRET must hold at least one secret' })
  @MinLength(1, { each: true })
  SESSION_SECRET?: string[];

  @Matches(COOKIE_NAME, { message: 'SESSION_COOKIE_NAME must be a valid cookie name' })
  SESSION_COOKIE_NAME = 'sid';

  @Type(() => Number)
  @IsInt({ message: 'SESSION_IDLE_TIMEOUT must be a whole number of seconds' })
  @Min(1, { message: 'SESSION_IDLE_TIMEOUT must be positive' })
  SESSION_IDLE_TIMEOUT = 7200;

  @Type(() => Number)
  @IsInt({ message: 'SESSION_ABSOLUTE_TIMEOUT must be a whole number of seconds' })
  @Min(1, { message: 'SESSION_ABSOLUTE_TIMEOUT must be positive' })
  SESSION_ABSOLUTE_TIMEOUT = 86400;

  @Type(() => Number)
  @IsInt({ message: 'SESSION_TOUCH_INTERVAL must be a whole number of seconds' })
  @Min(1, { message: 'SESSION_TOUCH_INTERVAL must be positive' })
  SESSION_TOUCH_INTERVAL = 60;

  @Type(() => Number)
  @IsInt({ message: 'MAX_SESSIONS_PER_USER must be a whole number' })
  @Min(0, { message: 'MAX_SESSIONS_PER_USER must be 0 (no limit) or more' })
  MAX_SESSIONS_PER_USER = 10;

  @IsOptional()
  @Transform(({ value }) => parseBoolean(value))
  @IsBoolean({ message: 'COOKIE_SECURE must be true or false' })
  COOKIE_SECURE?: boolean;

  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.toLowerCase() : value))
  @IsIn(['lax', 'strict', 'none'], { message: 'COOKIE_SAMESITE must be lax, strict or none' })
  COOKIE_SAMESITE: 'lax' | 'strict' | 'none' = 'lax';

  @IsOptional()
  @Matches(/^[A-Za-z0-9._-]{3,64}$/, {
    message: 'ADMIN_USERNAME must be 3-64 letters, digits, dots, dashes or underscores',
  })
  ADMIN_USERNAME?: string;

  @IsOptional()
  @MinLength(8, { message: 'ADMIN_PASSWORD must be at least 8 characters' })
  @MaxLength(1024)
  ADMIN_PASSWORD?: string;

  @Type(() => Number)
  @IsInt({ message: 'LOGIN_MAX_FAILURES must be a whole number' })
  @Min(1, { message: 'LOGIN_MAX_FAILURES must be positive' })
  LOGIN_MAX_FAILURES = 5;

  @Type(() => Number)
  @IsInt({ message: 'AUDIT_MAX_ENTRIES must be a whole number' })
  @Min(100, { message: 'AUDIT_MAX_ENTRIES must be at least 100' })
  AUDIT_MAX_ENTRIES = 100_000;

  @Type(() => Number)
  @IsInt({ message: 'LOGIN_WINDOW must be a whole number of seconds' })
  @Min(1, { message: 'LOGIN_WINDOW must be positive' })
  LOGIN_WINDOW = 900;

  @Transform(({ value }: { value: unknown }) => (typeof value === 'string' ? value.toLowerCase() : value))
  @IsIn(['audit', 'reauthenticate', 'revoke'], {
    message: 'SUSPICIOUS_SESSION_ACTION must be audit, reauthenticate or revoke',
  })
  SUSPICIOUS_SESSION_ACTION: SuspiciousAction = 'audit';

  @Type(() => Number)
  @IsInt({ message: 'REAUTH_WINDOW must be a whole number of seconds' })
  @Min(1, { message: 'REAUTH_WINDOW must be positive' })
  REAUTH_WINDOW = 300;

  @Type(() => Number)
  @IsInt({ message: 'IMPERSONATION_TIMEOUT must be a whole number of seconds' })
  @Min(60, { message: 'IMPERSONATION_TIMEOUT must be at least 60' })
  @Max(86_400, { message: 'IMPERSONATION_TIMEOUT must be at most 86400 (a day)' })
  IMPERSONATION_TIMEOUT = 900;

  @IsOptional()
  @Transform(({ value }) => parseList(value))
  @ArrayMinSize(1)
  @Matches(/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$|^https?:\/\/\[[0-9a-fA-F:]+\](:\d{1,5})?$/, {
    each: true,
    message: 'CORS_ORIGINS must be a comma list of exact origins (scheme://host[:port], no path, no wildcard)',
  })
  CORS_ORIGINS?: string[];

  @Transform(({ value }) => parseBoolean(value))
  @IsBoolean({ message: 'DOCS_ENABLED must be true or false' })
  DOCS_ENABLED = true;

  /** Default: 5 in production, 0 otherwise (applied in loadConfig). */
  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'SHUTDOWN_DRAIN must be a whole number of seconds' })
  @Min(0, { message: 'SHUTDOWN_DRAIN must be 0 or more seconds' })
  @Max(300, { message: 'SHUTDOWN_DRAIN must be at most 300 seconds' })
  SHUTDOWN_DRAIN?: number;

  @IsOptional()
  @Matches(COOKIE_NAME, { message: 'LEGACY_SESSION_COOKIE must be a valid cookie name' })
  LEGACY_SESSION_COOKIE?: string;

  // connect-redis puts it in front of the session id as is; any key-safe text.
  @Matches(/^[A-Za-z0-9:_.{}-]{1,64}$/, {
    message: 'LEGACY_SESSION_PREFIX may hold only letters, digits and : _ . - { }, at most 64 characters',
  })
  LEGACY_SESSION_PREFIX = 'sess:';

  @IsOptional()
  @Transform(({ value }) => parseList(value))
  @ArrayMinSize(1, { message: 'LEGACY_SESSION_SECRET must hold at least one secret' })
  @MinLength(1, { each: true })
  LEGACY_SESSION_SECRET?: string[];

  @Matches(/^[A-Za-z_$][A-Za-z0-9_$]{0,63}(\.[A-Za-z_$][A-Za-z0-9_$]{0,63}){0,3}$/, {
    message: 'LEGACY_SESSION_USER_FIELD must be a field name or a dotted path of up to 4 names (e.g. passport.user)',
  })
  LEGACY_SESSION_USER_FIELD = 'username';

  @IsOptional()
  @Type(() => Number)
  @IsInt({ message: 'PASSWORD_HASH_CONCURRENCY must be a whole number' })
  @Min(1, { message: 'PASSWORD_HASH_CONCURRENCY must be at least 1' })
  @Max(256, { message: 'PASSWORD_HASH_CONCURRENCY must be at most 256' })
  PASSWORD_HASH_CONCURRENCY?: number;
}

function parseTrustProxy(value: unknown): unknown {
  const bool = parseBoolean(value);
  if (typeof bool === 'boolean') return bool;
  if (typeof value === 'string' && /^\d+$/.test(value.trim())) return Number(value);
  return value;
}

export interface HostPort {
  host: string;
  port: number;
}

function hostPort(entry: string): HostPort {
  const at = entry.lastIndexOf(':');
  return { host: entry.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(entry.slice(at + 1)) };
}

/**
 * The data fields of a config class, taken as one named argument so that a call reads
 * `new SessionConfig({ cookieName: 'sid', ... })` instead of nine positional values.
 */
type Fields<T> = { readonly [K in keyof T as T[K] extends (...args: never[]) => unknown ? never : K]: T[K] };

export type SuspiciousAction = 'audit' | 'reauthenticate' | 'revoke';

export class AppConfig {
  declare readonly env: 'development' | 'production' | 'test';
  declare readonly port: number;
  declare readonly host: string;
  declare readonly trustProxy: boolean | number | string;
  declare readonly logLevel: LogLevel;
  /** Exact origins allowed to call with credentials (CORS); empty = no CORS headers at all. */
  declare readonly corsOrigins: string[];
  /** Serve Swagger UI (/docs) and the OpenAPI document (/docs-json). */
  declare readonly docsEnabled: boolean;
  /** After SIGTERM: how long readiness answers 503 while requests are still served, before the listener closes. */
  declare readonly shutdownDrainMs: number;

  constructor(fields: Omit<Fields<AppConfig>, 'production'>) {
    Object.assign(this, fields);
  }

  get production(): boolean {
    return this.env === 'production';
  }
}

export type RedisTopology =
  | { kind: 'embedded' }
  | { kind: 'standalone'; url: string }
  | { kind: 'cluster'; nodes: HostPort[] }
  | { kind: 'sentinel'; sentinels: HostPort[]; name: string };

export class RedisConfig {
  declare readonly topology: RedisTopology;
  declare readonly keyPrefix: string;
  declare readonly password?: string;
  /**
   * On Sentinel and Cluster, how long a session ending waits for a replica to acknowledge it
   * (REVOCATION_REPLICA_WAIT, src/redis/replica-wait.ts); 0 = not at all.
   */
  declare readonly replicaWaitMs: number;

  constructor(fields: Omit<Fields<RedisConfig>, 'replicaWaitMs'> & { replicaWaitMs?: number }) {
    Object.assign(this, fields);
    this.replicaWaitMs = fields.replicaWaitMs ?? 500;
  }
}

export class SessionConfig {
  /** First signs, all verify. */
  declare readonly secrets: string[];
  declare readonly secretGenerated: boolean;
  declare readonly cookieName: string;
  declare readonly cookieSecure: boolean;
  declare readonly cookieSameSite: 'lax' | 'strict' | 'none';
  declare readonly idleTimeoutMs: number;
  declare readonly absoluteTimeoutMs: number;
  declare readonly touchIntervalMs: number;
  declare readonly maxSessionsPerUser: number;
  /** What a theft signal does beyond the audit (theft-signals.ts). */
  declare readonly suspiciousAction: SuspiciousAction;

  constructor(fields: Fields<SessionConfig>) {
    Object.assign(this, fields);
  }
}

export class AuthConfig {
  declare readonly adminUsername?: string;
  declare readonly adminPassword?: string;
  declare readonly loginMaxFailures: number;
  declare readonly loginWindowSeconds: number;
  /** argon2 hashes running at once; by default one core is left to the event loop. */
  declare readonly passwordHashConcurrency: number;
  /** How long after a password proof sensitive actions are allowed (REAUTH_WINDOW). */
  declare readonly reauthWindowMs: number;
  /** The absolute lifetime of a session an admin starts as another user (IMPERSONATION_TIMEOUT). */
  declare readonly impersonationTimeoutMs: number;

  constructor(fields: Omit<Fields<AuthConfig>, 'passwordHashConcurrency'> & { passwordHashConcurrency?: number }) {
    Object.assign(this, fields);
    this.passwordHashConcurrency = fields.passwordHashConcurrency ?? Math.max(1, availableParallelism() - 1);
  }
}

export class AuditConfig {
  declare readonly maxEntries: number;

  constructor(fields: Fields<AuditConfig>) {
    Object.assign(this, fields);
  }
}

/** Adoption of an express-session + connect-redis app's sessions (src/legacy); null `cookieName` = off. */
export class LegacySessionConfig {
  declare readonly cookieName: string | null;
  /** connect-redis's key prefix: a session lives at `<prefix><sid>`. */
  declare readonly prefix: string;
  /** The old app's secrets; any of them verifies a cookie. */
  declare readonly secrets: string[];
  /** Where the username sits in the old session, as a path of field names. */
  declare readonly userField: string[];

  constructor(fields: Omit<Fields<LegacySessionConfig>, 'enabled'>) {
    Object.assign(this, fields);
  }

  get enabled(): boolean {
    return this.cookieName !== null;
  }
}

export interface Config {
  app: AppConfig;
  legacy: LegacySessionConfig;
  audit: AuditConfig;
  redis: RedisConfig;
  session: SessionConfig;
  auth: AuthConfig;
}

const PLACEHOLDER_SECRET = /change.?me|changeme|secret|example|placeholder|xxxx/i;

/** Validates the whole environment at once and throws one ConfigError naming every bad variable. */
export function loadConfig(env: Env): Config {
  const { value: v, problems } = readEnv(EnvVars, env);
  const production = v.NODE_ENV === 'production';

  const topologies = [v.REDIS_URL, v.REDIS_CLUSTER_NODES, v.REDIS_SENTINELS].filter((t) => t !== undefined);
  if (topologies.length > 1) {
    problems.push('REDIS_URL, REDIS_CLUSTER_NODES and REDIS_SENTINELS are alternatives: set only one');
  }
  if (production) {
    if (topologies.length === 0) {
      problems.push('REDIS_URL (or REDIS_CLUSTER_NODES or REDIS_SENTINELS) is required in production');
    }
    if (!v.SESSION_SECRET) {
      problems.push('SESSION_SECRET is required in production');
    } else {
      for (const secret of v.SESSION_SECRET) {
        if (secret.length < 32)
          problems.push('SESSION_SECRET: every secret must be at least 32 characters in production');
        else if (PLACEHOLDER_SECRET.test(secret)) problems.push('SESSION_SECRET looks like a placeholder');
      }
    }
    if (v.COOKIE_SECURE === false) problems.push('COOKIE_SECURE cannot be false in production');
  }
  const secure = v.COOKIE_SECURE ?? production;
  if (v.COOKIE_SAMESITE === 'none' && !secure) problems.push('COOKIE_SAMESITE=none requires COOKIE_SECURE=true');

  if (v.LEGACY_SESSION_COOKIE !== undefined) {
    if (topologies.length === 0) {
      problems.push(
        'LEGACY_SESSION_COOKIE needs the Redis the old app writes to (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS)',
      );
    }
    if (!v.LEGACY_SESSION_SECRET && !v.SESSION_SECRET) {
      problems.push("LEGACY_SESSION_COOKIE needs the old app's secret: set LEGACY_SESSION_SECRET (or SESSION_SECRET)");
    }
    // Both default to `sess:`. The old app, while it still runs, SCANs `<its prefix>*` (connect-redis
    // all(), clear(), length()) and would delete or misread this service's keys.
    const ours = v.REDIS_KEY_PREFIX;
    const theirs = v.LEGACY_SESSION_PREFIX;
    if (ours.startsWith(theirs) || theirs.startsWith(ours)) {
      problems.push(
        `REDIS_KEY_PREFIX ("${ours}") and LEGACY_SESSION_PREFIX ("${theirs}") overlap: the old app would scan, ` +
          `delete or misread this service's keys. Give this service a prefix of its own, e.g. REDIS_KEY_PREFIX=nrs:`,
      );
    }
  }

  if (problems.length > 0) throw new ConfigError([...new Set(problems)].sort());

  const topology: RedisTopology = v.REDIS_URL
    ? { kind: 'standalone', url: v.REDIS_URL }
    : v.REDIS_CLUSTER_NODES
      ? { kind: 'cluster', nodes: v.REDIS_CLUSTER_NODES.map(hostPort) }
      : v.REDIS_SENTINELS
        ? { kind: 'sentinel', sentinels: v.REDIS_SENTINELS.map(hostPort), name: v.REDIS_SENTINEL_NAME ?? '' }
        : { kind: 'embedded' };

  const secrets = v.SESSION_SECRET ?? [randomBytes(32).toString('base64url')];
  return {
    app: new AppConfig({
      env: v.NODE_ENV as AppConfig['env'],
      port: v.PORT,
      host: v.HOST,
      trustProxy: v.TRUST_PROXY,
      logLevel: v.LOG_LEVEL,
      corsOrigins: v.CORS_ORIGINS ?? [],
      docsEnabled: v.DOCS_ENABLED,
      shutdownDrainMs: (v.SHUTDOWN_DRAIN ?? (production ? 5 : 0)) * 1000,
    }),
    redis: new RedisConfig({
      topology,
      keyPrefix: v.REDIS_KEY_PREFIX,
      password: v.REDIS_PASSWORD,
      replicaWaitMs: v.REVOCATION_REPLICA_WAIT,
    }),
    session: new SessionConfig({
      secrets,
      secretGenerated: v.SESSION_SECRET === undefined,
      cookieName: production && secure ? `__Host-${v.SESSION_COOKIE_NAME}` : v.SESSION_COOKIE_NAME,
      cookieSecure: secure,
      cookieSameSite: v.COOKIE_SAMESITE,
      idleTimeoutMs: v.SESSION_IDLE_TIMEOUT * 1000,
      absoluteTimeoutMs: v.SESSION_ABSOLUTE_TIMEOUT * 1000,
      touchIntervalMs: v.SESSION_TOUCH_INTERVAL * 1000,
      maxSessionsPerUser: v.MAX_SESSIONS_PER_USER,
      suspiciousAction: v.SUSPICIOUS_SESSION_ACTION,
    }),
    auth: new AuthConfig({
      adminUsername: v.ADMIN_USERNAME,
      adminPassword: v.ADMIN_PASSWORD,
      loginMaxFailures: v.LOGIN_MAX_FAILURES,
      loginWindowSeconds: v.LOGIN_WINDOW,
      passwordHashConcurrency: v.PASSWORD_HASH_CONCURRENCY,
      reauthWindowMs: v.REAUTH_WINDOW * 1000,
      impersonationTimeoutMs: v.IMPERSONATION_TIMEOUT * 1000,
    }),
    audit: new AuditConfig({ maxEntries: v.AUDIT_MAX_ENTRIES }),
    legacy: new LegacySessionConfig({
      cookieName: v.LEGACY_SESSION_COOKIE ?? null,
      prefix: v.LEGACY_SESSION_PREFIX,
      secrets: v.LEGACY_SESSION_SECRET ?? secrets,
      userField: v.LEGACY_SESSION_USER_FIELD.split('.'),
    }),
  };
}

export { ConfigError };
