import request from 'supertest';
import { AuditService, FILTER_SCAN_MAX } from '../src/audit/audit.service';
import { ActivityTracker } from '../src/session/activity-tracker';
import { SessionSweeper } from '../src/session/session-sweeper';
import { as, loginAs, newUser, profileStatus, sessionIdOf, TestUser } from './support/sessions';
import {
  ADMIN,
  createTestApp,
  dumpPrefix,
  inspectRedis,
  LoggedIn,
  login,
  STORE_KINDS,
  TestApp,
} from './support/test-app';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

interface AdminSession {
  id: string;
  userId: string;
  username: string;
  roles: string[];
  deviceId: string | null;
  userAgent: string;
  ip: string;
  createdAt: string;
  lastActivityAt: string;
  expiresAt: string;
  requestCount: number;
}

interface Stats {
  total: number;
  activeLast5m: number;
  activeLast15m: number;
  byRole: Record<string, number>;
  recentSessions: { id: string; userId: string; username: string; lastActivityAt: string }[];
}

interface AuditEvent {
  id: string;
  type: string;
  at: string;
  actor: { userId: string; username: string } | null;
  subject: string;
  ip: string | null;
  detail: string | null;
}

async function stats(t: TestApp, admin: LoggedIn): Promise<Stats> {
  return (await as(t.http, admin).get('/admin/sessions/stats').expect(200)).body as Stats;
}

/** Follows nextCursor from the first page to the last. */
async function walkSessions(t: TestApp, admin: LoggedIn, query: string): Promise<AdminSession[][]> {
  const pages: AdminSession[][] = [];
  let cursor: string | null = null;
  do {
    const path: string = `/admin/sessions?${query}${cursor ? `&cursor=${cursor}` : ''}`;
    const body = (await as(t.http, admin).get(path).expect(200)).body as {
      sessions: AdminSession[];
      nextCursor: string | null;
    };
    pages.push(body.sessions);
    cursor = body.nextCursor;
    if (pages.length > 50) throw new Error('the cursor walk does not end');
  } while (cursor);
  return pages;
}

async function walkAudit(t: TestApp, admin: LoggedIn, limit: number): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  let cursor: string | null = null;
  do {
    const path: string = `/admin/audit?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`;
    const body = (await as(t.http, admin).get(path).expect(200)).body as {
      events: AuditEvent[];
      nextCursor: string | null;
    };
    expect(body.events.length).toBeLessThanOrEqual(limit);
    events.push(...body.events);
    cursor = body.nextCursor;
    if (events.length > 10_000) throw new Error('the cursor walk does not end');
  } while (cursor);
  return events;
}

async function userSessions(t: TestApp, admin: LoggedIn, userId: string): Promise<AdminSession[]> {
  const res = await as(t.http, admin).get(`/admin/users/${userId}/sessions`).expect(200);
  return (res.body as { sessions: AdminSession[] }).sessions;
}

function isNewestFirst(times: string[]): boolean {
  return times.every((time, i) => i === 0 || Date.parse(times[i - 1]) >= Date.parse(time));
}

describe.each(STORE_KINDS)('admin access (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({ store });
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  it.each([
    ['GET', '/admin/sessions/stats'],
    ['GET', '/admin/sessions'],
    ['GET', '/admin/audit'],
    ['GET', '/admin/users'],
    ['DELETE', '/admin/sessions/AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA'],
  ])('%s %s is 401 without a session and 403 for a non-admin', async (method, path) => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    const anonymous = method === 'GET' ? request(t.http).get(path) : request(t.http).delete(path);
    await anonymous.expect(401);
    const asUser = method === 'GET' ? as(t.http, me).get(path) : as(t.http, me).delete(path);
    await asUser.expect(403);
  });
});

describe.each(STORE_KINDS)('GET /admin/sessions/stats (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;

  beforeEach(async () => {
    t = await createTestApp({ store, env: { SESSION_TOUCH_INTERVAL: '1', MAX_SESSIONS_PER_USER: '0' } });
    admin = await login(t.http);
  });
  afterEach(() => t.close());

  /** Writes every request counted so far, so the figures below do not depend on timing. */
  const settle = () => t.app.get(ActivityTracker).flushAll();

  it('counts live sessions, recent activity as the clock moves, and sessions per role', async () => {
    const [alice, bob, carol] = [
      await newUser(t.http, admin),
      await newUser(t.http, admin),
      await newUser(t.http, admin, ['auditor', 'user']),
    ];
    const a = await loginAs(t.http, alice);
    const b = await loginAs(t.http, bob);
    const c = await loginAs(t.http, carol);
    await settle();

    expect(await stats(t, admin)).toMatchObject({
      total: 4,
      activeLast5m: 4,
      activeLast15m: 4,
      byRole: { admin: 1, user: 4, auditor: 1 },
    });

    // Ten minutes on, only alice was active since.
    await settle();
    t.clock.advance(10 * MINUTE);
    await as(t.http, a).get('/auth/profile').expect(200);
    await settle();
    const tenMinutesOn = await stats(t, admin);
    expect(tenMinutesOn).toMatchObject({ total: 4, activeLast5m: 1, activeLast15m: 4 });
    expect(tenMinutesOn.recentSessions[0].id).toBe(a.body.session.id);

    // Twenty minutes on: alice and the admin (whose stats request above was written) within 15 min.
    await settle();
    t.clock.advance(10 * MINUTE);
    const twentyMinutesOn = await stats(t, admin);
    expect(twentyMinutesOn).toMatchObject({
      total: 4,
      activeLast5m: 0,
      activeLast15m: 2,
      byRole: { admin: 1, user: 4, auditor: 1 },
    });
    const recent = twentyMinutesOn.recentSessions;
    expect(recent.map((s) => s.id).sort()).toEqual(
      [admin.body.session.id, a.body.session.id, b.body.session.id, c.body.session.id].sort(),
    );
    expect(isNewestFirst(recent.map((s) => s.lastActivityAt))).toBe(true);
    expect(recent.slice(2).map((s) => s.id)).toEqual(expect.arrayContaining([b.body.session.id, c.body.session.id]));
    expect(recent.find((s) => s.id === c.body.session.id)).toEqual({
      id: c.body.session.id,
      userId: carol.id,
      username: carol.username,
      lastActivityAt: expect.any(String),
    });

    // An ended session leaves the counts at once. (The clock has moved past REAUTH_WINDOW since the
    // admin's login: ending a session asks for the password again.)
    await as(t.http, admin).post('/auth/reauthenticate').send({ password: ADMIN.password }).expect(200);
    await as(t.http, admin).delete(`/admin/sessions/${c.body.session.id}`).expect(200);
    expect(await stats(t, admin)).toMatchObject({ total: 3, byRole: { admin: 1, user: 3 } });
  });

  it('lists at most 100 recent sessions, newest activity first', async () => {
    const user = await newUser(t.http, admin);
    // Two at a time: the service checks one password per spare CPU (one on 2 cores), and a login waits
    // for a slot at most 5 s. More at once gains nothing there, and queues a login behind several
    // hashes, which a busy machine can make last longer than that (503).
    const logins: Awaited<ReturnType<typeof loginAs>>[] = [];
    for (let i = 0; i < 104; i += 2) {
      logins.push(...(await Promise.all(Array.from({ length: 2 }, () => loginAs(t.http, user)))));
    }
    t.clock.advance(SECOND);
    const newest = await loginAs(t.http, user);

    const result = await stats(t, admin);

    expect(result.total).toBe(106);
    expect(result.byRole).toMatchObject({ admin: 1, user: 106 });
    expect(result.recentSessions).toHaveLength(100);
    expect(result.recentSessions[0].id).toBe(newest.body.session.id);
    expect(isNewestFirst(result.recentSessions.map((s) => s.lastActivityAt))).toBe(true);
    expect(new Set(result.recentSessions.map((s) => s.id)).size).toBe(100);
    const known = new Set([...logins, newest, admin].map((l) => l.body.session.id));
    for (const s of result.recentSessions) expect(known.has(s.id)).toBe(true);
  });
});

describe.each(STORE_KINDS)('GET /admin/sessions (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;
  let alice: TestUser;
  let bob: TestUser;
  const created: LoggedIn[] = [];

  beforeAll(async () => {
    // No activity writes while paging (however slow the machine): the order stays that of the logins.
    t = await createTestApp({ store, env: { SESSION_TOUCH_INTERVAL: '3600' } });
    admin = await login(t.http);
    alice = await newUser(t.http, admin);
    bob = await newUser(t.http, admin);
    // 7 sessions over a few seconds, some pairs close together.
    for (let i = 0; i < 7; i++) {
      created.push(await loginAs(t.http, i % 2 === 0 ? alice : bob, { deviceId: `dev-${i}` }));
      if (i % 2 === 1) t.clock.advance(SECOND);
    }
  });
  afterAll(() => t.close());

  it('pages through every session exactly once, newest activity first', async () => {
    const pages = await walkSessions(t, admin, 'limit=3');

    expect(pages.map((p) => p.length)).toEqual([3, 3, 2]);
    const all = pages.flat();
    const expected = [admin, ...created].map((l) => l.body.session.id);
    expect(all.map((s) => s.id).sort()).toEqual([...expected].sort());
    expect(isNewestFirst(all.map((s) => s.lastActivityAt))).toBe(true);
    expect(all[all.length - 1].id).toBe(admin.body.session.id);
    const first = all.find((s) => s.id === created[0].body.session.id);
    expect(first).toMatchObject({
      userId: alice.id,
      username: alice.username,
      roles: ['user'],
      deviceId: 'dev-0',
      ip: expect.stringMatching(/127\.0\.0\.1|::1/),
      requestCount: 1,
    });
    expect(Date.parse(first!.expiresAt)).toBeGreaterThan(Date.parse(first!.lastActivityAt));
  });

  it('gives one page of everything by default, with no next cursor', async () => {
    const res = await as(t.http, admin).get('/admin/sessions').expect(200);

    expect(res.body.sessions).toHaveLength(8);
    expect(res.body.nextCursor).toBeNull();
  });

  it('filters by user, and pages that too', async () => {
    const pages = await walkSessions(t, admin, `limit=3&userId=${alice.id}`);

    expect(pages.map((p) => p.length)).toEqual([3, 1]);
    const all = pages.flat();
    expect(all.every((s) => s.userId === alice.id)).toBe(true);
    expect(all.map((s) => s.id).sort()).toEqual(
      created
        .filter((_, i) => i % 2 === 0)
        .map((l) => l.body.session.id)
        .sort(),
    );
    expect(isNewestFirst(all.map((s) => s.lastActivityAt))).toBe(true);
    const none = await as(t.http, admin).get('/admin/sessions?userId=AAAAAAAAAAAA').expect(200);
    expect(none.body).toEqual({ sessions: [], nextCursor: null });
  });

  it.each([
    ['a cursor that was never issued', 'cursor=bm90LWEtY3Vyc29y'],
    ['a cursor of the wrong shape', 'cursor=%25%25%25'],
    ['limit=0', 'limit=0'],
    ['limit=1000', 'limit=1000'],
    ['a limit that is not a number', 'limit=many'],
    ['a malformed userId', 'userId=bob'],
    ['an unknown parameter', 'sort=asc'],
  ])('answers 400 for %s', async (_, query) => {
    const res = await as(t.http, admin).get(`/admin/sessions?${query}`).expect(400);
    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
  });

  it("lists one user's sessions", async () => {
    const sessions = await userSessions(t, admin, bob.id);

    expect(sessions.map((s) => s.id).sort()).toEqual(
      created
        .filter((_, i) => i % 2 === 1)
        .map((l) => l.body.session.id)
        .sort(),
    );
    expect(sessions.every((s) => s.userId === bob.id && s.username === bob.username)).toBe(true);
    await as(t.http, admin).get('/admin/users/bob/sessions').expect(400);
  });
});

describe.each(STORE_KINDS)('ending sessions as an admin (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({ store });
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  it('DELETE /admin/sessions/:id ends any session at once; unknown ids are 404', async () => {
    const user = await newUser(t.http, admin);
    const victim = await loginAs(t.http, user);
    const other = await loginAs(t.http, user);

    expect((await as(t.http, admin).delete(`/admin/sessions/${victim.body.session.id}`).expect(200)).body).toEqual({
      revoked: 1,
    });

    expect(await profileStatus(t.http, victim.cookie)).toBe(401);
    expect(await profileStatus(t.http, other.cookie)).toBe(200);
    await as(t.http, admin).delete(`/admin/sessions/${victim.body.session.id}`).expect(404);
    await as(t.http, admin).delete(`/admin/sessions/${user.id}.AAAAAAAAAAAAAAAAAAAAAA`).expect(404);
    await as(t.http, admin).delete('/admin/sessions/not-a-session').expect(400);
  });

  it('needs the CSRF token to end a session', async () => {
    const user = await newUser(t.http, admin);
    const victim = await loginAs(t.http, user);

    await request(t.http).delete(`/admin/sessions/${victim.body.session.id}`).set('Cookie', admin.cookie).expect(403);

    expect(await profileStatus(t.http, victim.cookie)).toBe(200);
  });

  it("GET and DELETE /admin/users/:userId/sessions list and end all of one user's sessions", async () => {
    const [user, bystander] = [await newUser(t.http, admin), await newUser(t.http, admin)];
    const sessions = [await loginAs(t.http, user, { deviceId: 'a' }), await loginAs(t.http, user)];
    const kept = await loginAs(t.http, bystander);

    const listed = await userSessions(t, admin, user.id);
    expect(listed.map((s) => s.id).sort()).toEqual(sessions.map((s) => s.body.session.id).sort());
    expect(listed.find((s) => s.id === sessions[0].body.session.id)).toMatchObject({ deviceId: 'a', roles: ['user'] });

    const res = await as(t.http, admin).delete(`/admin/users/${user.id}/sessions`).expect(200);

    expect(res.body).toEqual({ revoked: 2 });
    for (const s of sessions) expect(await profileStatus(t.http, s.cookie)).toBe(401);
    expect(await profileStatus(t.http, kept.cookie)).toBe(200);
    expect(await userSessions(t, admin, user.id)).toEqual([]);
    expect((await as(t.http, admin).delete(`/admin/users/${user.id}/sessions`).expect(200)).body).toEqual({
      revoked: 0,
    });
  });
});

describe.each(STORE_KINDS)('user changes (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({ store });
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  const patch = (userId: string, body: object) => as(t.http, admin).patch(`/admin/users/${userId}`).send(body);
  const tryLogin = (username: string, password: string) =>
    request(t.http).post('/auth/login').send({ username, password });

  it('a role change ends the sessions; the next login carries the new roles', async () => {
    const user = await newUser(t.http, admin);
    const old = await loginAs(t.http, user);

    const res = await patch(user.id, { roles: ['user', 'auditor'] }).expect(200);

    expect(res.body).toMatchObject({ id: user.id, roles: ['user', 'auditor'], disabled: false });
    expect(await profileStatus(t.http, old.cookie)).toBe(401);
    const fresh = await loginAs(t.http, user);
    expect(fresh.body.user.roles).toEqual(['user', 'auditor']);
    expect((await as(t.http, fresh).get('/auth/profile').expect(200)).body.roles).toEqual(['user', 'auditor']);
  });

  it('demoting an admin takes the admin routes away', async () => {
    const other = await newUser(t.http, admin, ['admin', 'user']);
    const before = await loginAs(t.http, other);
    await as(t.http, before).get('/admin/sessions/stats').expect(200);

    await patch(other.id, { roles: ['user'] }).expect(200);

    expect(await profileStatus(t.http, before.cookie)).toBe(401);
    const after = await loginAs(t.http, other);
    await as(t.http, after).get('/admin/sessions/stats').expect(403);
  });

  it('a password change ends the sessions; the new password works and the old one does not', async () => {
    const user = await newUser(t.http, admin);
    const old = [await loginAs(t.http, user), await loginAs(t.http, user)];

    await patch(user.id, { password: 'a-brand-new-password' }).expect(200);

    for (const s of old) expect(await profileStatus(t.http, s.cookie)).toBe(401);
    const failed = await tryLogin(user.username, user.password).expect(401);
    expect(failed.body).toEqual({ statusCode: 401, message: 'Invalid credentials', error: 'Unauthorized' });
    await tryLogin(user.username, 'a-brand-new-password').expect(200);
  });

  it('disabling ends the sessions and refuses logins until enabled again', async () => {
    const user = await newUser(t.http, admin);
    const old = await loginAs(t.http, user);

    expect((await patch(user.id, { disabled: true }).expect(200)).body).toMatchObject({ disabled: true });

    expect(await profileStatus(t.http, old.cookie)).toBe(401);
    const refused = await tryLogin(user.username, user.password).expect(401);
    expect(refused.body).toEqual({ statusCode: 401, message: 'Invalid credentials', error: 'Unauthorized' });
    expect(await userSessions(t, admin, user.id)).toEqual([]);

    await patch(user.id, { disabled: false }).expect(200);
    await tryLogin(user.username, user.password).expect(200);
  });

  it('deleting a user ends the sessions and the user cannot log in', async () => {
    const user = await newUser(t.http, admin);
    const old = [await loginAs(t.http, user), await loginAs(t.http, user)];

    const res = await as(t.http, admin).delete(`/admin/users/${user.id}`).expect(200);

    expect(res.body).toEqual({ deleted: true, revoked: 2 });
    for (const s of old) expect(await profileStatus(t.http, s.cookie)).toBe(401);
    await tryLogin(user.username, user.password).expect(401);
    expect(await userSessions(t, admin, user.id)).toEqual([]);
    await as(t.http, admin).delete(`/admin/users/${user.id}`).expect(404);
    await patch(user.id, { disabled: true }).expect(404);
  });

  it.each([
    ['disable themselves', 'PATCH', { disabled: true }],
    ['remove their own admin role', 'PATCH', { roles: ['user'] }],
    ['delete themselves', 'DELETE', undefined],
  ])('an admin cannot %s (409), and nothing changes', async (_, method, body) => {
    const me = admin.body.user.id;
    const req = method === 'PATCH' ? patch(me, body!) : as(t.http, admin).delete(`/admin/users/${me}`);

    const res = await req.expect(409);

    expect(res.body).toMatchObject({ statusCode: 409, error: 'Conflict' });
    expect(await profileStatus(t.http, admin.cookie)).toBe(200);
    await as(t.http, admin).get('/admin/sessions/stats').expect(200);
  });

  it.each([
    ['an empty body', {}],
    ['an unknown field', { email: 'x@example.com' }],
    ['roles that are not a list', { roles: 'admin' }],
    ['a short password', { password: 'short' }],
    ['disabled that is not a boolean', { disabled: 'yes' }],
  ])('PATCH with %s is 400 and changes nothing', async (_, body) => {
    const user = await newUser(t.http, admin);
    const s = await loginAs(t.http, user);

    const res = await patch(user.id, body).expect(400);

    expect(res.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    expect(await profileStatus(t.http, s.cookie)).toBe(200);
    await tryLogin(user.username, user.password).expect(200);
  });

  it('PATCH of an unknown user is 404; of a malformed id 400', async () => {
    await patch('AAAAAAAAAAAA', { disabled: true }).expect(404);
    await patch('nope', { disabled: true }).expect(400);
  });
});

describe.each(STORE_KINDS)('GET /admin/audit (%s store)', (store) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ store, env: { SESSION_IDLE_TIMEOUT: '600' } });
  });
  afterAll(() => t.close());

  it('records logins, failures, logouts, revocations, expiry and user changes, newest first', async () => {
    const cookies: string[] = [];
    const keep = (l: LoggedIn) => {
      cookies.push(l.cookie);
      return l;
    };
    const admin = keep(await login(t.http));
    const user = await newUser(t.http, admin);
    const loggedIn = keep(await loginAs(t.http, user));
    await request(t.http).post('/auth/login').send({ username: user.username, password: 'wrong-password' }).expect(401);
    await as(t.http, loggedIn).post('/auth/logout').expect(200);
    const revoked = keep(await loginAs(t.http, user));
    await as(t.http, admin).delete(`/admin/sessions/${revoked.body.session.id}`).expect(200);
    await as(t.http, admin)
      .patch(`/admin/users/${user.id}`)
      .send({ roles: ['user', 'auditor'] })
      .expect(200);
    const expiring = keep(await loginAs(t.http, user));

    // Past the idle timeout: the sweeper finds the session expired, once.
    t.clock.advance(601 * SECOND);
    const sweeper = t.app.get(SessionSweeper);
    const swept = await sweeper.sweep();
    expect(swept.map((h) => h.publicId)).toEqual(expect.arrayContaining([expiring.body.session.id]));
    expect(await sweeper.sweep()).toEqual([]);

    const admin2 = keep(await login(t.http));
    await as(t.http, admin2).delete(`/admin/users/${user.id}`).expect(200);

    const events = await walkAudit(t, admin2, 3);
    const onePage = (await as(t.http, admin2).get('/admin/audit?limit=500').expect(200)).body as {
      events: AuditEvent[];
      nextCursor: string | null;
    };
    expect(onePage.nextCursor).toBeNull();
    expect(events).toEqual(onePage.events);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(isNewestFirst(events.map((e) => e.at))).toBe(true);

    const adminActor = { userId: admin.body.user.id, username: 'admin' };
    const userActor = { userId: user.id, username: user.username };
    const ofType = (type: string) => events.filter((e) => e.type === type);
    // Everything that happened, newest first (both the user's and the first admin's session expired).
    expect(events.map((e) => e.type)).toEqual([
      'user_deleted',
      'login',
      'session_expired',
      'session_expired',
      'login',
      'user_updated',
      'session_revoked',
      'login',
      'logout',
      'login_failure',
      'login',
      'user_created',
      'login',
    ]);
    expect(events[0]).toMatchObject({ type: 'user_deleted', actor: adminActor, subject: user.id });
    expect(ofType('user_created')).toEqual([
      expect.objectContaining({ actor: adminActor, subject: user.id, ip: expect.stringMatching(/127\.0\.0\.1|::1/) }),
    ]);
    expect(ofType('user_updated')).toEqual([
      expect.objectContaining({ actor: adminActor, subject: user.id, detail: expect.stringContaining('roles') }),
    ]);
    expect(ofType('login_failure')).toEqual([expect.objectContaining({ actor: null, subject: user.username })]);
    expect(ofType('logout')).toEqual([
      expect.objectContaining({ actor: userActor, subject: loggedIn.body.session.id }),
    ]);
    expect(ofType('session_revoked')).toEqual([
      expect.objectContaining({ actor: adminActor, subject: revoked.body.session.id }),
    ]);
    expect(ofType('session_expired')).toEqual(
      expect.arrayContaining([expect.objectContaining({ actor: null, subject: expiring.body.session.id })]),
    );
    expect(ofType('session_expired').filter((e) => e.subject === expiring.body.session.id)).toHaveLength(1);
    expect(ofType('login').map((e) => e.subject)).toEqual(
      [admin2, expiring, revoked, loggedIn, admin].map((l) => l.body.session.id),
    );
    for (const e of events) {
      expect(Number.isNaN(Date.parse(e.at))).toBe(false);
    }

    // Public session ids only: no cookie value and no raw session id anywhere in the log.
    const text = JSON.stringify(events);
    for (const cookie of cookies) {
      const sid = sessionIdOf(cookie);
      expect(text).not.toContain(sid);
      expect(text).not.toContain(sid.split('.')[1]);
      expect(text).not.toContain(cookie.split('=')[1]);
    }
  });

  it('a cursor older than every event gives an empty last page', async () => {
    const admin = await login(t.http);

    const res = await as(t.http, admin).get('/admin/audit?cursor=1-0').expect(200);

    expect(res.body).toEqual({ events: [], nextCursor: null });
  });

  it('answers 400 for a bad cursor or limit', async () => {
    const admin = await login(t.http);
    await as(t.http, admin).get('/admin/audit?cursor=nope').expect(400);
    await as(t.http, admin).get('/admin/audit?limit=0').expect(400);
    await as(t.http, admin).get('/admin/audit?limit=501').expect(400);
    const badType = await as(t.http, admin).get('/admin/audit?type=login_success').expect(400);
    expect(badType.body.message).toEqual([expect.stringContaining('type must be one of: login, login_failure')]);
    await as(t.http, admin).get('/admin/audit?userId=../etc').expect(400);
  });

  it('filters by event type and by user (what they did and what was done to them), paging alike', async () => {
    const admin = await login(t.http);
    const alice = await newUser(t.http, admin);
    const bob = await newUser(t.http, admin);
    const aliceIn = await loginAs(t.http, alice);
    await loginAs(t.http, bob);
    await request(t.http)
      .post('/auth/login')
      .send({ username: alice.username, password: 'wrong-password' })
      .expect(401);
    await as(t.http, admin).delete(`/admin/sessions/${aliceIn.body.session.id}`).expect(200);
    const aliceAgain = await loginAs(t.http, alice);
    await as(t.http, aliceAgain).post('/auth/logout').expect(200);

    const all = ((await as(t.http, admin).get('/admin/audit?limit=500').expect(200)).body as { events: AuditEvent[] })
      .events;
    const walk = async (query: string): Promise<AuditEvent[]> => {
      const found: AuditEvent[] = [];
      let cursor: string | null = null;
      do {
        const path: string = `/admin/audit?limit=2&${query}${cursor ? `&cursor=${cursor}` : ''}`;
        const body = (await as(t.http, admin).get(path).expect(200)).body as {
          events: AuditEvent[];
          nextCursor: string | null;
        };
        expect(body.events.length).toBeLessThanOrEqual(2);
        found.push(...body.events);
        cursor = body.nextCursor;
      } while (cursor);
      return found;
    };

    const aboutAlice = (e: AuditEvent) =>
      e.actor?.userId === alice.id || e.subject === alice.id || e.subject.startsWith(`${alice.id}.`);
    const ofAlice = await walk(`userId=${alice.id}`);
    expect(ofAlice).toEqual(all.filter(aboutAlice));
    expect(ofAlice.map((e) => e.type)).toEqual(['logout', 'login', 'session_revoked', 'login', 'user_created']);

    const logins = await walk('type=login');
    expect(logins).toEqual(all.filter((e) => e.type === 'login'));
    expect(await walk(`type=session_revoked&userId=${alice.id}`)).toEqual([
      expect.objectContaining({ type: 'session_revoked', subject: aliceIn.body.session.id }),
    ]);
    expect(await walk(`type=logout&userId=${bob.id}`)).toEqual([]);
  });

  it('a filter reads a bounded number of events per call and continues with the cursor', async () => {
    const admin = await login(t.http);
    const carol = await newUser(t.http, admin);
    const audit = t.app.get(AuditService);
    for (let i = 0; i < FILTER_SCAN_MAX + 100; i++) {
      await audit.record({ type: 'login_failure', actor: null, subject: `someone-${i}` });
    }

    const first = (await as(t.http, admin).get(`/admin/audit?userId=${carol.id}`).expect(200)).body as {
      events: AuditEvent[];
      nextCursor: string | null;
    };
    // The newest FILTER_SCAN_MAX events hold nothing of carol's: an empty page that says where to go on.
    expect(first.events).toEqual([]);
    expect(first.nextCursor).not.toBeNull();
    const next = (await as(t.http, admin).get(`/admin/audit?userId=${carol.id}&cursor=${first.nextCursor}`).expect(200))
      .body as { events: AuditEvent[]; nextCursor: string | null };
    expect(next.events).toEqual([expect.objectContaining({ type: 'user_created', subject: carol.id })]);
  });
});

describe.each(STORE_KINDS)('expiry at the absolute timeout (%s store)', (store) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({
      store,
      env: { SESSION_IDLE_TIMEOUT: '600', SESSION_ABSOLUTE_TIMEOUT: '900', SESSION_TOUCH_INTERVAL: '1' },
    });
  });
  afterAll(() => t.close());

  it('is audited once even when an admin looked at the sessions before the sweeper ran', async () => {
    const admin = await login(t.http);
    const user = await newUser(t.http, admin);
    const active = await loginAs(t.http, user);
    // Active all along (within the idle timeout), until the absolute timeout ends it.
    t.clock.advance(500 * SECOND);
    await as(t.http, active).get('/auth/profile').expect(200);
    await t.app.get(ActivityTracker).flushAll();
    t.clock.advance(450 * SECOND);
    expect(await profileStatus(t.http, active.cookie)).toBe(401);

    const admin2 = await login(t.http);
    const viewed = await stats(t, admin2);
    expect(viewed.recentSessions.map((s) => s.id)).not.toContain(active.body.session.id);
    await as(t.http, admin2).get('/admin/sessions').expect(200);
    const swept = await t.app.get(SessionSweeper).sweep();

    expect(swept.map((h) => h.publicId)).toContain(active.body.session.id);
    const events = (await as(t.http, admin2).get('/admin/audit').expect(200)).body.events as AuditEvent[];
    expect(events.filter((e) => e.type === 'session_expired').map((e) => e.subject)).toContain(active.body.session.id);
  });
});

describe('session ids stay out of Redis (redis)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp();
  });
  afterAll(() => t.close());

  it('no key name or value holds a raw session id or cookie', async () => {
    const admin = await login(t.http);
    const user = await newUser(t.http, admin);
    const sessions = [admin, await loginAs(t.http, user, { deviceId: 'x' }), await loginAs(t.http, user)];
    await as(t.http, sessions[1]).get('/auth/profile').expect(200);
    await t.app.get(ActivityTracker).flushAll();

    const redis = await inspectRedis();
    try {
      const dump = await dumpPrefix(redis, t.prefix);
      const text = [...dump].map(([key, value]) => `${key}\n${value}`).join('\n');
      expect(dump.size).toBeGreaterThan(0);
      for (const s of sessions) {
        const sid = sessionIdOf(s.cookie);
        expect(text).not.toContain(sid.split('.')[1]);
        expect(text).toContain(s.body.session.id.split('.')[1]);
      }
    } finally {
      await redis.close();
    }
  });
});

describe('two instances on one Redis (redis)', () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    a = await createTestApp();
    b = await createTestApp({ env: { REDIS_KEY_PREFIX: a.prefix } });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it("one instance lists and revokes the other's sessions; the cookie is 401 on both at once", async () => {
    const adminOnB = await login(b.http);
    const user = await newUser(b.http, adminOnB);
    const onA = await loginAs(a.http, user, { deviceId: 'laptop' });
    expect(await profileStatus(b.http, onA.cookie)).toBe(200);

    const listed = await userSessions(b, adminOnB, user.id);
    expect(listed.map((s) => s.id)).toEqual([onA.body.session.id]);
    expect((await stats(b, adminOnB)).recentSessions.map((s) => s.id)).toContain(onA.body.session.id);

    await as(b.http, adminOnB).delete(`/admin/sessions/${onA.body.session.id}`).expect(200);

    expect(await profileStatus(a.http, onA.cookie)).toBe(401);
    expect(await profileStatus(b.http, onA.cookie)).toBe(401);
    expect(await userSessions(b, adminOnB, user.id)).toEqual([]);
  });

  it('a user change made on one instance ends sessions used on the other', async () => {
    const adminOnA = await login(a.http);
    const user = await newUser(a.http, adminOnA);
    const onB = await loginAs(b.http, user);

    await as(a.http, adminOnA).patch(`/admin/users/${user.id}`).send({ disabled: true }).expect(200);

    expect(await profileStatus(b.http, onB.cookie)).toBe(401);
    await request(b.http).post('/auth/login').send({ username: user.username, password: user.password }).expect(401);
  });
});
