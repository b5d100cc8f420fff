import request from 'supertest';
import { SessionStore } from '../src/session/session-store';
import {
  activityWrites,
  as,
  handleOf,
  loginAs,
  newUser,
  profileStatus,
  recordActivityWrites,
  sessionIdOf,
  storedSession,
} from './support/sessions';
import { createTestApp, LoggedIn, login, STORE_KINDS, TestApp } from './support/test-app';

const CHROME_ON_WINDOWS =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36';
const FIREFOX_ON_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

interface OwnSession {
  id: string;
  deviceId: string | null;
  userAgent: string;
  browser: string;
  os: string;
  ip: string;
  createdAt: string;
  lastActivityAt: string;
  expiresAt: string;
  current: boolean;
}

async function ownSessions(t: TestApp, who: LoggedIn): Promise<OwnSession[]> {
  const res = await as(t.http, who).get('/auth/sessions').expect(200);
  return (res.body as { sessions: OwnSession[] }).sessions;
}

async function profile(t: TestApp, who: LoggedIn) {
  const res = await as(t.http, who).get('/auth/profile').expect(200);
  return (res.body as { session: { requestCount: number; lastActivityAt: string; expiresAt: string } }).session;
}

const SECOND = 1000;

describe.each(STORE_KINDS)('own sessions (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({ store });
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  it("lists the caller's sessions with device, user agent (raw and parsed), ip, times and which one is current", async () => {
    const user = await newUser(t.http, admin);
    const chrome = await loginAs(t.http, user, { deviceId: 'laptop-1', userAgent: CHROME_ON_WINDOWS });
    t.clock.advance(5 * SECOND);
    const firefox = await loginAs(t.http, user, { userAgent: FIREFOX_ON_LINUX });

    const sessions = await ownSessions(t, firefox);

    expect(sessions.map((s) => s.id).sort()).toEqual([chrome.body.session.id, firefox.body.session.id].sort());
    const fromChrome = sessions.find((s) => s.id === chrome.body.session.id)!;
    const fromFirefox = sessions.find((s) => s.id === firefox.body.session.id)!;
    expect(fromChrome).toMatchObject({ deviceId: 'laptop-1', current: false });
    expect(fromChrome.browser).toMatch(/^Chrome 124/);
    expect(fromChrome.os).toMatch(/^Windows/);
    expect(fromChrome.userAgent).toBe(CHROME_ON_WINDOWS);
    expect(fromFirefox).toMatchObject({ deviceId: null, current: true, browser: 'Firefox 128.0', os: 'Linux' });
    expect(fromFirefox.userAgent).toBe(FIREFOX_ON_LINUX);
    for (const s of sessions) {
      expect(s.ip).toMatch(/127\.0\.0\.1|::1/);
      // Idle timeout (default 7200 s) from the last activity, well before the absolute timeout.
      expect(Date.parse(s.expiresAt) - Date.parse(s.lastActivityAt)).toBe(7200 * SECOND);
      expect(Date.parse(s.lastActivityAt)).toBeGreaterThanOrEqual(Date.parse(s.createdAt));
    }
    expect(Date.parse(fromFirefox.createdAt) - Date.parse(fromChrome.createdAt)).toBeGreaterThanOrEqual(5 * SECOND);
    expect(fromChrome.createdAt).toBe(chrome.body.session.createdAt);
    // Newest activity first.
    expect(sessions[0].id).toBe(firefox.body.session.id);

    // The other session sees the same list with itself as current.
    const seenFromChrome = await ownSessions(t, chrome);
    expect(seenFromChrome.filter((s) => s.current).map((s) => s.id)).toEqual([chrome.body.session.id]);
  });

  it('gives back a user agent the detection library does not know, as sent, control characters removed', async () => {
    const user = await newUser(t.http, admin);
    const app = await loginAs(t.http, user, { userAgent: 'MyApp/3.1 (iOS 17.2; iPhone15,2)' });
    const cli = await loginAs(t.http, user, { userAgent: 'curl/8.5.0' });
    const long = await loginAs(t.http, user, { userAgent: `Tester/1.0 ${'x'.repeat(400)}` });
    // HTTP lets a tab through in a header value, and no other control character.
    const tabbed = await loginAs(t.http, user, { userAgent: 'Probe/1.0\tbeta' });

    const sessions = await ownSessions(t, cli);
    const agentOf = (who: LoggedIn) => sessions.find((s) => s.id === who.body.session.id)!.userAgent;
    expect(agentOf(app)).toBe('MyApp/3.1 (iOS 17.2; iPhone15,2)');
    expect(agentOf(cli)).toBe('curl/8.5.0');
    expect(agentOf(long)).toBe(`Tester/1.0 ${'x'.repeat(245)}`);
    expect(agentOf(tabbed)).toBe('Probe/1.0beta');
    const listed = await as(t.http, admin).get(`/admin/users/${user.id}/sessions`).expect(200);
    expect((listed.body as { sessions: { userAgent: string }[] }).sessions.map((s) => s.userAgent).sort()).toEqual(
      ['MyApp/3.1 (iOS 17.2; iPhone15,2)', 'curl/8.5.0', `Tester/1.0 ${'x'.repeat(245)}`, 'Probe/1.0beta'].sort(),
    );
  });

  it("does not list another user's sessions", async () => {
    const [alice, bob] = await Promise.all([newUser(t.http, admin), newUser(t.http, admin)]);
    const a = await loginAs(t.http, alice);
    await loginAs(t.http, bob);

    expect((await ownSessions(t, a)).map((s) => s.id)).toEqual([a.body.session.id]);
  });

  it('needs a live session', async () => {
    await request(t.http).get('/auth/sessions').expect(401);
    await request(t.http).delete('/auth/sessions').expect(401);
  });

  it('ends one of its own sessions by id; that cookie is 401 at once and the id is then unknown', async () => {
    const user = await newUser(t.http, admin);
    const phone = await loginAs(t.http, user);
    const laptop = await loginAs(t.http, user);

    const res = await as(t.http, laptop).delete(`/auth/sessions/${phone.body.session.id}`).expect(200);

    expect(res.body).toEqual({ revoked: 1 });
    expect(await profileStatus(t.http, phone.cookie)).toBe(401);
    expect(await profileStatus(t.http, laptop.cookie)).toBe(200);
    expect((await ownSessions(t, laptop)).map((s) => s.id)).toEqual([laptop.body.session.id]);
    await as(t.http, laptop).delete(`/auth/sessions/${phone.body.session.id}`).expect(404);
  });

  it('can end the current session by its id', async () => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);

    await as(t.http, me).delete(`/auth/sessions/${me.body.session.id}`).expect(200);

    expect(await profileStatus(t.http, me.cookie)).toBe(401);
  });

  it("answers 404 for another user's session id and leaves that session alive", async () => {
    const [alice, bob] = await Promise.all([newUser(t.http, admin), newUser(t.http, admin)]);
    const a = await loginAs(t.http, alice);
    const b = await loginAs(t.http, bob);

    const res = await as(t.http, a).delete(`/auth/sessions/${b.body.session.id}`).expect(404);

    expect(res.body).toEqual({ statusCode: 404, message: 'Session not found', error: 'Not Found' });
    expect(await profileStatus(t.http, b.cookie)).toBe(200);
    // An admin is no exception on this route.
    await as(t.http, admin).delete(`/auth/sessions/${b.body.session.id}`).expect(404);
    expect(await profileStatus(t.http, b.cookie)).toBe(200);
  });

  it.each([
    ['not an id', 'nope'],
    ['too short', 'abc.def'],
    ['the raw cookie id', null],
  ])('answers 400 for a malformed session id (%s)', async (_, id) => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    const res = await as(t.http, me)
      .delete(`/auth/sessions/${encodeURIComponent(id ?? sessionIdOf(me.cookie))}`)
      .expect(400);

    expect(res.body).toMatchObject({ statusCode: 400, message: 'Invalid session id' });
    expect(await profileStatus(t.http, me.cookie)).toBe(200);
  });

  it('needs the CSRF token to end a session, and changes nothing without it', async () => {
    const user = await newUser(t.http, admin);
    const other = await loginAs(t.http, user);
    const me = await loginAs(t.http, user);

    await request(t.http).delete(`/auth/sessions/${other.body.session.id}`).set('Cookie', me.cookie).expect(403);
    await request(t.http)
      .delete('/auth/sessions')
      .set('Cookie', me.cookie)
      .set('X-CSRF-Token', other.csrfToken)
      .expect(403);

    expect(await profileStatus(t.http, other.cookie)).toBe(200);
  });

  it('ends all its other sessions but not the current one', async () => {
    const [user, bystander] = await Promise.all([newUser(t.http, admin), newUser(t.http, admin)]);
    const others = [await loginAs(t.http, user), await loginAs(t.http, user), await loginAs(t.http, user)];
    const me = await loginAs(t.http, user);
    const unrelated = await loginAs(t.http, bystander);

    const res = await as(t.http, me).delete('/auth/sessions').expect(200);

    expect(res.body).toEqual({ revoked: 3 });
    for (const s of others) expect(await profileStatus(t.http, s.cookie)).toBe(401);
    expect(await profileStatus(t.http, me.cookie)).toBe(200);
    expect(await profileStatus(t.http, unrelated.cookie)).toBe(200);
    expect((await ownSessions(t, me)).map((s) => s.id)).toEqual([me.body.session.id]);
    expect((await as(t.http, me).delete('/auth/sessions').expect(200)).body).toEqual({ revoked: 0 });
  });

  it('ends the sessions of one device', async () => {
    const user = await newUser(t.http, admin);
    const phone = await loginAs(t.http, user, { deviceId: 'phone-7' });
    const tablet = await loginAs(t.http, user, { deviceId: 'tablet-2' });
    const me = await loginAs(t.http, user);

    const res = await as(t.http, me).delete('/auth/devices/phone-7').expect(200);

    expect(res.body).toEqual({ revoked: 1 });
    expect(await profileStatus(t.http, phone.cookie)).toBe(401);
    expect(await profileStatus(t.http, tablet.cookie)).toBe(200);
    expect(await profileStatus(t.http, me.cookie)).toBe(200);
    expect((await as(t.http, me).delete('/auth/devices/phone-7').expect(200)).body).toEqual({ revoked: 0 });
    await as(t.http, me).delete('/auth/devices/bad%20device!').expect(400);
    expect(await profileStatus(t.http, tablet.cookie)).toBe(200);
  });

  it("does not end another user's session on the same device id", async () => {
    const [alice, bob] = await Promise.all([newUser(t.http, admin), newUser(t.http, admin)]);
    const a = await loginAs(t.http, alice, { deviceId: 'shared-pc' });
    const b = await loginAs(t.http, bob, { deviceId: 'shared-pc' });

    expect((await as(t.http, a).delete('/auth/devices/shared-pc').expect(200)).body).toEqual({ revoked: 1 });

    expect(await profileStatus(t.http, a.cookie)).toBe(401);
    expect(await profileStatus(t.http, b.cookie)).toBe(200);
  });

  it('a new login with a deviceId that already has a session ends the older one', async () => {
    const user = await newUser(t.http, admin);
    const first = await loginAs(t.http, user, { deviceId: 'desk-1' });
    const elsewhere = await loginAs(t.http, user, { deviceId: 'desk-2' });

    const second = await loginAs(t.http, user, { deviceId: 'desk-1' });

    expect(second.body.session).toMatchObject({ deviceId: 'desk-1' });
    expect(second.body.session.id).not.toBe(first.body.session.id);
    expect(await profileStatus(t.http, first.cookie)).toBe(401);
    expect(await profileStatus(t.http, elsewhere.cookie)).toBe(200);
    const sessions = await ownSessions(t, second);
    expect(sessions.map((s) => [s.id, s.deviceId]).sort()).toEqual(
      [
        [second.body.session.id, 'desk-1'],
        [elsewhere.body.session.id, 'desk-2'],
      ].sort(),
    );
  });
});

describe.each(STORE_KINDS)('MAX_SESSIONS_PER_USER (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({
      store,
      env: { MAX_SESSIONS_PER_USER: '3', SESSION_TOUCH_INTERVAL: '1' },
      override: recordActivityWrites,
    });
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  it('a login beyond the limit ends the least recently active session, not the oldest', async () => {
    const user = await newUser(t.http, admin);
    const oldest = await loginAs(t.http, user);
    t.clock.advance(SECOND);
    const idle = await loginAs(t.http, user);
    t.clock.advance(SECOND);
    const newer = await loginAs(t.http, user);
    t.clock.advance(2 * SECOND);
    // The oldest session is used again: its activity is written (interval 1 s), so it is now the most recent.
    await as(t.http, oldest).get('/auth/profile').expect(200);
    const [write] = activityWrites(t, oldest.body.session.id);
    expect(await write.result).toBe(true);

    const fourth = await loginAs(t.http, user);

    expect(await profileStatus(t.http, idle.cookie)).toBe(401);
    for (const s of [oldest, newer, fourth]) expect(await profileStatus(t.http, s.cookie)).toBe(200);
    expect((await ownSessions(t, fourth)).map((s) => s.id).sort()).toEqual(
      [oldest.body.session.id, newer.body.session.id, fourth.body.session.id].sort(),
    );
  });

  it('keeps at most the limit across many sequential logins', async () => {
    const user = await newUser(t.http, admin);
    const logins: LoggedIn[] = [];
    for (let i = 0; i < 5; i++) {
      logins.push(await loginAs(t.http, user));
      t.clock.advance(SECOND);
    }

    const live = (await ownSessions(t, logins[4])).map((s) => s.id).sort();

    expect(live).toEqual(
      logins
        .slice(2)
        .map((l) => l.body.session.id)
        .sort(),
    );
  });

  it('does not count the sessions of other users', async () => {
    const [alice, bob] = await Promise.all([newUser(t.http, admin), newUser(t.http, admin)]);
    const a = [await loginAs(t.http, alice), await loginAs(t.http, alice), await loginAs(t.http, alice)];
    await loginAs(t.http, bob);
    await loginAs(t.http, bob);

    for (const s of a) expect(await profileStatus(t.http, s.cookie)).toBe(200);
  });
});

describe.each(STORE_KINDS)('activity (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({
      store,
      env: { SESSION_TOUCH_INTERVAL: '60', SESSION_IDLE_TIMEOUT: '300' },
      override: recordActivityWrites,
    });
  });
  // The tests move the clock past the idle timeout: a fresh admin session each time.
  beforeEach(async () => {
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  it('counts requests and writes them at most once per SESSION_TOUCH_INTERVAL', async () => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    const handle = handleOf(me.cookie);
    const loginAt = (await storedSession(t, handle))!.lastActivityAt;

    // Within the interval: counted here, nothing written.
    for (let i = 0; i < 3; i++) await as(t.http, me).get('/auth/profile').expect(200);
    expect(activityWrites(t, handle.publicId)).toHaveLength(0);
    expect(await storedSession(t, handle)).toMatchObject({ requestCount: 1, lastActivityAt: loginAt });
    // The profile already shows what this instance counted, plus the request itself.
    expect((await profile(t, me)).requestCount).toBe(5);

    // The first request after the interval writes everything counted so far; the next ones wait.
    t.clock.advance(61 * SECOND);
    for (let i = 0; i < 5; i++) await as(t.http, me).get('/auth/profile').expect(200);
    const writes = activityWrites(t, handle.publicId);
    expect(writes.map((w) => w.count)).toEqual([5]);
    expect(await writes[0].result).toBe(true);
    const stored = (await storedSession(t, handle))!;
    expect(stored.requestCount).toBe(6);
    expect(stored.lastActivityAt).toBe(writes[0].at);
    expect(stored.lastActivityAt).toBeGreaterThanOrEqual(loginAt + 61 * SECOND);
    expect((await profile(t, me)).requestCount).toBe(6 + 4 + 1);

    // What the user sees: lastActivityAt moved up and the idle deadline with it.
    const [listed] = await ownSessions(t, me);
    expect(Date.parse(listed.lastActivityAt)).toBe(stored.lastActivityAt);
    expect(Date.parse(listed.expiresAt)).toBe(stored.lastActivityAt + 300 * SECOND);

    // The next interval writes once more, with the 7 requests counted since (4 + profile + list + this one).
    t.clock.advance(61 * SECOND);
    await as(t.http, me).get('/auth/profile').expect(200);
    const again = activityWrites(t, handle.publicId);
    expect(again.map((w) => w.count)).toEqual([5, 7]);
    expect(await again[1].result).toBe(true);
    expect((await storedSession(t, handle))!.requestCount).toBe(13);
  });

  it('activity extends the idle timeout; an unused session ends at it', async () => {
    const user = await newUser(t.http, admin);
    const used = await loginAs(t.http, user);
    const unused = await loginAs(t.http, user);

    t.clock.advance(200 * SECOND);
    await as(t.http, used).get('/auth/profile').expect(200);
    const [write] = activityWrites(t, used.body.session.id);
    expect(await write.result).toBe(true);
    t.clock.advance(200 * SECOND);

    // 400 s after login, past the 300 s idle timeout of both, but `used` was active 200 s ago.
    expect(await profileStatus(t.http, used.cookie)).toBe(200);
    expect(await profileStatus(t.http, unused.cookie)).toBe(401);

    await Promise.all(activityWrites(t, used.body.session.id).map((w) => w.result));
    t.clock.advance(301 * SECOND);
    expect(await profileStatus(t.http, used.cookie)).toBe(401);
  });

  it('a write for a session that ended does not bring it back', async () => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    const handle = handleOf(me.cookie);
    await as(t.http, me).get('/auth/profile').expect(200);
    await as(t.http, me).post('/auth/logout').expect(200);

    expect(await t.app.get(SessionStore).recordActivity(handle, t.clock.now(), 5)).toBe(false);

    expect(await storedSession(t, handle)).toBeNull();
    expect(await profileStatus(t.http, me.cookie)).toBe(401);
  });
});

describe.each(STORE_KINDS)('absolute timeout (%s store)', (store) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({
      store,
      env: { SESSION_IDLE_TIMEOUT: '200', SESSION_ABSOLUTE_TIMEOUT: '300', SESSION_TOUCH_INTERVAL: '1' },
      override: recordActivityWrites,
    });
  });
  afterAll(() => t.close());

  it('ends a session however active it is, and expiresAt says so', async () => {
    const admin = await login(t.http);
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    expect(Date.parse(me.body.session.expiresAt) - Date.parse(me.body.session.createdAt)).toBe(200 * SECOND);

    t.clock.advance(150 * SECOND);
    await as(t.http, me).get('/auth/profile').expect(200);
    await Promise.all(activityWrites(t, me.body.session.id).map((w) => w.result));
    // The idle deadline (150 + 200 s) now lies beyond the absolute one (300 s).
    const [listed] = await ownSessions(t, me);
    expect(Date.parse(listed.expiresAt) - Date.parse(listed.createdAt)).toBe(300 * SECOND);

    t.clock.advance(149 * SECOND);
    expect(await profileStatus(t.http, me.cookie)).toBe(200);
    t.clock.advance(2 * SECOND);
    expect(await profileStatus(t.http, me.cookie)).toBe(401);
  });
});

describe('activity across two instances (redis)', () => {
  let a: TestApp;
  let b: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    const env = { SESSION_TOUCH_INTERVAL: '60' };
    a = await createTestApp({ env, override: recordActivityWrites });
    b = await createTestApp({ env: { ...env, REDIS_KEY_PREFIX: a.prefix }, override: recordActivityWrites });
    admin = await login(a.http);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('request counts written by both add up; neither overwrites the other', async () => {
    const user = await newUser(a.http, admin);
    const me = await loginAs(a.http, user);
    const handle = handleOf(me.cookie);

    for (let i = 0; i < 3; i++) await as(a.http, me).get('/auth/profile').expect(200);
    for (let i = 0; i < 4; i++) await as(b.http, me).get('/auth/profile').expect(200);
    a.clock.advance(61 * SECOND);
    b.clock.advance(61 * SECOND);
    await as(a.http, me).get('/auth/profile').expect(200);
    await as(b.http, me).get('/auth/profile').expect(200);

    const fromA = activityWrites(a, handle.publicId);
    const fromB = activityWrites(b, handle.publicId);
    expect(fromA.map((w) => w.count)).toEqual([4]);
    expect(fromB.map((w) => w.count)).toEqual([5]);
    expect(await Promise.all([fromA[0].result, fromB[0].result])).toEqual([true, true]);
    const stored = (await storedSession(a, handle))!;
    expect(stored.requestCount).toBe(1 + 4 + 5);
    expect(stored.lastActivityAt).toBe(Math.max(fromA[0].at, fromB[0].at));
    // Both instances read the same stored figures.
    expect((await profile(b, me)).requestCount).toBe(10 + 1);
  });
});
