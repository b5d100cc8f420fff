import { Logger } from '@nestjs/common';
import { JsonLogger, LOG_LEVELS, LogLevel, REDACTED, REDACTED_NAMES } from './logger';
import { withRequestId } from './request-context';

type Line = Record<string, unknown>;

function capture(level?: LogLevel): { logger: JsonLogger; lines: Line[]; text: () => string } {
  const raw: string[] = [];
  const logger = new JsonLogger({ level, sink: (line) => raw.push(line) });
  return {
    logger,
    get lines() {
      return raw.map((line) => JSON.parse(line) as Line);
    },
    text: () => raw.join(''),
  };
}

/** Every Nest log method once, with the context Nest's Logger passes last. */
function logEveryLevel(logger: JsonLogger): void {
  logger.fatal('fatal', 'Spec');
  logger.error('error', undefined, 'Spec');
  logger.warn('warn', 'Spec');
  logger.log('log', 'Spec');
  logger.debug('debug', 'Spec');
  logger.verbose('verbose', 'Spec');
}

describe('JsonLogger', () => {
  describe('LOG_LEVEL', () => {
    it.each<[LogLevel, string[]]>([
      ['error', ['fatal', 'error']],
      ['warn', ['fatal', 'error', 'warn']],
      ['info', ['fatal', 'error', 'warn', 'log']],
      ['debug', ['fatal', 'error', 'warn', 'log', 'debug', 'verbose']],
    ])('at %s writes %j', (level, written) => {
      const out = capture(level);
      logEveryLevel(out.logger);
      expect(out.lines.map((line) => line.msg)).toEqual(written);
    });

    it('is info by default and labels lines with the LOG_LEVEL names', () => {
      const out = capture();
      logEveryLevel(out.logger);
      expect(out.lines.map((line) => [line.msg, line.level])).toEqual([
        ['fatal', 'fatal'],
        ['error', 'error'],
        ['warn', 'warn'],
        ['log', 'info'],
      ]);
      expect(LOG_LEVELS).toEqual(['error', 'warn', 'info', 'debug']);
    });

    it('filters structured events too, and follows setLevel', () => {
      const out = capture('warn');
      out.logger.event('info', 'HTTP', { status: 200 });
      out.logger.setLevel('info');
      out.logger.event('info', 'HTTP', { status: 201 });
      out.logger.setLevel('error');
      out.logger.event('warn', 'HTTP', { status: 202 });
      expect(out.lines.map((line) => line.status)).toEqual([201]);
    });
  });

  describe('redaction', () => {
    it('redacts every secret name at any depth, in any case, and keeps the other fields', () => {
      const out = capture();
      const deep = (leaf: Record<string, unknown>) => ({ a: { b: [{ c: { d: { e: leaf } } }] } });
      for (const name of REDACTED_NAMES) {
        out.logger.event('info', 'Spec', {
          name,
          top: { [name]: `top-${name}` },
          nested: deep({ [name]: `deep-${name}` }),
        });
      }
      out.logger.event('info', 'Spec', {
        headers: {
          Cookie: 'sid=s%3Avalue',
          'Set-Cookie': ['sid=new'],
          AUTHORIZATION: 'Basic x',
          'X-CSRF-Token': 'csrf-v',
        },
      });

      const text = out.text();
      for (const name of REDACTED_NAMES) {
        expect(text).not.toContain(`top-${name}`);
        expect(text).not.toContain(`deep-${name}`);
      }
      for (const value of ['sid=s%3Avalue', 'sid=new', 'Basic x', 'csrf-v']) expect(text).not.toContain(value);

      const [first] = out.lines;
      expect(first).toMatchObject({
        name: 'password',
        top: { password: REDACTED },
        nested: { a: { b: [{ c: { d: { e: { password: REDACTED } } } }] } },
      });
      expect(out.lines.at(-1)).toMatchObject({
        headers: { Cookie: REDACTED, 'Set-Cookie': REDACTED, AUTHORIZATION: REDACTED, 'X-CSRF-Token': REDACTED },
      });
    });

    it('redacts objects given to the Nest methods, without changing the caller’s object', () => {
      const out = capture();
      const body = {
        username: 'ann',
        password: 'hunter2-secret',
        change: { currentPassword: 'old-pw', newPassword: 'new-pw' },
      };
      out.logger.warn(body, 'Spec');

      expect(out.lines[0]).toMatchObject({
        level: 'warn',
        context: 'Spec',
        data: { username: 'ann', password: REDACTED, change: { currentPassword: REDACTED, newPassword: REDACTED } },
      });
      expect(body.password).toBe('hunter2-secret');
      expect(body.change.newPassword).toBe('new-pw');
    });

    it('writes a circular object once and a very deep one up to a placeholder, never the hidden fields', () => {
      const out = capture();
      const loop: Record<string, unknown> = { name: 'loop' };
      loop.self = loop;
      let deep: Record<string, unknown> = { token: 'deepest-token' };
      for (let i = 0; i < 40; i++) deep = { next: deep };
      out.logger.event('info', 'Spec', { loop, deep });

      expect(out.lines[0]).toMatchObject({ loop: { name: 'loop', self: '[Circular]' } });
      expect(out.text()).toContain('[Too deep]');
      expect(out.text()).not.toContain('deepest-token');
    });
  });

  describe('errors', () => {
    class StoreDownError extends Error {
      readonly code = 'ECONNREFUSED';
    }

    it('writes an Error logged through Nest’s Logger with its type, message and stack', () => {
      const out = capture();
      Logger.overrideLogger(out.logger);
      const error = new StoreDownError('store down', { cause: new TypeError('socket closed') });
      new Logger('Errors').error(error);

      const [line] = out.lines;
      const err = line.err as Record<string, unknown>;
      expect(line).toMatchObject({ level: 'error', context: 'Errors', msg: 'store down' });
      expect(err).toMatchObject({ type: 'StoreDownError', message: 'store down', code: 'ECONNREFUSED' });
      expect(err.stack).toBe(error.stack);
      expect(err.stack).toMatch(/^Error: store down\n\s+at /);
      expect(err.cause).toMatchObject({ type: 'TypeError', message: 'socket closed', stack: expect.any(String) });
    });

    it('keeps a stack passed as text, serialises errors inside fields and redacts their secret fields', () => {
      const out = capture();
      const withConfig = Object.assign(new Error('request failed'), { headers: { authorization: 'Bearer abc' } });
      out.logger.error('session lookup failed', 'Error: x\n    at y', 'Session');
      out.logger.event('warn', 'Spec', { failure: withConfig });

      expect(out.lines[0]).toMatchObject({
        context: 'Session',
        msg: 'session lookup failed',
        stack: 'Error: x\n    at y',
      });
      expect(out.lines[1]).toMatchObject({
        failure: {
          type: 'Error',
          message: 'request failed',
          stack: expect.any(String),
          headers: { authorization: REDACTED },
        },
      });
      expect(out.text()).not.toContain('Bearer abc');
    });
  });

  describe('access log', () => {
    it('writes what event() would write for the same fields, escaped as JSON', () => {
      const out = capture();
      const path = '/odd "path"\\ \u00e9\u0001';
      out.logger.access('req-7', 'GET', path, 404, 1.25, '::1');
      out.logger.event('info', 'HTTP', { method: 'GET', path, status: 404, ms: 1.25, ip: '::1' }, 'req-7');
      out.logger.access('req-8', 'POST', '/x', 200, 0.5, undefined);
      const [fast, generic, noIp] = out.lines;
      expect(fast).toEqual({ ...generic, time: fast.time });
      expect(fast.path).toBe(path);
      expect(noIp).not.toHaveProperty('ip');
    });

    it('follows LOG_LEVEL (an access line is info)', () => {
      const out = capture('warn');
      out.logger.access('req-1', 'GET', '/', 200, 1, '::1');
      expect(out.lines).toEqual([]);
    });
  });

  describe('request id', () => {
    it('is on every line written while serving a request, and on none outside one', () => {
      const out = capture('debug');
      const logger = new Logger('Handler');
      Logger.overrideLogger(out.logger);
      withRequestId('req-1', () => {
        logger.log('inside');
        out.logger.event('debug', 'Spec', { step: 1 });
      });
      logger.log('outside');
      out.logger.event('info', 'HTTP', { status: 200 }, 'req-2');

      expect(out.lines.map((line) => [line.msg ?? line.context, line.requestId])).toEqual([
        ['inside', 'req-1'],
        ['Spec', 'req-1'],
        ['outside', undefined],
        ['HTTP', 'req-2'],
      ]);
    });

    it('stays with its request across awaits while other requests interleave', async () => {
      const out = capture();
      const serve = (id: string) =>
        new Promise<void>((resolve) =>
          withRequestId(id, () => {
            void (async () => {
              await new Promise((r) => setImmediate(r));
              out.logger.log(`served ${id}`, 'Handler');
              resolve();
            })();
          }),
        );
      await Promise.all(['a', 'b', 'c'].map(serve));
      expect(out.lines.map((line) => [line.msg, line.requestId]).sort()).toEqual([
        ['served a', 'a'],
        ['served b', 'b'],
        ['served c', 'c'],
      ]);
    });
  });
});
