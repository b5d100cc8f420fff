import { randomBytes } from 'node:crypto';
import { sign } from 'cookie-signature';
import request, { Response } from 'supertest';
import { ActivityTracker } from '../src/session/activity-tracker';
import { startRedisServer, RedisServer } from './support/redis-server';
import { as, handleOf, loginAs, newUser, TestUser } from './support/sessions';
import { createTestApp, LoggedIn, login, STORE_KINDS, TEST_SECRET, TestApp } from './support/test-app';

const VERIFY = '/auth/verify';
const IDLE_TIMEOUT_S = 600;

function expectNoBodyNoCookie(res: Response): void {
  expect(res.text ?? '').toBe('');
  expect(res.headers['set-cookie']).toBeUndefined();
}

/** A cookie signed with the service's secret for a well-formed session id it never issued. */
function unknownSessionCookie(): string {
  const id = `${randomBytes(9).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
  return `sid=${encodeURIComponent(`s:${sign(id, TEST_SECRET)}`)}`;
}

describe.each(STORE_KINDS)('GET /auth/verify (%s store)', (kind) => {
  let t: TestApp;
  let admin: LoggedIn;
  let user: TestUser;
  let me: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({ store: kind, env: { SESSION_IDLE_TIMEOUT: String(IDLE_TIMEOUT_S) } });
    admin = await login(t.http);
    user = await newUser(t.http, admin, ['user', 'auditor']);
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    me = await loginAs(t.http, user);
  });

  const verify = (cookie?: string, path = VERIFY) => {
    const req = request(t.http).get(path);
    return cookie === undefined ? req : req.set('Cookie', cookie);
  };

  it('answers a live session with who it is in headers, an empty body, no-store and no cookie', async () => {
    const res = await verify(me.cookie).set('X-Request-Id', 'gateway-req-1').expect(200);

    expect(res.headers).toMatchObject({
      'x-user-id': user.id,
      'x-user-name': user.username,
      'x-user-roles': 'user,auditor',
      'x-session-id': me.body.session.id,
      'x-request-id': 'gateway-req-1',
      'cache-control': 'no-store',
      'content-length': '0',
      'x-content-type-options': 'nosniff',
    });
    expectNoBodyNoCookie(res);
  });

  it('answers HEAD like GET', async () => {
    const res = await request(t.http).head(VERIFY).set('Cookie', me.cookie).expect(200);
    expect(res.headers['x-user-id']).toBe(user.id);
    expect(res.headers['set-cookie']).toBeUndefined();
  });

  it.each([
    ['no cookie', () => undefined],
    ['a cookie of another name only', () => 'other=1'],
    ['a forged cookie', () => 'sid=s%3Aforged.signature'],
    ['a cookie of the wrong shape', () => 'sid=%E2%9C%93%00garbage'],
    ['a validly signed cookie of a session never issued', unknownSessionCookie],
  ])('answers 401 with no body and no cookie for %s', async (_, cookie) => {
    const res = await verify(cookie()).expect(401);
    expectNoBodyNoCookie(res);
    expect(res.headers['x-user-id']).toBeUndefined();
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('answers 401 at once after logout', async () => {
    await verify(me.cookie).expect(200);
    await as(t.http, me).post('/auth/logout').expect(200);
    expectNoBodyNoCookie(await verify(me.cookie).expect(401));
  });

  it('answers 401 at once after an admin revoked the session', async () => {
    await verify(me.cookie).expect(200);
    await as(t.http, admin).delete(`/admin/sessions/${me.body.session.id}`).expect(200);
    expectNoBodyNoCookie(await verify(me.cookie).expect(401));
  });

  it('answers 401 once the session is idle past its timeout', async () => {
    await verify(me.cookie).expect(200);
    t.clock.advance((IDLE_TIMEOUT_S + 1) * 1000);
    expectNoBodyNoCookie(await verify(me.cookie).expect(401));
  });

  it('keeps a session alive as any request does: verifies reset the idle timeout', async () => {
    for (let i = 0; i < 3; i++) {
      t.clock.advance((IDLE_TIMEOUT_S - 60) * 1000);
      await verify(me.cookie).expect(200);
      await t.app.get(ActivityTracker).flushAll();
    }
    await verify(me.cookie).expect(200);
  });

  it('checks ?role= against the user’s roles: 200 with it, 403 without', async () => {
    await verify(me.cookie, `${VERIFY}?role=user`).expect(200);
    await verify(me.cookie, `${VERIFY}?role=auditor`).expect(200);
    const denied = await verify(me.cookie, `${VERIFY}?role=admin`).expect(403);
    expect(denied.body).toEqual({ statusCode: 403, message: 'Role admin required', error: 'Forbidden' });
    expect(denied.headers['x-user-id']).toBeUndefined();
    expect(denied.headers['set-cookie']).toBeUndefined();
    // A fresh admin session: tests above move the clock past the bootstrap admin's idle timeout.
    await verify((await login(t.http)).cookie, `${VERIFY}?role=admin`).expect(200);
  });

  it('answers 401, not 403, for ?role= without a live session', async () => {
    expectNoBodyNoCookie(await verify(undefined, `${VERIFY}?role=admin`).expect(401));
  });

  it.each([
    ['an empty role', '?role='],
    ['a role of the wrong shape', '?role=Admin!'],
    ['a role too long', `?role=${'a'.repeat(33)}`],
    ['a control character', '?role=admin%00'],
    ['two roles', '?role=user&role=admin'],
    ['an unknown parameter', '?roles=admin'],
    ['a parameter besides role', '?role=user&x=1'],
  ])('answers 400 with an ErrorResponse for %s', async (_, query) => {
    for (const cookie of [me.cookie, undefined]) {
      const res = await verify(cookie, `${VERIFY}${query}`).expect(400);
      expect(Object.keys(res.body as object).sort()).toEqual(['error', 'message', 'statusCode']);
      expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
      expect(res.headers['set-cookie']).toBeUndefined();
    }
  });

  describe.each(['X-Forwarded-Method', 'X-Original-Method'])('CSRF through %s', (header) => {
    it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'post'])('%s needs the session’s X-CSRF-Token', async (method) => {
      const missing = await verify(me.cookie).set(header, method).expect(403);
      expect(missing.body).toEqual({ statusCode: 403, message: 'Missing or invalid CSRF token', error: 'Forbidden' });
      await verify(me.cookie).set(header, method).set('X-CSRF-Token', admin.csrfToken).expect(403);
      await verify(me.cookie).set(header, method).set('X-CSRF-Token', 'x'.repeat(43)).expect(403);
      const ok = await verify(me.cookie).set(header, method).set('X-CSRF-Token', me.csrfToken).expect(200);
      expect(ok.headers['x-user-id']).toBe(user.id);
    });

    it.each(['GET', 'HEAD', 'OPTIONS'])('%s needs no token', async (method) => {
      await verify(me.cookie).set(header, method).expect(200);
    });
  });

  it('needs the token when either header names an unsafe method: a client-sent one cannot hide a POST', async () => {
    for (const [forwarded, original] of [
      ['GET', 'POST'],
      ['POST', 'GET'],
    ]) {
      await verify(me.cookie).set('X-Forwarded-Method', forwarded).set('X-Original-Method', original).expect(403);
      await verify(me.cookie)
        .set('X-Forwarded-Method', forwarded)
        .set('X-Original-Method', original)
        .set('X-CSRF-Token', me.csrfToken)
        .expect(200);
    }
  });

  it('takes the request’s own method when the gateway forwards none', async () => {
    await request(t.http).post(VERIFY).set('Cookie', me.cookie).expect(403);
    await request(t.http).post(VERIFY).set('Cookie', me.cookie).set('X-CSRF-Token', me.csrfToken).expect(200);
  });

  it('checks the CSRF token before the role (the guards’ order)', async () => {
    const res = await verify(me.cookie, `${VERIFY}?role=admin`).set('X-Forwarded-Method', 'POST').expect(403);
    expect((res.body as { message: string }).message).toBe('Missing or invalid CSRF token');
  });

  it('counts as activity of the session, through the same coalesced write', async () => {
    const before = (await as(t.http, me).get('/auth/profile').expect(200)).body as {
      session: { requestCount: number };
    };
    const tracker = t.app.get(ActivityTracker);
    const handle = handleOf(me.cookie);
    const pending = tracker.unwritten(handle);

    for (let i = 0; i < 5; i++) await verify(me.cookie).expect(200);
    await verify(me.cookie, `${VERIFY}?role=admin`).expect(403);
    expect(tracker.unwritten(handle)).toBe(pending + 6);
    await tracker.flushAll();

    const after = (await as(t.http, me).get('/auth/profile').expect(200)).body as typeof before;
    expect(after.session.requestCount).toBe(before.session.requestCount + 7);
  });

  it('ignores user headers the client sends', async () => {
    const res = await verify(me.cookie)
      .set('X-User-Id', admin.body.user.id)
      .set('X-User-Name', 'admin')
      .set('X-User-Roles', 'admin')
      .set('X-Session-Id', admin.body.session.id)
      .expect(200);
    expect(res.headers).toMatchObject({
      'x-user-id': user.id,
      'x-user-name': user.username,
      'x-user-roles': 'user,auditor',
      'x-session-id': me.body.session.id,
    });
    await verify(undefined).set('X-User-Id', admin.body.user.id).expect(401);
    await verify(me.cookie, `${VERIFY}?role=admin`).set('X-User-Roles', 'admin').expect(403);
  });

  it('mints a request id when the caller sends an unusable one', async () => {
    const res = await verify(me.cookie).set('X-Request-Id', 'no spaces allowed').expect(200);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('writes refusals to the access log at info, and granted answers only at debug', async () => {
    const id = `verify-log-${randomBytes(4).toString('hex')}`;
    await verify(me.cookie).set('X-Request-Id', `${id}-ok`).expect(200);
    await verify(undefined).set('X-Request-Id', `${id}-no`).expect(401);
    const lines = t.logs.filter((line) => line.includes(id)).map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ level: 'info', requestId: `${id}-no`, path: VERIFY, status: 401, method: 'GET' }),
    ]);
  });

  it('leaves every other path to the Nest application', async () => {
    await verify(me.cookie, `${VERIFY}/more`).expect(404);
    await verify(me.cookie, '/auth/verifyx').expect(404);
    await as(t.http, me).get('/auth/profile').expect(200);
  });
});

describe('GET /auth/verify with the store down (redis)', () => {
  let server: RedisServer;
  let t: TestApp;

  beforeAll(async () => {
    server = await startRedisServer();
    t = await createTestApp({ env: { REDIS_URL: server.url } });
  });
  afterAll(async () => {
    await t?.close();
    await server?.stop();
  });

  it('answers 503 with Retry-After, as every route that needs the store does', async () => {
    const me = await login(t.http);
    await verify200(t, me.cookie);
    await server.stop();

    const res = await request(t.http).get(VERIFY).set('Cookie', me.cookie).expect(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(res.body).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });
    // Without a cookie nothing needs the store: still 401.
    await request(t.http).get(VERIFY).expect(401);
  });
});

async function verify200(t: TestApp, cookie: string): Promise<void> {
  await request(t.http).get(VERIFY).set('Cookie', cookie).expect(200);
}
