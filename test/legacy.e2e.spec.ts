import { randomBytes } from 'node:crypto';
import type { Express } from 'express';
import type { RedisClientType } from 'redis';
import request from 'supertest';
import { KeyLayout } from '../src/redis/key-layout';
import { LEGACY_COOKIE, legacyApp, legacyLogin, legacySid, LegacyUser, legacyUser } from './support/legacy-app';
import {
  createTestApp,
  inspectRedis,
  LoggedIn,
  login,
  sessionCookie,
  TEST_SECRET,
  TestApp,
  topology,
} from './support/test-app';

/**
 * Teams move from express-session + connect-redis without logging anyone out: the old app runs
 * for real (test/support/legacy-app.ts) on the same Redis with the same secret, its users are
 * imported with their bcrypt hashes, and the service adopts the sessions the old app wrote.
 */

interface Profile {
  userId: string;
  username: string;
  roles: string[];
  session: { id: string; deviceId: string | null; expiresAt: string };
}

function cookiesOf(res: request.Response): string[] {
  return ([] as string[]).concat(res.headers['set-cookie'] ?? []);
}

/** Whether the answer told the browser to drop the old cookie. */
function clearsLegacyCookie(res: request.Response): boolean {
  return cookiesOf(res).some((c) => c.startsWith(`${LEGACY_COOKIE}=;`) && c.includes('Expires=Thu, 01 Jan 1970'));
}

function tamper(cookie: string): string {
  const last = cookie.at(-1) === 'A' ? 'B' : 'A';
  return cookie.slice(0, -1) + last;
}

describe(`Adopting express-session + connect-redis sessions (redis, ${topology()})`, () => {
  let redis: RedisClientType;
  let legacyPrefix: string;
  let old: Express;
  let t: TestApp;
  let admin: LoggedIn;
  const users: Record<string, LegacyUser> = {};
  const ids: Record<string, string> = {};

  const legacyEnv = () => ({ LEGACY_SESSION_COOKIE: LEGACY_COOKIE, LEGACY_SESSION_PREFIX: legacyPrefix });

  async function importUsers(list: { user: LegacyUser; disabled?: boolean }[]): Promise<void> {
    const res = await request(t.http)
      .post('/admin/users/import')
      .set('Cookie', admin.cookie)
      .set('X-CSRF-Token', admin.csrfToken)
      .send({
        users: list.map(({ user, disabled }) => ({
          username: user.username,
          roles: [user.role],
          passwordHash: user.passwordHash,
          disabled,
        })),
      })
      .expect(200);
    expect(res.body).toEqual({ created: list.length, skipped: [] });
    const all = await request(t.http).get('/admin/users').set('Cookie', admin.cookie).expect(200);
    for (const u of (all.body as { users: { id: string; username: string }[] }).users) ids[u.username] = u.id;
  }

  async function sessionsOf(username: string): Promise<{ id: string; deviceId: string | null }[]> {
    const res = await request(t.http).get(`/admin/users/${ids[username]}/sessions`).set('Cookie', admin.cookie);
    expect(res.status).toBe(200);
    return (res.body as { sessions: { id: string; deviceId: string | null }[] }).sessions;
  }

  async function auditOf(type: string): Promise<{ actor: { username: string } | null; subject: string }[]> {
    const res = await request(t.http).get('/admin/audit?limit=100').set('Cookie', admin.cookie).expect(200);
    return (
      res.body as { events: { type: string; actor: { username: string } | null; subject: string }[] }
    ).events.filter((e) => e.type === type);
  }

  async function adoptionsCounted(outcome: string): Promise<number> {
    const text = (await request(t.http).get('/metrics').expect(200)).text;
    const line = text.split('\n').find((l) => l.startsWith(`session_legacy_adoptions_total{outcome="${outcome}"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  beforeAll(async () => {
    redis = await inspectRedis();
    legacyPrefix = `legacy${randomBytes(4).toString('hex')}:`;
    const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];
    for (const [i, name] of names.entries())
      users[name] = await legacyUser(`u${i}`, name, name === 'erin' ? 'admin' : 'user');
    old = legacyApp({ client: redis, prefix: legacyPrefix, secret: TEST_SECRET, users: Object.values(users) });
    t = await createTestApp({ env: legacyEnv() });
    admin = await login(t.http);
    // dave stays unknown to the service; carol is imported disabled.
    await importUsers(
      names.filter((n) => n !== 'dave').map((n) => ({ user: users[n], disabled: n === 'carol' ? true : undefined })),
    );
  });

  afterAll(async () => {
    await t?.close();
    await redis?.close();
  });

  it('serves a request with the old cookie as its user, then moves it to a session of ours', async () => {
    const cookie = await legacyLogin(old, users.alice, 'laptop-1');
    const key = legacyPrefix + legacySid(cookie);
    const ttl = await redis.pTTL(key);
    expect(ttl).toBeGreaterThan(0);
    const before = await adoptionsCounted('adopted');

    const res = await request(t.http).get('/auth/profile').set('Cookie', cookie).expect(200);
    const profile = res.body as Profile;
    expect(profile).toMatchObject({ username: 'alice', userId: ids.alice, roles: ['user'] });
    expect(profile.session.deviceId).toBe('laptop-1');
    // Its end is no later than the old session's (1 h here, before our 2 h idle timeout).
    expect(Date.parse(profile.session.expiresAt)).toBeLessThanOrEqual(t.clock.now() + ttl + 1000);
    expect(Date.parse(profile.session.expiresAt)).toBeGreaterThan(t.clock.now() + ttl - 60_000);
    expect(clearsLegacyCookie(res)).toBe(true);

    // The old session is gone from Redis and from the old app.
    expect(await redis.exists(key)).toBe(0);
    await request(old).get('/me').set('Cookie', cookie).expect(401);

    // The new cookie is an ordinary session of ours: no new cookie, the same session.
    const ours = sessionCookie(cookiesOf(res).filter((c) => !c.startsWith(`${LEGACY_COOKIE}=`)));
    expect(ours.startsWith('sid=s%3A')).toBe(true);
    const again = await request(t.http).get('/auth/profile').set('Cookie', ours).expect(200);
    expect((again.body as Profile).session.id).toBe(profile.session.id);
    expect(again.headers['set-cookie']).toBeUndefined();
    expect(await sessionsOf('alice')).toEqual([
      expect.objectContaining({ id: profile.session.id, deviceId: 'laptop-1' }),
    ]);

    const audited = await auditOf('session_adopted');
    expect(audited).toContainEqual(
      expect.objectContaining({ subject: profile.session.id, actor: expect.objectContaining({ username: 'alice' }) }),
    );
    expect(await adoptionsCounted('adopted')).toBe(before + 1);
  });

  it('GET /auth/verify does not adopt (a gateway drops its cookies): 401, the old session kept for the service', async () => {
    const cookie = await legacyLogin(old, users.judy);
    const key = legacyPrefix + legacySid(cookie);

    const verify = await request(t.http).get('/auth/verify').set('Cookie', cookie).expect(401);
    expect(verify.headers['set-cookie']).toBeUndefined();
    expect(await redis.exists(key)).toBe(1);
    expect(await sessionsOf('judy')).toEqual([]);

    // The first request that reaches the service itself adopts it; the gateway then lets it through.
    const res = await request(t.http).get('/auth/profile').set('Cookie', cookie).expect(200);
    const ours = sessionCookie(cookiesOf(res).filter((c) => !c.startsWith(`${LEGACY_COOKIE}=`)));
    const passed = await request(t.http).get('/auth/verify').set('Cookie', ours).expect(200);
    expect(passed.headers['x-user-name']).toBe('judy');
  });

  it('takes the roles the user has here, not the role the old session held', async () => {
    const cookie = await legacyLogin(old, users.erin);
    const res = await request(t.http).get('/admin/sessions/stats').set('Cookie', cookie).expect(200);
    expect(res.body).toHaveProperty('total');
    const me = await request(t.http)
      .get('/auth/profile')
      .set('Cookie', sessionCookie(cookiesOf(res).filter((c) => !c.startsWith(`${LEGACY_COOKIE}=`))))
      .expect(200);
    expect((me.body as Profile).roles).toEqual(['admin']);
  });

  it('answers a replayed old cookie with 401 and creates nothing', async () => {
    const cookie = await legacyLogin(old, users.bob);
    await request(t.http).get('/auth/profile').set('Cookie', cookie).expect(200);
    expect(await sessionsOf('bob')).toHaveLength(1);
    const missing = await adoptionsCounted('missing');

    const replay = await request(t.http).get('/auth/profile').set('Cookie', cookie).expect(401);
    expect(replay.headers['set-cookie']).toBeUndefined();
    expect(await sessionsOf('bob')).toHaveLength(1);
    expect(await adoptionsCounted('missing')).toBe(missing + 1);
  });

  it('makes one session of two requests sent at once with one old cookie to one instance, and serves both', async () => {
    const cookie = await legacyLogin(old, users.frank);
    const [a, b] = await Promise.all([
      request(t.http).get('/auth/profile').set('Cookie', cookie),
      request(t.http).get('/auth/profile').set('Cookie', cookie),
    ]);
    expect([a.status, b.status]).toEqual([200, 200]);
    expect((a.body as Profile).session.id).toBe((b.body as Profile).session.id);
    expect(await sessionsOf('frank')).toHaveLength(1);
  });

  it('makes one session of the same old cookie sent at once to two instances: the other gets 401', async () => {
    const other = await createTestApp({ env: { ...legacyEnv(), REDIS_KEY_PREFIX: t.prefix } });
    try {
      for (let round = 0; round < 5; round++) {
        const cookie = await legacyLogin(old, users.grace, `phone-${round}`);
        const answers = await Promise.all([
          request(t.http).get('/auth/profile').set('Cookie', cookie),
          request(other.http).get('/auth/profile').set('Cookie', cookie),
        ]);
        expect(answers.map((r) => r.status).sort()).toEqual([200, 401]);
        expect(await sessionsOf('grace')).toHaveLength(round + 1);
      }
    } finally {
      await other.close();
    }
  });

  it('creates nothing for a user unknown here, logs it once and removes the old session', async () => {
    // An instance of its own: Nest's loggers write to the app built last, so its lines are in its logs.
    const own = await createTestApp({ env: { ...legacyEnv(), REDIS_KEY_PREFIX: t.prefix } });
    try {
      const cookie = await legacyLogin(old, users.dave);
      const key = legacyPrefix + legacySid(cookie);
      const logged = () => own.logs.filter((l) => l.includes('Legacy session not adopted') && l.includes('dave'));

      await request(own.http).get('/auth/profile').set('Cookie', cookie).expect(401);
      await request(own.http).get('/auth/profile').set('Cookie', cookie).expect(401);

      expect(logged()).toHaveLength(1);
      expect(logged()[0]).not.toContain(legacySid(cookie));
      expect(await redis.exists(key)).toBe(0);
    } finally {
      await own.close();
    }
    const listed = await request(t.http).get('/admin/users').set('Cookie', admin.cookie).expect(200);
    expect((listed.body as { users: { username: string }[] }).users.map((u) => u.username)).not.toContain('dave');
    expect(await auditOf('session_adoption_refused')).toContainEqual(expect.objectContaining({ subject: 'dave' }));
  });

  it('creates nothing for a disabled user', async () => {
    const cookie = await legacyLogin(old, users.carol);
    await request(t.http).get('/auth/profile').set('Cookie', cookie).expect(401);
    expect(await sessionsOf('carol')).toEqual([]);
  });

  it('ignores a tampered old cookie, and one signed with another secret, without consuming the session', async () => {
    const cookie = await legacyLogin(old, users.heidi);
    const key = legacyPrefix + legacySid(cookie);
    const invalid = await adoptionsCounted('invalid_signature');

    await request(t.http).get('/auth/profile').set('Cookie', tamper(cookie)).expect(401);
    const otherApp = legacyApp({
      client: redis,
      prefix: legacyPrefix,
      secret: 'another-secret-0123456789abcdef',
      users: [users.heidi],
    });
    const foreign = await legacyLogin(otherApp, users.heidi);
    await request(t.http).get('/auth/profile').set('Cookie', foreign).expect(401);

    expect(await adoptionsCounted('invalid_signature')).toBe(invalid + 2);
    expect(await redis.exists(key)).toBe(1);
    expect(await sessionsOf('heidi')).toEqual([]);
    await request(t.http).get('/auth/profile').set('Cookie', cookie).expect(200);
  });

  it('does not adopt an old session that has expired', async () => {
    const shortLived = legacyApp({
      client: redis,
      prefix: legacyPrefix,
      secret: TEST_SECRET,
      users: [users.ivan],
      maxAgeMs: 1000,
    });
    const cookie = await legacyLogin(shortLived, users.ivan);
    const key = legacyPrefix + legacySid(cookie);
    const deadline = Date.now() + 5000;
    while ((await redis.exists(key)) === 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));

    await request(t.http).get('/auth/profile').set('Cookie', cookie).expect(401);
    expect(await sessionsOf('ivan')).toEqual([]);
  });

  it('adopts on a state-changing request too, which still needs our CSRF token', async () => {
    const cookie = await legacyLogin(old, users.ivan);
    const res = await request(t.http).delete('/auth/devices/another-device').set('Cookie', cookie).expect(403);
    const ours = sessionCookie(cookiesOf(res).filter((c) => !c.startsWith(`${LEGACY_COOKIE}=`)));
    const csrf = await request(t.http).get('/auth/csrf').set('Cookie', ours).expect(200);
    const token = (csrf.body as { csrfToken: string }).csrfToken;
    await request(t.http)
      .delete('/auth/devices/another-device')
      .set('Cookie', ours)
      .set('X-CSRF-Token', token)
      .expect(200);

    // It never proved a password to this service: a sensitive action asks for it first.
    const profile = await request(t.http).get('/auth/profile').set('Cookie', ours).expect(200);
    expect((profile.body as { authenticatedAt: string | null }).authenticatedAt).toBeNull();
    const refused = await request(t.http).delete('/auth/sessions').set('Cookie', ours).set('X-CSRF-Token', token);
    expect(refused.status).toBe(403);
    expect((refused.body as { code?: string }).code).toBe('reauthentication_required');
    await request(t.http)
      .post('/auth/reauthenticate')
      .set('Cookie', ours)
      .set('X-CSRF-Token', token)
      .send({ password: users.ivan.password })
      .expect(200);
    await request(t.http).delete('/auth/sessions').set('Cookie', ours).set('X-CSRF-Token', token).expect(200);
  });

  it('logs an imported user in with the old password, then keeps only an argon2id hash', async () => {
    const hashKey = t.app.get(KeyLayout).user(ids.bob);
    expect(await redis.hGet(hashKey, 'hash')).toBe(users.bob.passwordHash);

    await request(t.http).post('/auth/login').send({ username: 'bob', password: 'wrong-password' }).expect(401);
    expect(await redis.hGet(hashKey, 'hash')).toBe(users.bob.passwordHash);

    await login(t.http, { username: 'bob', password: users.bob.password });
    const rehashed = await redis.hGet(hashKey, 'hash');
    expect(rehashed).toMatch(/^\$argon2id\$/);
    await login(t.http, { username: 'bob', password: users.bob.password });
    expect(await redis.hGet(hashKey, 'hash')).toBe(rehashed);
  });

  it('keeps the old session for a later request when a Secure cookie could not come back over plain HTTP', async () => {
    const secure = await createTestApp({ env: { ...legacyEnv(), REDIS_KEY_PREFIX: t.prefix, COOKIE_SECURE: 'true' } });
    try {
      const cookie = await legacyLogin(old, users.alice);
      const res = await request(secure.http).get('/auth/profile').set('Cookie', cookie).expect(401);
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(await redis.exists(legacyPrefix + legacySid(cookie))).toBe(1);
    } finally {
      await secure.close();
    }
  });

  it('adopts an old cookie that has the same name as ours, replacing it instead of clearing it', async () => {
    const same = await createTestApp({
      env: { ...legacyEnv(), REDIS_KEY_PREFIX: t.prefix, SESSION_COOKIE_NAME: LEGACY_COOKIE },
    });
    try {
      const cookie = await legacyLogin(old, users.alice);
      const res = await request(same.http).get('/auth/profile').set('Cookie', cookie).expect(200);
      expect((res.body as Profile).username).toBe('alice');
      const set = cookiesOf(res);
      expect(set).toHaveLength(1);
      expect(set[0]).toMatch(new RegExp(`^${LEGACY_COOKIE.replace('.', '\\.')}=s%3A`));
      expect(clearsLegacyCookie(res)).toBe(false);
      await request(same.http).get('/auth/profile').set('Cookie', set[0].split(';')[0]).expect(200);
    } finally {
      await same.close();
    }
  });

  it('leaves old sessions alone when adoption is off', async () => {
    const off = await createTestApp({ env: { REDIS_KEY_PREFIX: t.prefix } });
    try {
      const cookie = await legacyLogin(old, users.alice);
      await request(off.http).get('/auth/profile').set('Cookie', cookie).expect(401);
      expect(await redis.exists(legacyPrefix + legacySid(cookie))).toBe(1);
    } finally {
      await off.close();
    }
  });

  it('refuses to start when its key prefix overlaps the old one', async () => {
    await expect(
      createTestApp({ env: { LEGACY_SESSION_COOKIE: LEGACY_COOKIE, REDIS_KEY_PREFIX: 'sess:' } }),
    ).rejects.toThrow(/REDIS_KEY_PREFIX \("sess:"\) and LEGACY_SESSION_PREFIX \("sess:"\) overlap.*REDIS_KEY_PREFIX=/s);
  });
});
