import { createHmac, randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import request, { Response } from 'supertest';
import {
  ADMIN,
  createTestApp,
  createUser,
  dumpPrefix,
  inspectRedis,
  login,
  LoggedIn,
  STORE_KINDS,
  TEST_SECRET,
  TestApp,
} from './support/test-app';

const PUBLIC_ID = /^[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{22}$/;
const COOKIE_SID = /^[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}$/;
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** An error answered as the SPEC says: `{statusCode, message, error}` and nothing that smells of a stack. */
function expectError(res: Response, status: number, message?: string | RegExp): void {
  expect(res.status).toBe(status);
  const body = res.body as { statusCode: number; message: unknown; error: string };
  expect(Object.keys(body).sort()).toEqual(['error', 'message', 'statusCode']);
  expect(body.statusCode).toBe(status);
  expect(typeof body.error).toBe('string');
  if (typeof message === 'string') expect(body.message).toBe(message);
  else if (message) expect(body.message).toMatch(message);
  expect(res.text).not.toMatch(/stack|\n\s+at |node_modules|\.[jt]s:\d+/);
}

/** The cookie's parts: `name=s%3A<sid>.<signature>`. */
function parseCookie(cookie: string): { name: string; sid: string; signature: string } {
  const at = cookie.indexOf('=');
  const value = decodeURIComponent(cookie.slice(at + 1));
  expect(value.startsWith('s:')).toBe(true);
  const dot = value.lastIndexOf('.');
  return { name: cookie.slice(0, at), sid: value.slice(2, dot), signature: value.slice(dot + 1) };
}

function buildCookie(name: string, sid: string, signature: string): string {
  return `${name}=${encodeURIComponent(`s:${sid}.${signature}`)}`;
}

/** What cookie-signature (express-session's signer) produces: HMAC-SHA256, base64 without padding. */
function sign(sid: string, secret: string): string {
  return createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
}

function flipChar(text: string, index: number): string {
  const replacement = text[index] === 'A' ? 'B' : 'A';
  return `${text.slice(0, index)}${replacement}${text.slice(index + 1)}`;
}

function setCookies(res: Response): string[] {
  const header = res.headers['set-cookie'] as string[] | string | undefined;
  return Array.isArray(header) ? header : header ? [header] : [];
}

function profile(http: Server, cookie: string): request.Test {
  return request(http).get('/auth/profile').set('Cookie', cookie);
}

function logout(http: Server, session: LoggedIn): request.Test {
  return request(http).post('/auth/logout').set('Cookie', session.cookie).set('X-CSRF-Token', session.csrfToken);
}

let names = 0;
function uniqueName(): string {
  names += 1;
  return `user${names}-${randomBytes(3).toString('hex')}`;
}

describe.each(STORE_KINDS)('auth end to end (%s store)', (kind) => {
  let t: TestApp;
  const extraApps: TestApp[] = [];

  async function start(env: Record<string, string> = {}): Promise<TestApp> {
    const app = await createTestApp({ store: kind, env: { LOGIN_MAX_FAILURES: '1000', ...env } });
    extraApps.push(app);
    return app;
  }

  beforeAll(async () => {
    t = await createTestApp({ store: kind, env: { LOGIN_MAX_FAILURES: '1000' } });
  });
  afterAll(() => t.close());
  afterEach(async () => {
    await Promise.all(extraApps.splice(0).map((app) => app.close()));
  });

  describe('login', () => {
    it('answers 200 with the user, the session and a CSRF token, and sets a locked-down cookie', async () => {
      const res = await request(t.http)
        .post('/auth/login')
        .send({ ...ADMIN, deviceId: 'laptop-1' })
        .expect(200);

      const body = res.body as LoggedIn['body'];
      expect(Object.keys(body).sort()).toEqual(['csrfToken', 'session', 'user']);
      expect(body.user).toEqual({ id: expect.any(String), username: 'admin', roles: ['admin', 'user'] });
      expect(Object.keys(body.session).sort()).toEqual(['createdAt', 'deviceId', 'expiresAt', 'id']);
      expect(body.session.id).toMatch(PUBLIC_ID);
      expect(body.session.id.startsWith(`${body.user.id}.`)).toBe(true);
      expect(body.session.deviceId).toBe('laptop-1');
      expect(body.session.createdAt).toMatch(ISO);
      expect(body.session.expiresAt).toMatch(ISO);
      // Fresh session: it ends one idle timeout (default 7200 s) after login.
      expect(Date.parse(body.session.expiresAt) - Date.parse(body.session.createdAt)).toBe(7200_000);
      expect(typeof body.csrfToken).toBe('string');
      expect(body.csrfToken.length).toBeGreaterThan(20);

      const cookies = setCookies(res);
      expect(cookies).toHaveLength(1);
      const [cookie] = cookies;
      expect(cookie).toMatch(/^sid=s%3A/);
      expect(cookie).toMatch(/;\s*HttpOnly/i);
      expect(cookie).toMatch(/;\s*SameSite=Lax/i);
      expect(cookie).toMatch(/;\s*Path=\/(;|$)/);

      const { sid } = parseCookie(cookie.split(';')[0]);
      expect(sid).toMatch(COOKIE_SID);
      expect(sid.startsWith(`${body.user.id}.`)).toBe(true);
      // The public id names the session but is not the cookie's id.
      expect(sid).not.toContain(body.session.id.split('.')[1]);
      expect(body.session.id).not.toBe(sid);
    });

    it('gives deviceId null when none is sent', async () => {
      const admin = await login(t.http);
      expect(admin.body.session.deviceId).toBeNull();
    });

    it('answers wrong password and unknown user with the identical 401 body', async () => {
      const wrong = await request(t.http).post('/auth/login').send({ username: 'admin', password: 'not-the-password' });
      const unknown = await request(t.http)
        .post('/auth/login')
        .send({ username: 'nobody-at-all', password: 'not-the-password' });

      expectError(wrong, 401, 'Invalid credentials');
      expectError(unknown, 401, 'Invalid credentials');
      expect(unknown.body).toEqual(wrong.body);
      expect(wrong.body).toEqual({ statusCode: 401, message: 'Invalid credentials', error: 'Unauthorized' });
      expect(setCookies(wrong)).toEqual([]);
      expect(setCookies(unknown)).toEqual([]);
    });

    it('matches the username regardless of case', async () => {
      const res = await login(t.http, { username: 'ADMIN', password: ADMIN.password });
      expect(res.body.user.username).toBe('admin');
    });

    it('mints a new cookie at every login and never adopts the one it was sent', async () => {
      const first = await login(t.http);
      const second = await login(t.http, ADMIN, { Cookie: first.cookie });

      expect(second.cookie).not.toBe(first.cookie);
      expect(parseCookie(second.cookie).sid).not.toBe(parseCookie(first.cookie).sid);
      expect(second.body.session.id).not.toBe(first.body.session.id);
      // The session the old cookie named is dead, not merely replaced in this browser.
      expectError(await profile(t.http, first.cookie), 401, 'Authentication required');
      const res = await profile(t.http, second.cookie).expect(200);
      expect(res.body.session.id).toBe(second.body.session.id);
    });

    it('does not adopt a planted cookie, even one correctly signed', async () => {
      const admin = await login(t.http);
      const planted = `${admin.body.user.id}.${randomBytes(32).toString('base64url')}`;
      const plantedCookie = buildCookie('sid', planted, sign(planted, TEST_SECRET));

      const victim = await login(t.http, ADMIN, { Cookie: plantedCookie });

      expect(parseCookie(victim.cookie).sid).not.toBe(planted);
      expectError(await profile(t.http, plantedCookie), 401);
      await profile(t.http, victim.cookie).expect(200);
    });
  });

  describe('profile', () => {
    it('answers 401 without a session', async () => {
      const res = await request(t.http).get('/auth/profile');
      expectError(res, 401, 'Authentication required');
      expect(res.body).toEqual({ statusCode: 401, message: 'Authentication required', error: 'Unauthorized' });
    });

    it('answers 200 with the user and this session', async () => {
      const admin = await login(t.http, { ...ADMIN, deviceId: 'phone-7' });
      const res = await profile(t.http, admin.cookie).expect(200);

      expect(res.body).toEqual({
        userId: admin.body.user.id,
        username: 'admin',
        roles: ['admin', 'user'],
        // The login proved the password: the session was authenticated when it was created.
        authenticatedAt: admin.body.session.createdAt,
        impersonatedBy: null,
        session: {
          id: admin.body.session.id,
          deviceId: 'phone-7',
          createdAt: admin.body.session.createdAt,
          lastActivityAt: expect.stringMatching(ISO),
          expiresAt: expect.stringMatching(ISO),
          requestCount: expect.any(Number),
        },
      });
    });

    it('counts the requests of the session', async () => {
      const admin = await login(t.http);
      const before = (await profile(t.http, admin.cookie).expect(200)).body.session.requestCount as number;
      await profile(t.http, admin.cookie).expect(200);
      await profile(t.http, admin.cookie).expect(200);
      const after = (await profile(t.http, admin.cookie).expect(200)).body.session.requestCount as number;
      expect(before).toBeGreaterThanOrEqual(1);
      expect(after - before).toBe(3);
    });

    it('answers 401 to a cookie whose session id or signature was changed', async () => {
      const admin = await login(t.http);
      const { name, sid, signature } = parseCookie(admin.cookie);

      expectError(await profile(t.http, buildCookie(name, flipChar(sid, sid.length - 1), signature)), 401);
      expectError(await profile(t.http, buildCookie(name, flipChar(sid, 0), signature)), 401);
      expectError(await profile(t.http, buildCookie(name, sid, flipChar(signature, 3))), 401);
      expectError(await profile(t.http, `${name}=${sid}`), 401);
      // The real cookie still works: the tampering was rejected, not the session.
      await profile(t.http, admin.cookie).expect(200);
    });

    it('answers 401 to a cookie signed with another secret', async () => {
      const admin = await login(t.http);
      const { name, sid } = parseCookie(admin.cookie);

      const forged = buildCookie(name, sid, sign(sid, 'another-secret-that-is-long-enough-98765'));
      expectError(await profile(t.http, forged), 401, 'Authentication required');
      // The same construction with the service's secret is accepted, so the forgery failed on the secret alone.
      await profile(t.http, buildCookie(name, sid, sign(sid, TEST_SECRET))).expect(200);
    });
  });

  describe('logout', () => {
    it('ends the session, clears the cookie, and the old cookie then gets 401', async () => {
      const admin = await login(t.http);
      await profile(t.http, admin.cookie).expect(200);

      const res = await logout(t.http, admin).expect(200);

      const cleared = setCookies(res).find((c) => c.startsWith('sid='));
      expect(cleared).toBeDefined();
      expect(cleared).toMatch(/^sid=;/);
      expect(cleared).toMatch(/Expires=Thu, 01 Jan 1970/);
      expectError(await profile(t.http, admin.cookie), 401, 'Authentication required');
      expectError(await logout(t.http, admin), 401, 'Authentication required');
    });

    it('ends only the caller’s session', async () => {
      const one = await login(t.http);
      const two = await login(t.http);
      await logout(t.http, one).expect(200);
      expectError(await profile(t.http, one.cookie), 401);
      await profile(t.http, two.cookie).expect(200);
    });

    if (kind === 'redis') {
      it('is seen at once by another instance sharing the Redis and prefix', async () => {
        const other = await start({ REDIS_KEY_PREFIX: t.prefix });
        const admin = await login(t.http);
        await profile(other.http, admin.cookie).expect(200);

        await logout(t.http, admin).expect(200);

        expectError(await profile(other.http, admin.cookie), 401, 'Authentication required');
        expectError(await profile(t.http, admin.cookie), 401, 'Authentication required');
      });

      it('works when the session is ended on the other instance', async () => {
        const other = await start({ REDIS_KEY_PREFIX: t.prefix });
        const admin = await login(t.http);
        await logout(other.http, admin).expect(200);
        expectError(await profile(t.http, admin.cookie), 401);
      });
    }
  });

  describe('timeouts', () => {
    it('ends a session after SESSION_IDLE_TIMEOUT without requests', async () => {
      const app = await start({ SESSION_IDLE_TIMEOUT: '10', SESSION_TOUCH_INTERVAL: '1' });
      const admin = await login(app.http);
      const expiresAt = Date.parse(admin.body.session.expiresAt);
      expect(expiresAt - Date.parse(admin.body.session.createdAt)).toBe(10_000);

      app.clock.advance(10_001);

      expectError(await profile(app.http, admin.cookie), 401, 'Authentication required');
    });

    it('keeps a session alive while it is used within the idle timeout', async () => {
      const app = await start({ SESSION_IDLE_TIMEOUT: '10', SESSION_TOUCH_INTERVAL: '1' });
      const admin = await login(app.http);

      app.clock.advance(6_000);
      await profile(app.http, admin.cookie).expect(200);
      // 12 s after login but 6 s after the last request: alive only because that request counted.
      app.clock.advance(6_000);
      const res = await profile(app.http, admin.cookie).expect(200);
      expect(Date.parse(res.body.session.lastActivityAt)).toBeGreaterThan(Date.parse(admin.body.session.createdAt));
      expect(Date.parse(res.body.session.expiresAt)).toBeGreaterThan(Date.parse(admin.body.session.expiresAt));

      app.clock.advance(10_001);
      expectError(await profile(app.http, admin.cookie), 401);
    });

    it('ends a session at SESSION_ABSOLUTE_TIMEOUT however active it is', async () => {
      const app = await start({
        SESSION_IDLE_TIMEOUT: '10',
        SESSION_ABSOLUTE_TIMEOUT: '20',
        SESSION_TOUCH_INTERVAL: '1',
      });
      const admin = await login(app.http);

      app.clock.advance(8_000);
      await profile(app.http, admin.cookie).expect(200);
      app.clock.advance(8_000);
      // 16 s: past the first idle deadline, so activity did extend it...
      await profile(app.http, admin.cookie).expect(200);
      app.clock.advance(5_000);
      // ...but 21 s is past the absolute deadline, though the last request was only 5 s ago.
      expectError(await profile(app.http, admin.cookie), 401, 'Authentication required');
    });
  });

  describe('CSRF', () => {
    it('GET /auth/csrf returns the token login returned', async () => {
      const admin = await login(t.http);
      const res = await request(t.http).get('/auth/csrf').set('Cookie', admin.cookie).expect(200);
      expect(res.body).toEqual({ csrfToken: admin.csrfToken });
    });

    it('GET /auth/csrf needs a session', async () => {
      expectError(await request(t.http).get('/auth/csrf'), 401, 'Authentication required');
    });

    it('gives each session its own token', async () => {
      const one = await login(t.http);
      const two = await login(t.http);
      expect(one.csrfToken).not.toBe(two.csrfToken);
    });

    it('refuses logout without the header, with a wrong one or with another session’s, and the session lives on', async () => {
      const admin = await login(t.http);
      const other = await login(t.http);
      const attempts = [
        request(t.http).post('/auth/logout').set('Cookie', admin.cookie),
        request(t.http).post('/auth/logout').set('Cookie', admin.cookie).set('X-CSRF-Token', 'wrong'),
        request(t.http)
          .post('/auth/logout')
          .set('Cookie', admin.cookie)
          .set('X-CSRF-Token', flipChar(admin.csrfToken, 5)),
        request(t.http).post('/auth/logout').set('Cookie', admin.cookie).set('X-CSRF-Token', other.csrfToken),
      ];
      for (const attempt of attempts) expectError(await attempt, 403, 'Missing or invalid CSRF token');

      await profile(t.http, admin.cookie).expect(200);
    });

    it('answers a CSRF header of non-ASCII characters with 403, not 500', async () => {
      const admin = await login(t.http);
      const res = await request(t.http)
        .post('/auth/logout')
        .set('Cookie', admin.cookie)
        .set('X-CSRF-Token', '\u00e9'.repeat(admin.csrfToken.length));
      expectError(res, 403, 'Missing or invalid CSRF token');
      await profile(t.http, admin.cookie).expect(200);
    });

    it('refuses POST /admin/users without a valid header and creates nobody', async () => {
      const admin = await login(t.http);
      const username = uniqueName();
      const user = { username, password: 'password-123' };

      expectError(await request(t.http).post('/admin/users').set('Cookie', admin.cookie).send(user), 403);
      expectError(
        await request(t.http)
          .post('/admin/users')
          .set('Cookie', admin.cookie)
          .set('X-CSRF-Token', flipChar(admin.csrfToken, 0))
          .send(user),
        403,
        'Missing or invalid CSRF token',
      );

      const list = await request(t.http).get('/admin/users?limit=1000').set('Cookie', admin.cookie).expect(200);
      expect((list.body.users as { username: string }[]).map((u) => u.username)).not.toContain(username);
      expectError(await request(t.http).post('/auth/login').send(user), 401, 'Invalid credentials');
    });

    it('does not ask for the header on login', async () => {
      const admin = await login(t.http);
      await login(t.http, ADMIN, { Cookie: admin.cookie });
    });
  });

  describe('bad input', () => {
    const cases: [string, unknown, string[]][] = [
      ['missing username', { password: 'x' }, ['username must be a string']],
      ['wrong types', { username: 42, password: ['a'] }, ['username must be a string', 'password must be a string']],
      ['an unknown property', { ...ADMIN, admin: true }, ['property admin should not exist']],
      ['an empty username', { username: '', password: 'x' }, ['username must be longer than or equal to 1 characters']],
      [
        'a bad deviceId',
        { ...ADMIN, deviceId: 'has spaces/and slashes' },
        ['deviceId must be 1-128 letters, digits or . _ : -'],
      ],
      ['a deviceId of the wrong type', { ...ADMIN, deviceId: 7 }, ['deviceId must be a string']],
      ['an empty object', {}, ['username must be a string', 'password must be a string']],
    ];

    it.each(cases)('login with %s gets 400 naming the field', async (_, body, messages) => {
      const res = await request(t.http)
        .post('/auth/login')
        .send(body as object);
      expectError(res, 400);
      expect(res.body.error).toBe('Bad Request');
      expect(res.body.message).toEqual(expect.arrayContaining(messages));
      expect(setCookies(res)).toEqual([]);
    });

    it('login with no body at all gets 400', async () => {
      const res = await request(t.http).post('/auth/login');
      expectError(res, 400);
      expect(res.body.message).toEqual(expect.arrayContaining(['username must be a string']));
    });

    it('login with a JSON array gets 400', async () => {
      const res = await request(t.http).post('/auth/login').send([ADMIN]);
      expectError(res, 400);
    });

    it('malformed JSON gets 400 "Malformed JSON body"', async () => {
      const res = await request(t.http)
        .post('/auth/login')
        .set('Content-Type', 'application/json')
        .send('{"username": "admin", "password": ');
      expectError(res, 400, 'Malformed JSON body');
      expect(res.body).toEqual({ statusCode: 400, message: 'Malformed JSON body', error: 'Bad Request' });
    });

    it('a body over the limit gets 413', async () => {
      const res = await request(t.http)
        .post('/auth/login')
        .send({ username: 'admin', password: 'x'.repeat(20 * 1024) });
      expectError(res, 413);
      expect(setCookies(res)).toEqual([]);
    });

    it('bad input to an authenticated route changes nothing', async () => {
      const admin = await login(t.http);
      const username = uniqueName();
      const res = await request(t.http)
        .post('/admin/users')
        .set('Cookie', admin.cookie)
        .set('X-CSRF-Token', admin.csrfToken)
        .send({ username, password: 'short', roles: 'admin' });
      expectError(res, 400);
      expect(res.body.message).toEqual(
        expect.arrayContaining(['password must be longer than or equal to 8 characters', 'roles must be an array']),
      );
      expectError(await request(t.http).post('/auth/login').send({ username, password: 'short' }), 401);
    });
  });

  describe('roles', () => {
    it('GET /admin/users: anonymous 401, role user 403, admin 200', async () => {
      const admin = await login(t.http);
      const username = uniqueName();
      await createUser(t.http, admin, { username, password: 'password-123' });
      const user = await login(t.http, { username, password: 'password-123' });

      expectError(await request(t.http).get('/admin/users'), 401, 'Authentication required');
      const forbidden = await request(t.http).get('/admin/users').set('Cookie', user.cookie);
      expectError(forbidden, 403);
      expect(forbidden.body.error).toBe('Forbidden');
      const ok = await request(t.http).get('/admin/users').set('Cookie', admin.cookie).expect(200);
      expect((ok.body.users as { username: string }[]).map((u) => u.username)).toContain('admin');
    });

    it('a user cannot create users even with a valid CSRF token', async () => {
      const admin = await login(t.http);
      const username = uniqueName();
      await createUser(t.http, admin, { username, password: 'password-123' });
      const user = await login(t.http, { username, password: 'password-123' });
      const target = uniqueName();

      const res = await request(t.http)
        .post('/admin/users')
        .set('Cookie', user.cookie)
        .set('X-CSRF-Token', user.csrfToken)
        .send({ username: target, password: 'password-123', roles: ['admin'] });

      expectError(res, 403);
      expectError(await request(t.http).post('/auth/login').send({ username: target, password: 'password-123' }), 401);
    });
  });

  describe('admin creates users', () => {
    it('answers 201 with roles ["user"] by default, and the user can log in', async () => {
      const admin = await login(t.http);
      const username = uniqueName();

      const res = await request(t.http)
        .post('/admin/users')
        .set('Cookie', admin.cookie)
        .set('X-CSRF-Token', admin.csrfToken)
        .send({ username, password: 'password-123' })
        .expect(201);

      expect(res.body).toEqual({
        id: expect.stringMatching(/^[A-Za-z0-9_-]{12}$/),
        username,
        roles: ['user'],
        disabled: false,
        createdAt: expect.stringMatching(ISO),
      });
      const user = await login(t.http, { username, password: 'password-123' });
      expect(user.body.user).toEqual({ id: res.body.id, username, roles: ['user'] });
      const me = await profile(t.http, user.cookie).expect(200);
      expect(me.body).toMatchObject({ userId: res.body.id, username, roles: ['user'] });
    });

    it('keeps the roles it is given', async () => {
      const admin = await login(t.http);
      const username = uniqueName();
      await createUser(t.http, admin, { username, password: 'password-123', roles: ['admin', 'auditor'] });
      const user = await login(t.http, { username, password: 'password-123' });
      expect(user.body.user.roles).toEqual(['admin', 'auditor']);
      await request(t.http).get('/admin/users').set('Cookie', user.cookie).expect(200);
    });

    it('answers 409 to a username taken in another case', async () => {
      const admin = await login(t.http);
      const username = uniqueName();
      await createUser(t.http, admin, { username, password: 'password-123' });

      const res = await request(t.http)
        .post('/admin/users')
        .set('Cookie', admin.cookie)
        .set('X-CSRF-Token', admin.csrfToken)
        .send({ username: username.toUpperCase(), password: 'other-password-456' });

      expectError(res, 409, 'Username already taken');
      // The first user keeps their password; the second attempt changed nothing.
      await login(t.http, { username, password: 'password-123' });
      expectError(
        await request(t.http).post('/auth/login').send({ username, password: 'other-password-456' }),
        401,
        'Invalid credentials',
      );
    });
  });

  if (kind === 'redis') {
    describe('what Redis holds', () => {
      it('has no session id or cookie value in any key or value', async () => {
        const app = await start();
        const admin = await login(app.http, { ...ADMIN, deviceId: 'dump-device' });
        await profile(app.http, admin.cookie).expect(200);
        await request(app.http).get('/auth/csrf').set('Cookie', admin.cookie).expect(200);
        const { sid, signature } = parseCookie(admin.cookie);
        const cookieValue = admin.cookie.slice(admin.cookie.indexOf('=') + 1);
        const secretPart = sid.split('.')[1];

        const redis = await inspectRedis();
        let dump: Map<string, string>;
        try {
          dump = await dumpPrefix(redis, app.prefix);
        } finally {
          await redis.close();
        }

        const everything = [...dump].flat();
        // The dump does hold this session (under its hash), so the checks below look at real data.
        const hash = admin.body.session.id.split('.')[1];
        expect(everything.some((text) => text.includes(hash))).toBe(true);
        expect(everything.some((text) => text.includes('dump-device'))).toBe(true);
        for (const text of everything) {
          expect(text).not.toContain(sid);
          expect(text).not.toContain(secretPart);
          expect(text).not.toContain(signature);
          expect(text).not.toContain(cookieValue);
          expect(text).not.toContain(decodeURIComponent(cookieValue));
          expect(text).not.toContain(admin.csrfToken);
        }
      });
    });
  }
});
