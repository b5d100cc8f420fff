import { LoggerService, LogLevel } from '@nestjs/common';
import { currentRequestId } from './request-context';

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

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

/**
 * One JSON object per line on stdout, with the request id of the request being served. Messages
 * are whatever the code logs: no code logs passwords, cookies or secrets (a test reads the logs).
 */
export class JsonLogger implements LoggerService {
  private enabled = new Set<LogLevel>(['fatal', 'error', 'warn', 'log']);

  constructor(private readonly sink: Sink = batchedStdout()) {}

  setLogLevels(levels: LogLevel[]): void {
    this.enabled = new Set(levels);
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
  event(level: LogLevel, context: string, fields: Record<string, unknown>, requestId = currentRequestId()): void {
    if (!this.enabled.has(level)) return;
    this.sink(JSON.stringify({ time: new Date().toISOString(), level, context, requestId, ...fields }) + '\n');
  }

  private write(level: LogLevel, message: unknown, rest: unknown[]): void {
    if (!this.enabled.has(level) || !LEVELS.includes(level)) return;
    // Nest passes the context last; for errors a stack may come before it.
    const context = typeof rest[rest.length - 1] === 'string' ? (rest.pop() as string) : undefined;
    const stack = typeof rest[0] === 'string' ? rest[0] : undefined;
    const msg =
      message instanceof Error ? message.message : typeof message === 'string' ? message : JSON.stringify(message);
    this.event(level, context ?? 'App', { msg, ...(stack ? { stack } : {}) });
  }
}
