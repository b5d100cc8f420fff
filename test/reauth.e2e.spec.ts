import request from 'supertest';
import { BODIES, fetchDocument, fillPath, operations, send, STATE_CHANGING } from './support/security';
import { as, loginAs, newUser, TestUser } from './support/sessions';
import { ADMIN, createTestApp, LoggedIn, login, STORE_KINDS, TestApp } from './support/test-app';

/**
 * Fresh authentication for sensitive actions (ASVS 3.7.1): past REAUTH_WINDOW since the session's
 * last password proof, ending all other own sessions and every admin write answer 403
 * `reauthentication_required` and change nothing, until POST /auth/reauthenticate.
 */

const WINDOW_S = 300;
const REQUIRED = {
  statusCode: 403,
  message: expect.stringContaining('POST /auth/reauthenticate'),
  error: 'Forbidden',
  code: 'reauthentication_required',
};

interface Profile {
  authenticatedAt: string | null;
}

describe.each(STORE_KINDS)('re-authentication for sensitive actions (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;
  let user: TestUser;

  beforeEach(async () => {
    t = await createTestApp({ store, env: { REAUTH_WINDOW: String(WINDOW_S) } });
    admin = await login(t.http);
    user = await newUser(t.http, admin);
  });
  afterEach(() => t.close());

  const profile = async (who: LoggedIn): Promise<Profile> =>
    (await as(t.http, who).get('/auth/profile').expect(200)).body as Profile;
  const userNames = async (): Promise<string[]> =>
    ((await as(t.http, admin).get('/admin/users').expect(200)).body as { users: { username: string }[] }).users.map(
      (u) => u.username,
    );

  it('allows an admin write within the window of the login, refuses it after, and allows it again after a proof', async () => {
    const loggedInAt = t.clock.now();
    expect(Date.parse((await profile(admin)).authenticatedAt!)).toBeGreaterThanOrEqual(loggedInAt - 1000);
    await as(t.http, admin)
      .post('/admin/users')
      .send({ username: 'within-window', password: 'password-123' })
      .expect(201);

    t.clock.advance((WINDOW_S + 1) * 1000);
    const refused = await as(t.http, admin)
      .post('/admin/users')
      .send({ username: 'after-window', password: 'password-123' })
      .expect(403);
    expect(refused.body).toEqual(REQUIRED);
    expect(await userNames()).not.toContain('after-window');
    // Reads are not sensitive: the admin still sees everything.
    await as(t.http, admin).get('/admin/sessions/stats').expect(200);

    const proof = await as(t.http, admin).post('/auth/reauthenticate').send({ password: ADMIN.password }).expect(200);
    const at = (proof.body as { authenticatedAt: string }).authenticatedAt;
    expect(Date.parse(at)).toBeGreaterThan(loggedInAt + WINDOW_S * 1000);
    expect((await profile(admin)).authenticatedAt).toBe(at);
    await as(t.http, admin)
      .post('/admin/users')
      .send({ username: 'after-window', password: 'password-123' })
      .expect(201);
  });

  it('refuses every admin write of the OpenAPI document past the window, changing nothing', async () => {
    const doc = await fetchDocument(t.http);
    const writes = operations(doc).filter((op) => op.path.startsWith('/admin/') && STATE_CHANGING.has(op.method));
    expect(writes.map((op) => op.label)).toEqual(
      expect.arrayContaining(['POST /admin/users', 'DELETE /admin/sessions/{id}', 'POST /admin/users/import']),
    );
    const victim = await loginAs(t.http, user);
    t.clock.advance((WINDOW_S + 1) * 1000);
    const stale = admin;
    const before = await userNames();
    const rows: string[] = [];
    for (const op of writes) {
      const url = fillPath(op.path, { id: victim.body.session.id, userId: user.id });
      let call = send(t.http, op.method, url).set('Cookie', stale.cookie).set('X-CSRF-Token', stale.csrfToken);
      const body = BODIES[op.label]?.valid();
      if (body) call = call.send(body);
      const res = await call;
      if (res.status !== 403 || (res.body as { code?: string }).code !== 'reauthentication_required') {
        rows.push(`${op.label}: ${res.status} ${JSON.stringify(res.body)}`);
      }
    }
    expect(rows).toEqual([]);
    expect(await userNames()).toEqual(before);
    expect((await as(t.http, victim).get('/auth/profile')).status).toBe(200);
  });

  it('makes "end all my other sessions" sensitive too, but not ending one of them or signing out', async () => {
    const me = await loginAs(t.http, user, { deviceId: 'laptop' });
    const phone = await loginAs(t.http, user, { deviceId: 'phone' });
    const tablet = await loginAs(t.http, user, { deviceId: 'tablet' });
    t.clock.advance((WINDOW_S + 1) * 1000);

    expect((await as(t.http, me).delete('/auth/sessions').expect(403)).body).toEqual(REQUIRED);
    expect((await as(t.http, phone).get('/auth/profile')).status).toBe(200);
    await as(t.http, me).delete(`/auth/sessions/${tablet.body.session.id}`).expect(200);

    await as(t.http, me).post('/auth/reauthenticate').send({ password: user.password }).expect(200);
    expect((await as(t.http, me).delete('/auth/sessions').expect(200)).body).toEqual({ revoked: 1 });
    expect((await as(t.http, phone).get('/auth/profile')).status).toBe(401);
    await as(t.http, me).post('/auth/logout').expect(200);
  });

  it('answers a wrong password with 403, keeps refusing, and audits both outcomes', async () => {
    t.clock.advance((WINDOW_S + 1) * 1000);
    const wrong = await as(t.http, admin)
      .post('/auth/reauthenticate')
      .send({ password: 'not-the-password' })
      .expect(403);
    expect(wrong.body).toEqual({ statusCode: 403, message: 'Password is incorrect', error: 'Forbidden' });
    expect(wrong.headers['set-cookie']).toBeUndefined();
    // The session itself is fine, and still not fresh.
    await as(t.http, admin).get('/auth/profile').expect(200);
    await as(t.http, admin).delete(`/admin/users/${user.id}/sessions`).expect(403);

    await as(t.http, admin).post('/auth/reauthenticate').send({ password: ADMIN.password }).expect(200);
    await as(t.http, admin).delete(`/admin/users/${user.id}/sessions`).expect(200);
    const events = (
      (await as(t.http, admin).get('/admin/audit?limit=20').expect(200)).body as {
        events: { type: string; detail: string | null; subject: string }[];
      }
    ).events;
    expect(events).toContainEqual(expect.objectContaining({ type: 'reauthenticated', subject: admin.body.session.id }));
    expect(events).toContainEqual(
      expect.objectContaining({ type: 'login_failure', detail: 'wrong password at a re-authentication' }),
    );
  });

  it('needs a session and the CSRF token, and a well-formed body', async () => {
    await request(t.http).post('/auth/reauthenticate').send({ password: ADMIN.password }).expect(401);
    await request(t.http)
      .post('/auth/reauthenticate')
      .set('Cookie', admin.cookie)
      .send({ password: ADMIN.password })
      .expect(403);
    for (const body of [{}, { password: '' }, { password: 5 }, { password: ADMIN.password, extra: 1 }]) {
      await as(t.http, admin).post('/auth/reauthenticate').send(body).expect(400);
    }
  });
});

describe('re-authentication is limited like login', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ env: { LOGIN_MAX_FAILURES: '2' } });
  });
  afterAll(() => t.close());

  it('counts wrong passwords toward the login limits: then 429, even for the right one', async () => {
    const admin = await login(t.http);
    for (let i = 0; i < 2; i++) {
      await as(t.http, admin)
        .post('/auth/reauthenticate')
        .send({ password: `wrong-${i}` })
        .expect(403);
    }
    const limited = await as(t.http, admin).post('/auth/reauthenticate').send({ password: ADMIN.password }).expect(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    await request(t.http).post('/auth/login').send(ADMIN).expect(429);
  });
});
