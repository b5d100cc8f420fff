import request from 'supertest';
import {
  as,
  Impersonating,
  loginAs,
  newUser,
  profileStatus,
  setCookieNamed,
  startImpersonation,
  TestUser,
} from './support/sessions';
import { ADMIN, createTestApp, LoggedIn, login, STORE_KINDS, TestApp } from './support/test-app';

/**
 * Audited impersonation: an admin starts a session as a user (not an admin) for support. It is
 * marked with the admin, short-lived, barred from the admin API, the password change and
 * re-authentication; everything done in it is audited with the admin as the actor; ending it gives
 * the admin's own session back.
 */

const TIMEOUT_S = 120;
const WINDOW_S = 300;
const RESTRICTED = {
  statusCode: 403,
  message: expect.stringContaining('POST /auth/impersonation/end'),
  error: 'Forbidden',
  code: 'impersonation_restricted',
};

interface AuditEvent {
  type: string;
  actor: { userId: string; username: string } | null;
  subject: string;
  detail: string | null;
}

/** Whether the response cleared the cookie `name`. */
function cleared(res: request.Response, name: string): boolean {
  const list = (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
  return list.some((c) => c.startsWith(`${name}=;`) && c.includes('Expires=Thu, 01 Jan 1970'));
}

describe.each(STORE_KINDS)('impersonation (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;
  let adminId: string;
  let user: TestUser;

  beforeEach(async () => {
    t = await createTestApp({
      store,
      env: { IMPERSONATION_TIMEOUT: String(TIMEOUT_S), REAUTH_WINDOW: String(WINDOW_S), SESSION_IDLE_TIMEOUT: '3600' },
    });
    admin = await login(t.http);
    adminId = admin.body.user.id;
    user = await newUser(t.http, admin);
  });
  afterEach(() => t.close());

  const impersonate = (target = user.id, by: LoggedIn = admin): Promise<Impersonating> =>
    startImpersonation(t.http, by, target);

  /** A request of the browser while it impersonates: both cookies, as a browser sends them. */
  const browser = (who: Impersonating) =>
    as(t.http, { cookie: `${who.cookie}; ${who.returnCookie}`, csrfToken: who.csrfToken });

  const auditOf = async (type: string): Promise<AuditEvent[]> =>
    ((await as(t.http, admin).get(`/admin/audit?type=${type}`).expect(200)).body as { events: AuditEvent[] }).events;

  it("starts a session as the user, marked with the admin, short-lived, and keeps the admin's session to return to", async () => {
    const own = await loginAs(t.http, user);
    const started = t.clock.now();
    const imp = await impersonate();

    expect(imp.body).toMatchObject({
      user: { id: user.id, username: user.username, roles: ['user'] },
      impersonatedBy: { id: adminId, username: ADMIN.username },
    });
    expect(Date.parse(imp.body.session.expiresAt)).toBeLessThanOrEqual(started + TIMEOUT_S * 1000 + 1000);
    // The return cookie holds the admin's own session, which stays alive.
    expect(imp.returnCookie.slice('sid-return='.length)).toBe(admin.cookie.slice('sid='.length));
    expect(await profileStatus(t.http, admin.cookie)).toBe(200);

    const profile = (await browser(imp).get('/auth/profile').expect(200)).body as Record<string, unknown>;
    expect(profile).toMatchObject({
      userId: user.id,
      username: user.username,
      impersonatedBy: { id: adminId, username: ADMIN.username },
    });
    // The user sees it among their sessions, marked; their own session is not.
    const mine = (await as(t.http, own).get('/auth/sessions').expect(200)).body as {
      sessions: { id: string; impersonatedBy: unknown }[];
    };
    expect(mine.sessions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: imp.body.session.id, impersonatedBy: { id: adminId, username: ADMIN.username } }),
        expect.objectContaining({ id: own.body.session.id, impersonatedBy: null }),
      ]),
    );
    const listed = (await as(t.http, admin).get(`/admin/users/${user.id}/sessions`).expect(200)).body as {
      sessions: { id: string; impersonatedBy: unknown }[];
    };
    expect(listed.sessions.find((s) => s.id === imp.body.session.id)?.impersonatedBy).toEqual({
      id: adminId,
      username: ADMIN.username,
    });
    // A gateway sees the user: upstream apps show what the user sees.
    const verify = await request(t.http).get('/auth/verify').set('Cookie', imp.cookie).expect(200);
    expect(verify.headers['x-user-id']).toBe(user.id);

    expect(await auditOf('impersonation_started')).toEqual([
      expect.objectContaining({
        actor: { userId: adminId, username: ADMIN.username },
        subject: imp.body.session.id,
        detail: expect.stringContaining(`as ${user.username}`),
      }),
    ]);
  });

  it('audits what is done in it with the admin as the actor', async () => {
    const phone = await loginAs(t.http, user, { deviceId: 'phone' });
    const imp = await impersonate();
    await browser(imp).delete(`/auth/sessions/${phone.body.session.id}`).expect(200);
    expect(await profileStatus(t.http, phone.cookie)).toBe(401);

    const revoked = await auditOf('session_revoked');
    expect(revoked).toEqual([
      expect.objectContaining({ subject: phone.body.session.id, actor: { userId: adminId, username: ADMIN.username } }),
    ]);
  });

  it('cannot reach the admin API, change the password, re-authenticate or impersonate, and changes nothing', async () => {
    const other = await newUser(t.http, admin);
    const imp = await impersonate();
    const refusals = [
      await browser(imp).get('/admin/sessions/stats'),
      await browser(imp).post('/admin/users').send({ username: 'made-in-impersonation', password: 'password-123' }),
      await browser(imp).post(`/admin/users/${other.id}/impersonate`),
      await browser(imp)
        .patch('/auth/password')
        .send({ currentPassword: user.password, newPassword: 'a-new-password-1' }),
      await browser(imp).post('/auth/reauthenticate').send({ password: user.password }),
    ];
    expect(refusals.map((r) => [r.status, r.body as unknown])).toEqual(refusals.map(() => [403, RESTRICTED]));

    // The password did not change.
    await loginAs(t.http, user);
    const users = (await as(t.http, admin).get('/admin/users').expect(200)).body as { users: { username: string }[] };
    expect(users.users.map((u) => u.username)).not.toContain('made-in-impersonation');
    expect(await auditOf('impersonation_started')).toHaveLength(1);
    expect(await auditOf('reauthenticated')).toEqual([]);
  });

  it('carries the admin proof for sensitive actions, and past REAUTH_WINDOW refuses them for good', async () => {
    await loginAs(t.http, user, { deviceId: 'phone' });
    const imp = await impersonate();
    expect((await browser(imp).delete('/auth/sessions').expect(200)).body).toEqual({ revoked: 1 });

    t.clock.advance((WINDOW_S - 50) * 1000);
    const later = await impersonate(user.id, admin);
    t.clock.advance(60_000);
    // The admin's proof is older than the window now: the impersonation cannot renew it.
    expect((await browser(later).delete('/auth/sessions').expect(403)).body).toEqual(RESTRICTED);
  });

  it('refuses admins, unknown, disabled and malformed users, a missing CSRF token, and a stale admin', async () => {
    const otherAdmin = await newUser(t.http, admin, ['admin', 'user']);
    expect((await as(t.http, admin).post(`/admin/users/${otherAdmin.id}/impersonate`).expect(403)).body).toMatchObject({
      statusCode: 403,
      message: 'Admins cannot be impersonated',
    });
    expect((await as(t.http, admin).post(`/admin/users/${adminId}/impersonate`)).status).toBe(403);
    await as(t.http, admin).post('/admin/users/AAAAAAAAAAAA/impersonate').expect(404);
    await as(t.http, admin).post('/admin/users/not-an-id/impersonate').expect(400);
    const disabled = await newUser(t.http, admin);
    await as(t.http, admin).patch(`/admin/users/${disabled.id}`).send({ disabled: true }).expect(200);
    await as(t.http, admin).post(`/admin/users/${disabled.id}/impersonate`).expect(409);
    await request(t.http).post(`/admin/users/${user.id}/impersonate`).set('Cookie', admin.cookie).expect(403);
    const asUser = await loginAs(t.http, user);
    await as(t.http, asUser).post(`/admin/users/${user.id}/impersonate`).expect(403);

    t.clock.advance((WINDOW_S + 1) * 1000);
    const stale = await as(t.http, admin).post(`/admin/users/${user.id}/impersonate`).expect(403);
    expect((stale.body as { code: string }).code).toBe('reauthentication_required');
    expect(stale.headers['set-cookie']).toBeUndefined();
    expect(await auditOf('impersonation_started')).toEqual([]);
  });

  it("ends it and gives the admin's own session back, with its CSRF token", async () => {
    const imp = await impersonate();
    const res = await browser(imp).post('/auth/impersonation/end').expect(200);
    expect(res.body).toEqual({ ended: true, restored: true, csrfToken: admin.csrfToken });
    expect(setCookieNamed(res, 'sid')).toBe(admin.cookie);
    expect(cleared(res, 'sid-return')).toBe(true);

    expect(await profileStatus(t.http, imp.cookie)).toBe(401);
    const profile = (await as(t.http, admin).get('/auth/profile').expect(200)).body as Record<string, unknown>;
    expect(profile).toMatchObject({ userId: adminId, impersonatedBy: null });
    // Back to admin work at once.
    await as(t.http, admin).get('/admin/sessions/stats').expect(200);
    expect(await auditOf('impersonation_ended')).toEqual([
      expect.objectContaining({
        actor: { userId: adminId, username: ADMIN.username },
        subject: imp.body.session.id,
        detail: 'back to the admin session',
      }),
    ]);
  });

  it("ends it without restoring anything when the admin's session has ended meanwhile", async () => {
    const imp = await impersonate();
    await as(t.http, admin).post('/auth/logout').expect(200);
    const res = await browser(imp).post('/auth/impersonation/end').expect(200);
    expect(res.body).toEqual({ ended: true, restored: false, csrfToken: null });
    expect(cleared(res, 'sid')).toBe(true);
    expect(setCookieNamed(res, 'sid')).toBeUndefined();
    expect(await profileStatus(t.http, imp.cookie)).toBe(401);
  });

  it('never hands back a session that is not the impersonating admin’s', async () => {
    const imp = await impersonate();
    const stranger = await loginAs(t.http, await newUser(t.http, admin));
    const forged = { ...imp, returnCookie: stranger.cookie.replace(/^sid=/, 'sid-return=') };
    const res = await browser(forged).post('/auth/impersonation/end').expect(200);
    expect(res.body).toEqual({ ended: true, restored: false, csrfToken: null });
    expect(setCookieNamed(res, 'sid')).toBeUndefined();
  });

  it('needs an impersonation session and its CSRF token to end one', async () => {
    const imp = await impersonate();
    expect((await as(t.http, admin).post('/auth/impersonation/end').expect(409)).body).toMatchObject({
      statusCode: 409,
      message: 'This session is not an impersonation',
    });
    await request(t.http)
      .post('/auth/impersonation/end')
      .set('Cookie', `${imp.cookie}; ${imp.returnCookie}`)
      .expect(403);
    await request(t.http).post('/auth/impersonation/end').expect(401);
    expect(await profileStatus(t.http, imp.cookie)).toBe(200);
  });

  it('ends by itself after IMPERSONATION_TIMEOUT, while the admin session lives on', async () => {
    const imp = await impersonate();
    t.clock.advance((TIMEOUT_S - 10) * 1000);
    await browser(imp).get('/auth/profile').expect(200);
    t.clock.advance(11_000);
    await browser(imp).get('/auth/profile').expect(401);
    expect(await profileStatus(t.http, admin.cookie)).toBe(200);
  });

  it("does not count toward the user's session limit", async () => {
    await t.close();
    t = await createTestApp({ store, env: { MAX_SESSIONS_PER_USER: '1' } });
    admin = await login(t.http);
    user = await newUser(t.http, admin);
    const own = await loginAs(t.http, user);
    const imp = await impersonate();
    expect(await profileStatus(t.http, own.cookie)).toBe(200);
    expect(await profileStatus(t.http, imp.cookie)).toBe(200);
  });

  it('signs the browser out entirely on logout: the impersonation and the admin session kept for it', async () => {
    const imp = await impersonate();
    const res = await browser(imp).post('/auth/logout').expect(200);
    expect(cleared(res, 'sid')).toBe(true);
    expect(cleared(res, 'sid-return')).toBe(true);
    expect(await profileStatus(t.http, imp.cookie)).toBe(401);
    expect(await profileStatus(t.http, admin.cookie)).toBe(401);
    admin = await login(t.http);
    expect(await auditOf('impersonation_ended')).toEqual([
      expect.objectContaining({ actor: { userId: adminId, username: ADMIN.username }, subject: imp.body.session.id }),
    ]);
  });
});
