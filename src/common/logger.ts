import type { LoggerService, LogLevel as NestLevel } from '@nestjs/common';
import { currentRequestId } from './request-context';

export const LOG_LEVELS = ['error', 'warn', 'info', 'debug'] as const;
/** What LOG_LEVEL takes and what a line's `level` says. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Keys whose values are never written, at any depth of a logged object, compared without case:
 * credentials, cookies, CSRF tokens, session secrets and the variables that carry them.
 */
export const REDACTED_NAMES: readonly string[] = [
  'password',
  'currentPassword',
  'newPassword',
  'oldPassword',
  'passwordHash',
  'adminPassword',
  'ADMIN_PASSWORD',
  'REDIS_PASSWORD',
  'cookie',
  'set-cookie',
  'authorization',
  'proxy-authorization',
  'x-csrf-token',
  'csrfToken',
  'csrf',
  'secret',
  'secrets',
  'sessionSecret',
  'SESSION_SECRET',
  'token',
  'accessToken',
  'refreshToken',
  'apiKey',
  'x-api-key',
  'sid',
];
const SECRET_KEYS = new Set(REDACTED_NAMES.map((name) => name.toLowerCase()));
export const REDACTED = '[Redacted]';
/** Deeper than anything this service logs; past it a placeholder is written rather than unchecked fields. */
const MAX_DEPTH = 12;

/** An error as a log reads it: its type and stack, its own fields (a Redis error's code) and its cause. */
function serializeError(error: Error): Record<string, unknown> {
  const fields: Record<string, unknown> = { ...error };
  fields.type = error.constructor?.name ?? error.name;
  fields.message = error.message;
  fields.stack = error.stack;
  if (error.cause !== undefined) fields.cause = error.cause;
  return fields;
}

/**
 * `value` with every secret-named key redacted and every Error serialised, however deep. It copies
 * only what it changes, so a line without secrets (the access log) costs a walk over its keys.
 */
function scrub(value: unknown, ancestors: object[]): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (ancestors.includes(value)) return '[Circular]';
  if (ancestors.length >= MAX_DEPTH) return '[Too deep]';
  if (value instanceof Error) {
    ancestors.push(value);
    const serialized = scrub(serializeError(value), ancestors);
    ancestors.pop();
    return serialized;
  }
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return value;
  ancestors.push(value);
  let copy: unknown;
  if (Array.isArray(value)) {
    let items: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const clean = scrub(value[i], ancestors);
      if (clean !== value[i]) (items ??= [...(value as unknown[])])[i] = clean;
    }
    copy = items;
  } else {
    const record = value as Record<string, unknown>;
    let fields: Record<string, unknown> | undefined;
    for (const key of Object.keys(record)) {
      const clean = SECRET_KEYS.has(key.toLowerCase()) ? REDACTED : scrub(record[key], ancestors);
      if (clean !== record[key]) (fields ??= { ...record })[key] = clean;
    }
    copy = fields;
  }
  ancestors.pop();
  return copy ?? value;
}

export function redact<T>(value: T): T {
  return scrub(value, []) as T;
}

type Sink = (line: string) => void;

/**
 * stdout to a file or pipe is a synchronous write per call: one per log line costs more than the
 * rest of a request. Lines are gathered and written once per turn of the event loop (or at 64 KiB),
 * and whatever is pending is written before the process exits.
 */
function batchedStdout(): Sink {
  let pending: string[] = [];
  let size = 0;
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending.length === 0) return;
    const chunk = pending.join('');
    pending = [];
    size = 0;
    process.stdout.write(chunk);
  };
  process.once('exit', flush);
  return (line) => {
    pending.push(line);
    size += line.length;
    if (size >= 65_536) flush();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}

const SEVERITY: Record<LogLevel | 'fatal', number> = { fatal: 0, error: 1, warn: 2, info: 3, debug: 4 };

/** Nest's levels as ours: `log` is info, and `verbose` has no level of its own below debug. */
const FROM_NEST: Record<NestLevel, LogLevel | 'fatal'> = {
  fatal: 'fatal',
  error: 'error',
  warn: 'warn',
  log: 'info',
  debug: 'debug',
  verbose: 'debug',
};

export interface JsonLoggerOptions {
  level?: LogLevel;
  /** Receives every line (tests); stdout, batched, by default. */
  sink?: Sink;
}

/**
 * One JSON object per line with the id of the request being served. Fields named like secrets are
 * redacted at any depth and errors carry their type and stack; message strings are written as the
 * code wrote them, and no code puts a password, cookie or secret in one (a test reads the logs).
 */
export class JsonLogger implements LoggerService {
  private threshold = SEVERITY.info;
  private stampedAt = 0;
  private stamp = '';
  private readonly sink: Sink;

  constructor({ level = 'info', sink = batchedStdout() }: JsonLoggerOptions = {}) {
    this.sink = sink;
    this.setLevel(level);
  }

  /** LOG_LEVEL: this level and everything more severe is written. */
  setLevel(level: LogLevel): void {
    this.threshold = SEVERITY[level];
  }

  isEnabled(level: LogLevel | 'fatal'): boolean {
    return SEVERITY[level] <= this.threshold;
  }

  log(message: unknown, ...rest: unknown[]): void {
    this.write('log', message, rest);
  }

  error(message: unknown, ...rest: unknown[]): void {
    this.write('error', message, rest);
  }

  warn(message: unknown, ...rest: unknown[]): void {
    this.write('warn', message, rest);
  }

  debug(message: unknown, ...rest: unknown[]): void {
    this.write('debug', message, rest);
  }

  verbose(message: unknown, ...rest: unknown[]): void {
    this.write('verbose', message, rest);
  }

  fatal(message: unknown, ...rest: unknown[]): void {
    this.write('fatal', message, rest);
  }

  /** Structured fields instead of a message, e.g. the access log (which names its request itself). */
  event(
    level: LogLevel | 'fatal',
    context: string,
    fields: Record<string, unknown>,
    requestId = currentRequestId(),
  ): void {
    if (!this.isEnabled(level)) return;
    const line = { time: this.timestamp(), level, context, requestId, ...redact(fields) };
    this.sink(JSON.stringify(line) + '\n');
  }

  /**
   * The access log's line, the same fields `event` would write, built by hand: it is written for
   * every request and none of its fields can be a secret, so it skips the copy and the scrub.
   */
  access(
    requestId: string,
    method: string,
    path: string,
    status: number,
    ms: number,
    ip: string | undefined,
    level: 'info' | 'debug' = 'info',
  ): void {
    if (!this.isEnabled(level)) return;
    const address = ip === undefined ? '' : `,"ip":${JSON.stringify(ip)}`;
    this.sink(
      `{"time":"${this.timestamp()}","level":"${level}","context":"HTTP","requestId":${JSON.stringify(requestId)},` +
        `"method":${JSON.stringify(method)},"path":${JSON.stringify(path)},"status":${status},"ms":${ms}${address}}\n`,
    );
  }

  /** ISO time of now, formatted once per millisecond however many lines share it. */
  private timestamp(): string {
    const now = Date.now();
    if (now !== this.stampedAt) {
      this.stampedAt = now;
      this.stamp = new Date(now).toISOString();
    }
    return this.stamp;
  }

  private write(nestLevel: NestLevel, message: unknown, rest: unknown[]): void {
    const level = FROM_NEST[nestLevel];
    if (!this.isEnabled(level)) return;
    // Nest's Logger passes its context last; error() passes a stack (or undefined) before it.
    const context = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : 'App';
    const params = rest.filter((param) => param !== undefined);
    const fields: Record<string, unknown> = {};
    if (message instanceof Error) {
      fields.msg = message.message;
      fields.err = message;
    } else if (typeof message === 'string') {
      fields.msg = message;
    } else {
      fields.data = message;
    }
    if (nestLevel === 'error' && typeof params[0] === 'string') fields.stack = params.shift();
    if (params.length > 0) fields.params = params;
    this.event(level, context, fields);
  }
}
