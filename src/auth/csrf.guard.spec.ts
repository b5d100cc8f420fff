import { ExecutionContext, ForbiddenException } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Clock } from '../common/clock';
import { loadConfig } from '../config/config';
import { ActivityTracker } from '../session/activity-tracker';
import { SessionService } from '../session/session.service';
import { SessionStore } from '../session/session-store';
import { Public } from './auth.decorators';
import { CsrfGuard } from './csrf.guard';

class Routes {
  @Public()
  login(): void {}

  logout(): void {}
}

const SID = 'AAAAAAAAAAAA.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';

interface FakeRequest {
  method: string;
  liveSession?: { secretId: string; record: object };
  headers: Record<string, string>;
  get(name: string): string | undefined;
}

function requestOf(method: string, options: { session?: boolean; token?: string } = {}): FakeRequest {
  const headers: Record<string, string> = options.token === undefined ? {} : { 'x-csrf-token': options.token };
  return {
    method,
    liveSession: options.session === false ? undefined : { secretId: SID, record: { roles: ['user'] } },
    headers,
    get: (name) => headers[name.toLowerCase()],
  };
}

function contextFor(req: FakeRequest, method: keyof Routes = 'logout'): ExecutionContext {
  return {
    getHandler: () => Routes.prototype[method],
    getClass: () => Routes,
    switchToHttp: () => ({ getRequest: () => req }),
  } as unknown as ExecutionContext;
}

describe('CsrfGuard', () => {
  /** Accepts exactly `token-for:<sid>` and remembers what it was asked. */
  class FakeSessions {
    readonly calls: [string, string | undefined][] = [];
    verifyCsrf(sessionId: string, token: string | undefined): boolean {
      this.calls.push([sessionId, token]);
      return token === `token-for:${sessionId}`;
    }
  }

  let sessions: FakeSessions;
  let guard: CsrfGuard;
  beforeEach(() => {
    sessions = new FakeSessions();
    guard = new CsrfGuard(new Reflector(), sessions as unknown as SessionService);
  });

  it.each(['GET', 'HEAD', 'OPTIONS'])('lets %s through without a token', (method) => {
    expect(guard.canActivate(contextFor(requestOf(method)))).toBe(true);
    expect(sessions.calls).toEqual([]);
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('refuses %s with a session and no token', (method) => {
    expect(() => guard.canActivate(contextFor(requestOf(method)))).toThrow(ForbiddenException);
    expect(sessions.calls).toEqual([[SID, undefined]]);
  });

  it('refuses a wrong token with 403 "Missing or invalid CSRF token"', () => {
    const context = contextFor(requestOf('POST', { token: 'token-for:someone-else' }));
    expect(() => guard.canActivate(context)).toThrow(new ForbiddenException('Missing or invalid CSRF token'));
  });

  it('accepts the session’s own token, checked against the request’s session id', () => {
    expect(guard.canActivate(contextFor(requestOf('POST', { token: `token-for:${SID}` })))).toBe(true);
    expect(sessions.calls).toEqual([[SID, `token-for:${SID}`]]);
  });

  it('lets a request without a session through (authentication answers it, not CSRF)', () => {
    expect(guard.canActivate(contextFor(requestOf('POST', { session: false })))).toBe(true);
    expect(sessions.calls).toEqual([]);
  });

  it('exempts @Public routes such as login, even with a session', () => {
    expect(guard.canActivate(contextFor(requestOf('POST'), 'login'))).toBe(true);
    expect(sessions.calls).toEqual([]);
  });

  describe('with the real token of SessionService', () => {
    const OLD = 'old-secret-0123456789-0123456789-abc';
    const NEW = 'new-secret-0123456789-0123456789-xyz';

    function serviceWith(secrets: string[]): SessionService {
      const config = loadConfig({ SESSION_SECRET: secrets.join(',') }).session;
      // Token work touches neither the store nor the tracker.
      return new SessionService({} as SessionStore, {} as ActivityTracker, config, new Clock());
    }

    it('accepts the token SessionService issued for this session only', () => {
      const service = serviceWith([NEW]);
      const realGuard = new CsrfGuard(new Reflector(), service);
      const token = service.csrfToken(SID);
      const otherToken = service.csrfToken(SID.replace('AAAA', 'BBBB'));

      expect(realGuard.canActivate(contextFor(requestOf('POST', { token })))).toBe(true);
      expect(() => realGuard.canActivate(contextFor(requestOf('POST', { token: otherToken })))).toThrow(
        ForbiddenException,
      );
      const flipped = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
      expect(() => realGuard.canActivate(contextFor(requestOf('POST', { token: flipped })))).toThrow(
        ForbiddenException,
      );
    });

    it('is not the session id and does not contain it', () => {
      const token = serviceWith([NEW]).csrfToken(SID);
      expect(token).not.toContain(SID);
      expect(token).not.toContain(SID.split('.')[1]);
    });

    it('keeps tokens of a rotated-out secret valid while it is still listed', () => {
      const before = serviceWith([OLD]).csrfToken(SID);
      const rotated = serviceWith([NEW, OLD]);
      expect(rotated.verifyCsrf(SID, before)).toBe(true);
      expect(rotated.csrfToken(SID)).not.toBe(before);
      expect(serviceWith([NEW]).verifyCsrf(SID, before)).toBe(false);
    });

    it('refuses missing, empty and wrongly sized tokens without throwing', () => {
      const service = serviceWith([NEW]);
      const token = service.csrfToken(SID);
      expect(service.verifyCsrf(SID, undefined)).toBe(false);
      expect(service.verifyCsrf(SID, '')).toBe(false);
      expect(service.verifyCsrf(SID, token.slice(1))).toBe(false);
      expect(service.verifyCsrf(SID, `${token}x`)).toBe(false);
    });

    it('refuses a token of as many multi-byte characters without throwing', () => {
      const service = serviceWith([NEW]);
      const length = service.csrfToken(SID).length;
      expect(service.verifyCsrf(SID, '\u00e9'.repeat(length))).toBe(false);
      expect(() =>
        new CsrfGuard(new Reflector(), service).canActivate(
          contextFor(requestOf('POST', { token: '\u00e9'.repeat(length) })),
        ),
      ).toThrow(ForbiddenException);
    });
  });
});
