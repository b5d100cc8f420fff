import request from 'supertest';
import { as, loginAs, newUser, profileStatus, TestUser } from './support/sessions';
import { createTestApp, LoggedIn, login, sessionCookie, STORE_KINDS, TestApp } from './support/test-app';

/** PATCH /auth/password: a user changes their own password. */

interface Changed {
  session: { id: string; deviceId: string | null; createdAt: string; expiresAt: string };
  csrfToken: string;
  revoked: number;
}

interface AuditEvent {
  type: string;
  actor: { userId: string; username: string } | null;
  subject: string;
  detail: string | null;
}

describe.each(STORE_KINDS)('PATCH /auth/password (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;
  let user: TestUser;

  beforeAll(async () => {
    t = await createTestApp({ store });
    admin = await login(t.http);
  });
  afterAll(() => t.close());
  beforeEach(async () => {
    user = await newUser(t.http, admin);
  });

  const audit = async (): Promise<AuditEvent[]> =>
    ((await as(t.http, admin).get('/admin/audit?limit=50').expect(200)).body as { events: AuditEvent[] }).events;

  it('ends every other session and keeps the caller signed in under a new session id', async () => {
    const laptop = await loginAs(t.http, user, { deviceId: 'laptop' });
    const phone = await loginAs(t.http, user, { deviceId: 'phone' });

    const res = await as(t.http, laptop)
      .patch('/auth/password')
      .send({ currentPassword: user.password, newPassword: 'a-brand-new-password' })
      .expect(200);
    const body = res.body as Changed;
    const cookie = sessionCookie(res.headers['set-cookie']);

    expect(body.revoked).toBe(1);
    expect(body.session.deviceId).toBe('laptop');
    expect(body.session.id).not.toBe(laptop.body.session.id);
    expect(cookie).not.toBe(laptop.cookie);
    // Both old cookies are dead, the new one works, with its new CSRF token.
    expect(await profileStatus(t.http, laptop.cookie)).toBe(401);
    expect(await profileStatus(t.http, phone.cookie)).toBe(401);
    const profile = await request(t.http).get('/auth/profile').set('Cookie', cookie).expect(200);
    expect(profile.body).toMatchObject({ userId: user.id, session: { id: body.session.id, deviceId: 'laptop' } });
    await as(t.http, { cookie, csrfToken: body.csrfToken }).delete('/auth/sessions').expect(200);
    await as(t.http, { cookie, csrfToken: laptop.csrfToken }).delete('/auth/sessions').expect(403);

    // The old password is refused, the new one works.
    await request(t.http).post('/auth/login').send({ username: user.username, password: user.password }).expect(401);
    await loginAs(t.http, { username: user.username, password: 'a-brand-new-password' });

    const events = await audit();
    const changed = events.find((e) => e.type === 'password_changed' && e.subject === user.id);
    expect(changed).toMatchObject({
      actor: { userId: user.id, username: user.username },
      detail: expect.stringContaining('ended 2'),
    });
    expect(JSON.stringify(events)).not.toContain('a-brand-new-password');
  });

  it('refuses a wrong current password with 403 and changes nothing', async () => {
    const me = await loginAs(t.http, user);
    const other = await loginAs(t.http, user, { deviceId: 'other' });

    const res = await as(t.http, me)
      .patch('/auth/password')
      .send({ currentPassword: 'not-my-password', newPassword: 'a-brand-new-password' })
      .expect(403);

    expect(res.body).toEqual({ statusCode: 403, message: 'Current password is incorrect', error: 'Forbidden' });
    expect(res.headers['set-cookie']).toBeUndefined();
    expect(await profileStatus(t.http, me.cookie)).toBe(200);
    expect(await profileStatus(t.http, other.cookie)).toBe(200);
    await loginAs(t.http, user);
  });

  it('counts wrong current passwords toward the login limits: then 429, even for the right one', async () => {
    // An app of its own with a low limit (the failures of the other tests would count per IP too).
    const limitedApp = await createTestApp({ store, env: { LOGIN_MAX_FAILURES: '3' } });
    try {
      await countsTowardLimits(limitedApp);
    } finally {
      await limitedApp.close();
    }
  });

  async function countsTowardLimits(t: TestApp): Promise<void> {
    const user = await newUser(t.http, await login(t.http));
    const me = await loginAs(t.http, user);
    for (let i = 0; i < 3; i++) {
      await as(t.http, me)
        .patch('/auth/password')
        .send({ currentPassword: `wrong-${i}`, newPassword: 'a-brand-new-password' })
        .expect(403);
    }
    const limited = await as(t.http, me)
      .patch('/auth/password')
      .send({ currentPassword: user.password, newPassword: 'a-brand-new-password' })
      .expect(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    // The login of that username is limited alike, and the password did not change.
    await request(t.http).post('/auth/login').send({ username: user.username, password: user.password }).expect(429);
    expect(await profileStatus(t.http, me.cookie)).toBe(200);
  }

  it('needs the CSRF token and a session; refuses bad bodies with 400; changes nothing', async () => {
    const me = await loginAs(t.http, user);
    const good = { currentPassword: user.password, newPassword: 'a-brand-new-password' };
    await request(t.http).patch('/auth/password').set('Cookie', me.cookie).send(good).expect(403);
    await request(t.http).patch('/auth/password').send(good).expect(401);
    for (const body of [
      {},
      { currentPassword: user.password },
      { currentPassword: user.password, newPassword: 'short' },
      { currentPassword: user.password, newPassword: 'x'.repeat(1025) },
      { currentPassword: user.password, newPassword: user.password },
      { currentPassword: 12345678, newPassword: 'a-brand-new-password' },
      { ...good, extra: true },
    ]) {
      const res = await as(t.http, me).patch('/auth/password').send(body).expect(400);
      expect(res.body).toEqual({ statusCode: 400, message: expect.anything(), error: 'Bad Request' });
    }
    expect(await profileStatus(t.http, me.cookie)).toBe(200);
    await loginAs(t.http, user);
  });
});
