import 'reflect-metadata';
import { ServiceUnavailableException, UnauthorizedException } from '@nestjs/common';
import { sign } from 'cookie-signature';
import request from 'supertest';
import { CLIENT_IP, ControllerApp, createControllerApp, SignedIn } from '../common/controller-test-app';
import { TooManyRequestsException } from '../common/too-many-requests.exception';
import { handleFromPublicId } from '../session/session-ids';
import { AuthController } from './auth.controller';
import { LoginResponseDto } from './auth.dto';
import { AuthService, LoginResult } from './auth.service';

const SECRET_ID = 'AAAAAAAAAAAA.bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb';
const EXPIRES_AT = Date.UTC(2030, 0, 2, 3, 4, 5);
const RESPONSE: LoginResponseDto = {
  user: { id: 'AAAAAAAAAAAA', username: 'alice', roles: ['user'] },
  session: {
    id: 'AAAAAAAAAAAA.cccccccccccccccccccccc',
    deviceId: 'laptop-1',
    createdAt: '2030-01-01T03:04:05.000Z',
    expiresAt: '2030-01-01T05:04:05.000Z',
  },
  csrfToken: 'csrf-token-of-the-new-session',
};
const CLEARED = 'Expires=Thu, 01 Jan 1970 00:00:00 GMT';

describe('AuthController over HTTP', () => {
  const auth = {
    login: jest.fn<Promise<LoginResult>, Parameters<AuthService['login']>>(),
    logout: jest.fn<ReturnType<AuthService['logout']>, Parameters<AuthService['logout']>>(),
    profile: jest.fn<ReturnType<AuthService['profile']>, Parameters<AuthService['profile']>>(),
    csrf: jest.fn<ReturnType<AuthService['csrf']>, Parameters<AuthService['csrf']>>(),
    listOwn: jest.fn<ReturnType<AuthService['listOwn']>, Parameters<AuthService['listOwn']>>(),
    revokeOwn: jest.fn<ReturnType<AuthService['revokeOwn']>, Parameters<AuthService['revokeOwn']>>(),
    revokeOthers: jest.fn<ReturnType<AuthService['revokeOthers']>, Parameters<AuthService['revokeOthers']>>(),
    revokeDevice: jest.fn<ReturnType<AuthService['revokeDevice']>, Parameters<AuthService['revokeDevice']>>(),
  };
  let app: ControllerApp;
  let alice: SignedIn;

  beforeAll(async () => {
    app = await createControllerApp(AuthController, [{ provide: AuthService, useValue: auth }]);
  });

  afterAll(() => app.close());

  beforeEach(() => {
    jest.resetAllMocks();
    alice = app.signIn({ username: 'alice', roles: ['user'] });
  });

  const post = (path: string) => request(app.http).post(path).set('X-Forwarded-For', CLIENT_IP);
  const get = (path: string) => request(app.http).get(path).set('X-Forwarded-For', CLIENT_IP);
  const del = (path: string) => request(app.http).delete(path).set('X-Forwarded-For', CLIENT_IP);
  const setCookies = (res: request.Response): string[] => {
    const header = res.headers['set-cookie'] as string[] | string | undefined;
    return header === undefined ? [] : ([] as string[]).concat(header);
  };

  describe('POST /auth/login', () => {
    const credentials = { username: 'alice', password: 'alice-password', deviceId: 'laptop-1' };

    it('400s an invalid body with a message per field, without asking the service', async () => {
      const res = await post('/auth/login').send({ username: '', password: 12, deviceId: 'no spaces', admin: true });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({
        statusCode: 400,
        error: 'Bad Request',
        message: [
          'property admin should not exist',
          'username must be longer than or equal to 1 characters',
          'password must be shorter than or equal to 1024 characters',
          'password must be longer than or equal to 1 characters',
          'password must be a string',
          'deviceId must be 1-128 letters, digits or . _ : -',
        ],
      });
      expect(auth.login).not.toHaveBeenCalled();
    });

    it('passes the body and the client (address, agent, TLS) and sets the cookie the service names', async () => {
      auth.login.mockResolvedValue({ response: RESPONSE, cookie: { secretId: SECRET_ID, expiresAt: EXPIRES_AT } });
      const res = await post('/auth/login')
        .set('User-Agent', 'spec-agent/1.0')
        .set('X-Forwarded-Proto', 'https')
        .send(credentials);
      expect(res.status).toBe(200);
      expect(res.body).toEqual(RESPONSE);
      expect(auth.login).toHaveBeenCalledTimes(1);
      expect(auth.login).toHaveBeenCalledWith(
        credentials,
        { ip: CLIENT_IP, userAgent: 'spec-agent/1.0', secure: true },
        undefined,
      );
      const value = encodeURIComponent(`s:${sign(SECRET_ID, app.config.secrets[0])}`);
      expect(setCookies(res)).toEqual([
        `${app.config.cookieName}=${value}; Path=/; Expires=${new Date(EXPIRES_AT).toUTCString()}; HttpOnly; SameSite=Lax`,
      ]);
    });

    it('says plain HTTP is not secure, and hands over the session the request came with (it must end)', async () => {
      auth.login.mockResolvedValue({ response: RESPONSE, cookie: { secretId: SECRET_ID, expiresAt: EXPIRES_AT } });
      await post('/auth/login').set('Cookie', alice.cookie).send(credentials).expect(200);
      expect(auth.login).toHaveBeenCalledWith(
        credentials,
        { ip: CLIENT_IP, userAgent: undefined, secure: false },
        alice.session,
      );
    });

    it('needs neither a session nor a CSRF token', async () => {
      auth.login.mockResolvedValue({ response: RESPONSE, cookie: { secretId: SECRET_ID, expiresAt: EXPIRES_AT } });
      await post('/auth/login').send({ username: 'alice', password: 'x' }).expect(200);
      expect(auth.login.mock.calls[0][0]).toEqual({ username: 'alice', password: 'x' });
    });

    it('answers 429 with Retry-After from the exception, and sets no cookie', async () => {
      auth.login.mockRejectedValue(new TooManyRequestsException('Too many failed logins, try again in 42 s', 42));
      const res = await post('/auth/login').send(credentials);
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe('42');
      expect(res.body).toEqual({
        statusCode: 429,
        message: 'Too many failed logins, try again in 42 s',
        error: 'Too Many Requests',
      });
      expect(setCookies(res)).toEqual([]);
    });

    it('answers a busy hasher with 503 and Retry-After, as documented for every 503', async () => {
      auth.login.mockRejectedValue(new ServiceUnavailableException('Too many logins in progress, try again shortly'));
      const res = await post('/auth/login').send(credentials);
      expect(res.status).toBe(503);
      expect(res.headers['retry-after']).toBe('1');
      expect(Object.keys(res.body as object).sort()).toEqual(['error', 'message', 'statusCode']);
      expect(setCookies(res)).toEqual([]);
    });

    it('passes a refusal through as 401 without a cookie or Retry-After', async () => {
      auth.login.mockRejectedValue(new UnauthorizedException('Invalid credentials'));
      const res = await post('/auth/login').send(credentials);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ statusCode: 401, message: 'Invalid credentials', error: 'Unauthorized' });
      expect(res.headers['retry-after']).toBeUndefined();
      expect(setCookies(res)).toEqual([]);
    });
  });

  describe('POST /auth/logout', () => {
    it('401s without a session', async () => {
      const res = await post('/auth/logout');
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ statusCode: 401, message: 'Authentication required', error: 'Unauthorized' });
      expect(auth.logout).not.toHaveBeenCalled();
    });

    it("403s without X-CSRF-Token, or with another session's", async () => {
      const bob = app.signIn({ username: 'bob', roles: ['user'] });
      const tampered = alice.csrfToken.slice(0, -1) + (alice.csrfToken.endsWith('A') ? 'B' : 'A');
      for (const token of [undefined, bob.csrfToken, tampered]) {
        const call = post('/auth/logout').set('Cookie', alice.cookie);
        const res = await (token === undefined ? call : call.set('X-CSRF-Token', token));
        expect(res.status).toBe(403);
        expect(res.body).toEqual({ statusCode: 403, message: 'Missing or invalid CSRF token', error: 'Forbidden' });
      }
      expect(auth.logout).not.toHaveBeenCalled();
    });

    it('ends the request session through the service and clears the cookie', async () => {
      auth.logout.mockResolvedValue({ loggedOut: true });
      const res = await post('/auth/logout').set('Cookie', alice.cookie).set('X-CSRF-Token', alice.csrfToken);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ loggedOut: true });
      expect(auth.logout).toHaveBeenCalledWith(alice.session, CLIENT_IP);
      expect(setCookies(res)).toEqual([`${app.config.cookieName}=; Path=/; ${CLEARED}; HttpOnly; SameSite=Lax`]);
    });
  });

  describe('reading routes', () => {
    it('401 without a session on each of them', async () => {
      for (const path of ['/auth/profile', '/auth/csrf', '/auth/sessions']) {
        const res = await get(path);
        expect([path, res.status]).toEqual([path, 401]);
      }
      expect(auth.profile).not.toHaveBeenCalled();
      expect(auth.csrf).not.toHaveBeenCalled();
      expect(auth.listOwn).not.toHaveBeenCalled();
    });

    it('GET /auth/profile hands the session record to the service', async () => {
      const profile = { userId: 'u', username: 'alice', roles: ['user'] } as ReturnType<AuthService['profile']>;
      auth.profile.mockReturnValue(profile);
      const res = await get('/auth/profile').set('Cookie', alice.cookie).expect(200);
      expect(res.body).toEqual(profile);
      expect(auth.profile).toHaveBeenCalledWith(alice.session.record);
    });

    it('GET /auth/csrf hands over the request session (the token is derived from its secret id)', async () => {
      auth.csrf.mockReturnValue({ csrfToken: 't' });
      await get('/auth/csrf').set('Cookie', alice.cookie).expect(200, { csrfToken: 't' });
      expect(auth.csrf).toHaveBeenCalledWith(alice.session);
    });

    it('GET /auth/sessions lists the caller’s sessions', async () => {
      auth.listOwn.mockResolvedValue({ sessions: [] });
      await get('/auth/sessions').set('Cookie', alice.cookie).expect(200, { sessions: [] });
      expect(auth.listOwn).toHaveBeenCalledWith(alice.session.record);
    });
  });

  describe('ending own sessions', () => {
    const target = 'BBBBBBBBBBBB.dddddddddddddddddddddd';

    it('403s each without the CSRF token', async () => {
      for (const path of ['/auth/sessions', `/auth/sessions/${target}`, '/auth/devices/phone-1']) {
        const res = await del(path).set('Cookie', alice.cookie);
        expect([path, res.status]).toEqual([path, 403]);
      }
      expect(auth.revokeOthers).not.toHaveBeenCalled();
      expect(auth.revokeOwn).not.toHaveBeenCalled();
      expect(auth.revokeDevice).not.toHaveBeenCalled();
    });

    it('DELETE /auth/sessions ends the others', async () => {
      auth.revokeOthers.mockResolvedValue({ revoked: 3 });
      await del('/auth/sessions')
        .set('Cookie', alice.cookie)
        .set('X-CSRF-Token', alice.csrfToken)
        .expect(200, { revoked: 3 });
      expect(auth.revokeOthers).toHaveBeenCalledWith(alice.session.record, CLIENT_IP);
    });

    it('DELETE /auth/sessions/:id parses the public id, and 400s one that is not', async () => {
      auth.revokeOwn.mockResolvedValue({ revoked: 1 });
      const signed = (call: request.Test) => call.set('Cookie', alice.cookie).set('X-CSRF-Token', alice.csrfToken);
      await signed(del(`/auth/sessions/${target}`)).expect(200, { revoked: 1 });
      expect(auth.revokeOwn).toHaveBeenCalledWith(alice.session, handleFromPublicId(target), CLIENT_IP);
      expect(auth.revokeOwn.mock.calls[0][1]).toEqual({
        userId: 'BBBBBBBBBBBB',
        hash: 'dddddddddddddddddddddd',
        publicId: target,
      });

      const res = await signed(del('/auth/sessions/not-a-session-id'));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ statusCode: 400, message: 'Invalid session id', error: 'Bad Request' });
      expect(auth.revokeOwn).toHaveBeenCalledTimes(1);
    });

    it('DELETE /auth/devices/:deviceId ends that device, and 400s a malformed device id', async () => {
      auth.revokeDevice.mockResolvedValue({ revoked: 2 });
      const signed = (call: request.Test) => call.set('Cookie', alice.cookie).set('X-CSRF-Token', alice.csrfToken);
      await signed(del('/auth/devices/phone-1')).expect(200, { revoked: 2 });
      expect(auth.revokeDevice).toHaveBeenCalledWith(alice.session, 'phone-1', CLIENT_IP);

      const res = await signed(del('/auth/devices/no%20spaces'));
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ statusCode: 400, message: 'Invalid device id', error: 'Bad Request' });
      expect(auth.revokeDevice).toHaveBeenCalledTimes(1);
    });
  });
});
