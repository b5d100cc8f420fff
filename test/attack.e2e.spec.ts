import { createHmac, randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import request, { Response } from 'supertest';
import {
  BODIES,
  buildCookie,
  cookieParts,
  errorProblem,
  expectCleanError,
  fetchDocument,
  fillPath,
  flip,
  Operation,
  operations,
  send,
  setCookies,
  STATE_CHANGING,
  StoreState,
} from './support/security';
import { loginAs, newUser, profileStatus, startImpersonation, TestUser } from './support/sessions';
import {
  ADMIN,
  createTestApp,
  login,
  LoggedIn,
  sessionCookie,
  STORE_KINDS,
  TEST_SECRET,
  TestApp,
} from './support/test-app';

/** Routes anyone may call (metrics: keep it off the public network at the proxy); every other one needs a session. */
const PUBLIC = new Set(['POST /auth/login', 'GET /health/live', 'GET /health/ready', 'GET /metrics']);

/** What cookie-signature puts after the dot: with the real secret, the worst case of a forged cookie. */
function sign(sid: string, secret = TEST_SECRET): string {
  return createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');

/** One refused attempt: its status, and what is wrong with its answer (null when nothing). */
/** Answers that have no body by design: the gateway sub-request's 401 (a gateway reads its status only). */
const BODILESS_401 = new Set(['/auth/verify']);

function verdict(res: Response, status: number, message?: string): string | null {
  if (res.status !== status) return `status ${res.status}: ${res.text.slice(0, 160)}`;
  const bodiless = status === 401 && BODILESS_401.has(new URL(res.request.url).pathname);
  if (bodiless && res.text !== '') return `a body on a bodiless 401: ${res.text.slice(0, 80)}`;
  const problem = bodiless ? null : errorProblem(res);
  if (problem) return problem;
  if (message !== undefined && res.body.message !== message) return `message ${JSON.stringify(res.body.message)}`;
  if (setCookies(res).some((c) => !c.includes('Expires=Thu, 01 Jan 1970'))) return 'sets a session cookie';
  return null;
}

describe.each(STORE_KINDS)('attack suite (%s store)', (kind) => {
  let t: TestApp;
  let ops: Operation[];
  /** A second admin who only watches: none of the attacks below touch its session. */
  let watcher: LoggedIn;
  let store: StoreState;
  const state = () => store.read();

  beforeAll(async () => {
    t = await createTestApp({
      store: kind,
      // No activity writes and no session limit: a refused attack must leave the store byte for byte as it was.
      env: { SESSION_TOUCH_INTERVAL: '86400', MAX_SESSIONS_PER_USER: '0' },
    });
    const admin = await login(t.http);
    watcher = await loginAs(t.http, await newUser(t.http, admin, ['admin', 'user']));
    store = new StoreState(t, watcher, kind);
    ops = operations(await fetchDocument(t.http));
  });
  afterAll(async () => {
    await store.close();
    await t.close();
  });

  /** Targets that a call would really act on: the admin's other session and device, and a victim user. */
  interface Scene {
    caller: LoggedIn;
    other: LoggedIn;
    victim: TestUser;
    victimSession: LoggedIn;
    params: Record<string, string>;
  }

  /** `impersonating`: the caller is an admin's impersonation session (of another user), as its routes need. */
  async function scene(impersonating = false): Promise<Scene> {
    const admin = await login(t.http);
    const device = `device-${hex(4)}`;
    const other = await login(t.http, { ...ADMIN, deviceId: device });
    const victim = await newUser(t.http, admin);
    const victimSession = await loginAs(t.http, victim, { deviceId: 'victim-device' });
    const caller = impersonating ? await startImpersonation(t.http, admin, (await newUser(t.http, admin)).id) : admin;
    return {
      caller,
      other,
      victim,
      victimSession,
      params: { id: other.body.session.id, userId: victim.id, deviceId: device },
    };
  }

  function bodyOf(op: Operation): Record<string, unknown> | undefined {
    const spec = BODIES[op.label];
    if (op.body && !spec) throw new Error(`${op.label} takes a body: add a valid one to BODIES`);
    return op.body || spec ? spec.valid() : undefined;
  }

  function call(op: Operation, url: string, who: { cookie?: string; token?: string }, body?: object): request.Test {
    let r = send(t.http, op.method, url);
    if (who.cookie) r = r.set('Cookie', who.cookie);
    if (who.token !== undefined) r = r.set('X-CSRF-Token', who.token);
    return body ? r.send(body) : r;
  }

  describe('session fixation', () => {
    it('does not adopt a valid cookie of another session sent to /auth/login, and that session dies', async () => {
      const admin = await login(t.http);
      const attacker = await newUser(t.http, admin);
      const victim = await newUser(t.http, admin);
      const planted = await loginAs(t.http, attacker);

      const res = await request(t.http)
        .post('/auth/login')
        .set('Cookie', planted.cookie)
        .send({ username: victim.username, password: victim.password })
        .expect(200);
      const issued = setCookies(res)[0].split(';')[0];
      expect(cookieParts(issued).sid).not.toBe(cookieParts(planted.cookie).sid);
      expect(res.body.session.id).not.toBe(planted.body.session.id);

      expect(await profileStatus(t.http, planted.cookie)).toBe(401);
      const profile = await request(t.http).get('/auth/profile').set('Cookie', issued).expect(200);
      expect(profile.body.username).toBe(victim.username);
    });

    it('never adopts a session id the client chose, even one signed with the real secret', async () => {
      const admin = await login(t.http);
      const victim = await newUser(t.http, admin);
      const chosen = `${victim.id}.${randomBytes(32).toString('base64url')}`;
      const forms = [`sid=${chosen}`, buildCookie('sid', chosen, sign(chosen))];
      for (const cookie of forms) {
        const res = await request(t.http)
          .post('/auth/login')
          .set('Cookie', cookie)
          .send({ username: victim.username, password: victim.password })
          .expect(200);
        expect(cookieParts(setCookies(res)[0].split(';')[0]).sid).not.toBe(chosen);
        expect(await profileStatus(t.http, buildCookie('sid', chosen, sign(chosen)))).toBe(401);
      }
    });

    it.each([
      ['GET /auth/profile', () => request(t.http).get('/auth/profile')],
      ['GET /health/live', () => request(t.http).get('/health/live')],
      ['GET /docs-json', () => request(t.http).get('/docs-json')],
      ['a failed login', () => request(t.http).post('/auth/login').send({ username: 'nobody', password: 'nope' })],
      ['an invalid login', () => request(t.http).post('/auth/login').send({ username: 7 })],
    ])('gives an anonymous client no cookie to plant (%s)', async (_, anonymous) => {
      expect(setCookies(await anonymous())).toEqual([]);
    });
  });

  describe('replay', () => {
    it('refuses a logged-out cookie and its CSRF token everywhere', async () => {
      const admin = await login(t.http);
      await request(t.http)
        .post('/auth/logout')
        .set('Cookie', admin.cookie)
        .set('X-CSRF-Token', admin.csrfToken)
        .expect(200);
      const replays: [string, request.Test][] = [
        ['GET /auth/profile', request(t.http).get('/auth/profile')],
        ['GET /auth/csrf', request(t.http).get('/auth/csrf')],
        ['GET /admin/users', request(t.http).get('/admin/users')],
        ['POST /auth/logout', request(t.http).post('/auth/logout').set('X-CSRF-Token', admin.csrfToken)],
        [
          'POST /admin/users',
          request(t.http)
            .post('/admin/users')
            .set('X-CSRF-Token', admin.csrfToken)
            .send(BODIES['POST /admin/users'].valid()),
        ],
      ];
      const rows: [string, string | null][] = [];
      for (const [label, replay] of replays) rows.push([label, verdict(await replay.set('Cookie', admin.cookie), 401)]);
      expect(rows).toEqual(rows.map(([label]) => [label, null]));
    });
  });

  describe('forged and tampered cookies', () => {
    let admin: LoggedIn;
    let parts: { name: string; sid: string; signature: string };
    beforeAll(async () => {
      admin = await login(t.http);
      parts = cookieParts(admin.cookie);
    });

    const forgeries: [string, () => string][] = [
      ['the raw session id, unsigned', () => `sid=${parts.sid}`],
      ['the id with no signature', () => `sid=${encodeURIComponent(`s:${parts.sid}`)}`],
      ['a signature with one character changed', () => buildCookie('sid', parts.sid, flip(parts.signature))],
      ['a signature made with another secret', () => buildCookie('sid', parts.sid, sign(parts.sid, 'another-secret'))],
      ['the id with one character changed, signature kept', () => buildCookie('sid', flip(parts.sid, 20), parts.signature)],
      ['an unknown id signed with the real secret', () => {
        const sid = `${parts.sid.split('.')[0]}.${randomBytes(32).toString('base64url')}`;
        return buildCookie('sid', sid, sign(sid));
      }],
      ['the public session id signed with the real secret', () => {
        const id = admin.body.session.id;
        return buildCookie('sid', id, sign(id));
      }],
      ['the CSRF token as the id, signed with the real secret', () => buildCookie('sid', admin.csrfToken, sign(admin.csrfToken))],
      ['a cookie of 7000 characters', () => `sid=${'A'.repeat(7000)}`],
      ['malformed percent-encoding', () => 'sid=s%3A%E0%A4%A.%ZZ'],
      ['the cookie under another name', () => `other=${admin.cookie.split('=')[1]}`],
    ]; // prettier-ignore

    it.each(forgeries)('answers 401 to %s and sets no cookie', async (_, forge) => {
      const res = await request(t.http).get('/auth/profile').set('Cookie', forge());
      expect(verdict(res, 401)).toBeNull();
      await request(t.http).get('/auth/profile').set('Cookie', admin.cookie).expect(200);
    });

    it.each([
      ['a query parameter', (cookie: string) => `/auth/profile?sid=${encodeURIComponent(cookie.split('=')[1])}`],
      ['a matrix parameter', (cookie: string) => `/auth/profile;sid=${encodeURIComponent(cookie.split('=')[1])}`],
    ])('never takes the session from %s of the URL', async (_, url) => {
      const res = await request(t.http).get(url(admin.cookie));
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    });
  });

  describe('CSRF', () => {
    it('refuses every state-changing call made with a session but without its token (403), and changes nothing', async () => {
      const targets = ops.filter((op) => STATE_CHANGING.has(op.method) && op.label !== 'POST /auth/login');
      expect(targets.map((op) => op.label)).toEqual(
        expect.arrayContaining(['POST /auth/logout', 'POST /admin/users', 'DELETE /admin/users/{userId}']),
      );
      const rows: string[] = [];
      for (const op of targets) {
        const s = await scene(op.path.startsWith('/auth/impersonation/'));
        const url = fillPath(op.path, s.params);
        const body = bodyOf(op);
        const cookie = s.caller.cookie;
        const attempts: [string, request.Test][] = [
          ['no token', call(op, url, { cookie }, body)],
          ['an empty token', call(op, url, { cookie, token: '' }, body)],
          ['a token with one character changed', call(op, url, { cookie, token: flip(s.caller.csrfToken) }, body)],
          ["another session's token", call(op, url, { cookie, token: s.victimSession.csrfToken }, body)],
          ['the session id as the token', call(op, url, { cookie, token: cookieParts(cookie).sid }, body)],
          ['the token in the query string', call(op, `${url}?csrfToken=${s.caller.csrfToken}`, { cookie }, body)],
          ['a token of non-ASCII characters', call(op, url, { cookie, token: '\u00e9'.repeat(43) }, body)],
        ];
        const before = await state();
        for (const [how, attempt] of attempts) {
          const problem = verdict(await attempt, 403, 'Missing or invalid CSRF token');
          if (problem) rows.push(`${op.label} with ${how}: ${problem}`);
        }
        if (!isDeepStrictEqual(await state(), before)) rows.push(`${op.label}: the state changed`);
        // The same call with the right token acts: the targets are real and the snapshot would see a change.
        // (A password change and a re-authentication act only with the caller's real password; the
        // password is put back afterwards.)
        const changesPassword = op.label === 'PATCH /auth/password';
        const controlBody = changesPassword
          ? { currentPassword: ADMIN.password, newPassword: `${ADMIN.password}-changed` }
          : op.label === 'POST /auth/reauthenticate'
            ? { password: ADMIN.password }
            : body;
        const control = await call(op, url, { cookie, token: s.caller.csrfToken }, controlBody);
        if (control.status >= 300) rows.push(`${op.label} with the right token: ${control.status} (not a real target)`);
        else if (isDeepStrictEqual(await state(), before)) rows.push(`${op.label}: the snapshot did not see it act`);
        if (changesPassword && control.status === 200) {
          await call(
            op,
            url,
            {
              cookie: sessionCookie(control.headers['set-cookie']),
              token: (control.body as { csrfToken: string }).csrfToken,
            },
            { currentPassword: `${ADMIN.password}-changed`, newPassword: ADMIN.password },
          ).expect(200);
        }
      }
      expect(rows).toEqual([]);
    });
  });

  describe('privilege escalation through extra body fields', () => {
    const EXTRA: Record<string, unknown> = {
      roles: ['admin'],
      isAdmin: true,
      admin: true,
      userId: 'AAAAAAAAAAAA',
      id: 'AAAAAAAAAAAA',
      version: 999,
      username: 'admin',
      disabled: false,
      passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$x$y',
    };

    it('refuses them on every route with a body (400 naming the field), and changes nothing', async () => {
      const withBody = ops.filter((op) => op.body || BODIES[op.label]);
      expect(withBody.map((op) => op.label).sort()).toEqual(Object.keys(BODIES).sort());
      const rows: string[] = [];
      for (const op of withBody) {
        const s = await scene();
        const url = fillPath(op.path, s.params);
        const base =
          op.label === 'POST /auth/login'
            ? { username: s.victim.username, password: s.victim.password }
            : BODIES[op.label].valid();
        const fields = Object.keys(EXTRA).filter((f) => !BODIES[op.label].fields.includes(f));
        const before = await state();
        for (const field of fields) {
          const res = await call(
            op,
            url,
            { cookie: s.caller.cookie, token: s.caller.csrfToken },
            {
              ...base,
              [field]: EXTRA[field],
            },
          );
          const problem = verdict(res, 400);
          if (problem) rows.push(`${op.label} + ${field}: ${problem}`);
          else if (!JSON.stringify(res.body.message).includes(`property ${field} should not exist`)) {
            rows.push(`${op.label} + ${field}: message ${JSON.stringify(res.body.message)}`);
          }
        }
        if (!isDeepStrictEqual(await state(), before)) rows.push(`${op.label}: the state changed`);
      }
      expect(rows).toEqual([]);
    });

    it('gives a user who tried to log in with roles only the roles they have', async () => {
      const s = await scene();
      const credentials = { username: s.victim.username, password: s.victim.password };
      await request(t.http)
        .post('/auth/login')
        .send({ ...credentials, roles: ['admin'] })
        .expect(400);
      const fresh = await login(t.http, credentials);
      expect(fresh.body.user.roles).toEqual(['user']);
      await request(t.http).get('/admin/users').set('Cookie', fresh.cookie).expect(403);
    });
  });

  describe("reaching another user's sessions", () => {
    it("answers 404 to DELETE /auth/sessions/:id of another user's session, spliced or not, and it stays alive", async () => {
      const s = await scene();
      const attacker = await loginAs(t.http, await newUser(t.http, s.caller));
      const [, hash] = s.victimSession.body.session.id.split('.');
      const ids = [s.victimSession.body.session.id, `${attacker.body.user.id}.${hash}`];
      for (const id of ids) {
        const res = await request(t.http)
          .delete(`/auth/sessions/${id}`)
          .set('Cookie', attacker.cookie)
          .set('X-CSRF-Token', attacker.csrfToken);
        expect(verdict(res, 404, 'Session not found')).toBeNull();
      }
      expect(await profileStatus(t.http, s.victimSession.cookie)).toBe(200);
    });

    it("ends none of another user's sessions through its device id or 'all my other sessions'", async () => {
      const s = await scene();
      const attacker = await loginAs(t.http, await newUser(t.http, s.caller), { deviceId: 'attacker-device' });
      const as = (r: request.Test) => r.set('Cookie', attacker.cookie).set('X-CSRF-Token', attacker.csrfToken);
      expect((await as(request(t.http).delete('/auth/devices/victim-device')).expect(200)).body).toEqual({
        revoked: 0,
      });
      expect((await as(request(t.http).delete('/auth/sessions')).expect(200)).body).toEqual({ revoked: 0 });
      const own = await request(t.http).get('/auth/sessions').set('Cookie', attacker.cookie).expect(200);
      expect((own.body.sessions as { id: string }[]).map((x) => x.id)).toEqual([attacker.body.session.id]);
      expect(await profileStatus(t.http, s.victimSession.cookie)).toBe(200);
    });

    it('refuses a user every /admin operation (403), with a valid token and real targets, and changes nothing', async () => {
      const adminOps = ops.filter((op) => op.path.startsWith('/admin'));
      expect(adminOps.length).toBeGreaterThanOrEqual(10);
      const s = await scene();
      const user = await loginAs(t.http, await newUser(t.http, s.caller));
      const before = await state();
      const rows: [string, string | null][] = [];
      for (const op of adminOps) {
        const res = await call(
          op,
          fillPath(op.path, s.params),
          { cookie: user.cookie, token: user.csrfToken },
          bodyOf(op),
        );
        rows.push([op.label, verdict(res, 403)]);
      }
      expect(rows).toEqual(rows.map(([label]) => [label, null]));
      expect(await state()).toEqual(before);
    });

    it('refuses an anonymous client every operation but login, health and metrics (401), and changes nothing', async () => {
      const s = await scene();
      const before = await state();
      const rows: [string, string | null][] = [];
      for (const op of ops.filter((o) => !PUBLIC.has(o.label))) {
        const res = await call(op, fillPath(op.path, s.params), { token: s.caller.csrfToken }, bodyOf(op));
        rows.push([op.label, verdict(res, 401)]);
      }
      expect(rows.length).toBeGreaterThanOrEqual(15);
      expect(rows).toEqual(rows.map(([label]) => [label, null]));
      expect(await state()).toEqual(before);
    });
  });

  describe('session ids', () => {
    it('carry 256 random bits and never repeat', async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 10; i += 1) {
        const { sid } = cookieParts((await login(t.http)).cookie);
        expect(sid).toMatch(/^[A-Za-z0-9_-]{12}\.[A-Za-z0-9_-]{43}$/);
        ids.add(sid.split('.')[1]);
      }
      expect(ids.size).toBe(10);
    });
  });
});

describe('brute force across two instances sharing Redis (redis)', () => {
  const MAX = 4;
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    a = await createTestApp({ store: 'redis', env: { LOGIN_MAX_FAILURES: String(MAX), LOGIN_WINDOW: '120' } });
    b = await createTestApp({
      store: 'redis',
      env: { LOGIN_MAX_FAILURES: String(MAX), LOGIN_WINDOW: '120', REDIS_KEY_PREFIX: a.prefix },
    });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  it('counts failures on instance A on instance B, and answers 429 with Retry-After on both', async () => {
    const wrong = { username: ADMIN.username, password: 'not-the-password' };
    for (let i = 0; i < MAX; i += 1) {
      expectCleanError(
        await request((i % 2 === 0 ? a : b).http)
          .post('/auth/login')
          .send(wrong),
        401,
      );
    }
    for (const instance of [a, b]) {
      const res = await request(instance.http).post('/auth/login').send(ADMIN);
      expectCleanError(res, 429);
      const retryAfter = Number(res.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(120);
    }
  });
});
