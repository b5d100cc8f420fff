import { randomBytes } from 'node:crypto';
import request, { Response } from 'supertest';
import { PasswordHasher } from '../src/users/password-hasher';
import { CountingHasher, expectCleanError, hashParameters } from './support/security';
import { newUser, TestUser } from './support/sessions';
import {
  ADMIN,
  createTestApp,
  dumpPrefix,
  inspectRedis,
  login,
  LoggedIn,
  STORE_KINDS,
  TestApp,
} from './support/test-app';

const MAX_FAILURES = 3;
const WINDOW_SECONDS = 60;

let ips = 0;
/** A client address of the test's own (TRUST_PROXY=true reads it from X-Forwarded-For). */
function newIp(): string {
  ips += 1;
  return `10.${Math.floor(ips / 250)}.${ips % 250}.${(process.pid % 200) + 1}`;
}

function unknownName(): string {
  return `nobody-${randomBytes(4).toString('hex')}`;
}

function attempt(t: TestApp, ip: string, username: string, password: string): Promise<Response> {
  return request(t.http).post('/auth/login').set('X-Forwarded-For', ip).send({ username, password });
}

function expectLimited(res: Response): number {
  expectCleanError(res, 429);
  expect(res.body.message).toMatch(/^Too many failed logins, try again in \d+ s$/);
  const retryAfter = Number(res.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(WINDOW_SECONDS);
  return retryAfter;
}

describe.each(STORE_KINDS)('login limiter (%s store)', (kind) => {
  let t: TestApp;
  let admin: LoggedIn;
  let hasher: CountingHasher;

  beforeAll(async () => {
    t = await createTestApp({
      store: kind,
      env: { LOGIN_MAX_FAILURES: String(MAX_FAILURES), LOGIN_WINDOW: String(WINDOW_SECONDS), TRUST_PROXY: 'true' },
      override: (builder) => builder.overrideProvider(PasswordHasher).useClass(CountingHasher),
    });
    hasher = t.app.get<PasswordHasher, CountingHasher>(PasswordHasher);
    admin = await login(t.http, ADMIN, { 'X-Forwarded-For': newIp() });
  });
  afterAll(() => t.close());

  async function user(): Promise<TestUser> {
    return newUser(t.http, admin);
  }

  describe('per username', () => {
    it('answers 429 with Retry-After after LOGIN_MAX_FAILURES failures, even to the right password', async () => {
      const victim = await user();
      for (let i = 0; i < MAX_FAILURES; i += 1) {
        expectCleanError(await attempt(t, newIp(), victim.username, 'wrong-password'), 401);
      }
      expectLimited(await attempt(t, newIp(), victim.username, victim.password));
    });

    it('counts the username whatever its case or Unicode width', async () => {
      const victim = await user();
      const variants = [victim.username.toUpperCase(), victim.username, victim.username.replace(/u/, '\uff55')];
      for (const name of variants) expectCleanError(await attempt(t, newIp(), name, 'wrong-password'), 401);
      expectLimited(await attempt(t, newIp(), victim.username, victim.password));
    });

    it('limits unknown usernames the same way, so a 429 says nothing about who exists', async () => {
      const nobody = unknownName();
      for (let i = 0; i < MAX_FAILURES; i += 1) {
        expectCleanError(await attempt(t, newIp(), nobody, 'wrong-password'), 401);
      }
      expectLimited(await attempt(t, newIp(), nobody, 'wrong-password'));
    });

    it("a success clears that username's own count", async () => {
      const victim = await user();
      for (let i = 0; i < MAX_FAILURES - 1; i += 1) {
        expectCleanError(await attempt(t, newIp(), victim.username, 'wrong-password'), 401);
      }
      expect((await attempt(t, newIp(), victim.username, victim.password)).status).toBe(200);
      for (let i = 0; i < MAX_FAILURES - 1; i += 1) {
        expectCleanError(await attempt(t, newIp(), victim.username, 'wrong-password'), 401);
      }
      expect((await attempt(t, newIp(), victim.username, victim.password)).status).toBe(200);
    });
  });

  describe('per client IP', () => {
    it('limits one IP guessing many usernames, and not the other IPs', async () => {
      const ip = newIp();
      const victim = await user();
      for (let i = 0; i < MAX_FAILURES; i += 1) {
        expectCleanError(await attempt(t, ip, unknownName(), 'wrong-password'), 401);
      }
      expectLimited(await attempt(t, ip, victim.username, victim.password));
      expect((await attempt(t, newIp(), victim.username, victim.password)).status).toBe(200);
    });

    it("a success does not reset the IP's count for other usernames", async () => {
      const ip = newIp();
      const own = await user();
      for (let i = 0; i < MAX_FAILURES - 1; i += 1) {
        expectCleanError(await attempt(t, ip, unknownName(), 'wrong-password'), 401);
      }
      expect((await attempt(t, ip, own.username, own.password)).status).toBe(200);
      expectCleanError(await attempt(t, ip, unknownName(), 'wrong-password'), 401);
      expectLimited(await attempt(t, ip, unknownName(), 'wrong-password'));
    });

    it('a limited attempt costs no password hash', async () => {
      const ip = newIp();
      for (let i = 0; i < MAX_FAILURES; i += 1) await attempt(t, ip, unknownName(), 'wrong-password');
      hasher.take();
      expectLimited(await attempt(t, ip, unknownName(), 'wrong-password'));
      expectLimited(await attempt(t, ip, admin.body.user.username, ADMIN.password));
      expect(hasher.take()).toEqual([]);
    });

    it('lets more people than LOGIN_MAX_FAILURES log in at once from one address (one NAT)', async () => {
      const ip = newIp();
      const people = await Promise.all(Array.from({ length: 3 * MAX_FAILURES }, () => user()));
      const logins = await Promise.all(people.map((p) => attempt(t, ip, p.username, p.password)));
      expect(logins.map((res) => res.status)).toEqual(people.map(() => 200));
    });

    it('lets a burst of simultaneous guesses check no more than LOGIN_MAX_FAILURES passwords', async () => {
      const ip = newIp();
      const victim = await user();
      hasher.take();
      const burst = await Promise.all(
        Array.from({ length: 4 * MAX_FAILURES }, (_, i) => attempt(t, ip, victim.username, `guess-${i}`)),
      );
      const statuses = burst.map((res) => res.status);
      expect(statuses.filter((s) => s === 401).length).toBeLessThanOrEqual(MAX_FAILURES);
      expect(statuses.filter((s) => s !== 401 && s !== 429)).toEqual([]);
      expect(hasher.take().filter((c) => c.method === 'verify').length).toBeLessThanOrEqual(MAX_FAILURES);
    });
  });

  if (kind === 'embedded') {
    it('lifts the block when LOGIN_WINDOW has passed since the first failure', async () => {
      const ip = newIp();
      const victim = await user();
      for (let i = 0; i < MAX_FAILURES; i += 1) await attempt(t, ip, victim.username, 'wrong-password');
      const retryAfter = expectLimited(await attempt(t, ip, victim.username, victim.password));
      t.clock.advance(retryAfter * 1000 - 2000);
      expectLimited(await attempt(t, ip, victim.username, victim.password));
      t.clock.advance(2001);
      expect((await attempt(t, ip, victim.username, victim.password)).status).toBe(200);
    });
  }

  if (kind === 'redis') {
    describe('what it writes to Redis', () => {
      async function limiterKeys(): Promise<Map<string, number>> {
        const client = await inspectRedis();
        try {
          const keys = [...(await dumpPrefix(client, t.prefix)).keys()].filter((k) => k.includes('{rl:'));
          return new Map(await Promise.all(keys.map(async (k) => [k, await client.pTTL(k)] as [string, number])));
        } finally {
          await client.close();
        }
      }

      it('gives every counter a TTL no longer than LOGIN_WINDOW', async () => {
        await attempt(t, newIp(), unknownName(), 'wrong-password');
        const keys = await limiterKeys();
        expect(keys.size).toBeGreaterThan(0);
        for (const [key, ttl] of keys) {
          expect({ key, expires: ttl > 0 && ttl <= WINDOW_SECONDS * 1000 }).toEqual({ key, expires: true });
        }
      });

      it('names a username by a fixed-size hash, whatever the client sends', async () => {
        const odd = `{x}:${'\u00e9'.repeat(100)}`;
        const before = new Set((await limiterKeys()).keys());
        await attempt(t, newIp(), odd, 'wrong-password');
        const added = [...(await limiterKeys()).keys()].filter((k) => !before.has(k) && k.includes('{rl:u:'));
        expect(added).toHaveLength(1);
        expect(added[0]).toMatch(/\{rl:u:[A-Za-z0-9_-]{22}\}$/);
      });

      it('writes nothing more for an IP once it is limited, however many usernames it tries', async () => {
        const ip = newIp();
        for (let i = 0; i < MAX_FAILURES; i += 1) await attempt(t, ip, unknownName(), 'wrong-password');
        const before = new Set((await limiterKeys()).keys());
        for (let i = 0; i < 10; i += 1) expectLimited(await attempt(t, ip, unknownName(), 'wrong-password'));
        expect([...(await limiterKeys()).keys()].filter((k) => !before.has(k))).toEqual([]);
      });

      it('bounds the key of a client address, whatever the address header holds', async () => {
        const before = new Set((await limiterKeys()).keys());
        await attempt(t, `${'z'.repeat(6000)}}{evil`, unknownName(), 'wrong-password');
        const added = [...(await limiterKeys()).keys()].filter((k) => !before.has(k) && k.includes('{rl:ip:'));
        expect(added).toHaveLength(1);
        expect(added[0].length - t.prefix.length).toBeLessThanOrEqual(64);
      });
    });
  }
});

describe.each(STORE_KINDS)('login limiter without TRUST_PROXY (%s store)', (kind) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({
      store: kind,
      env: { LOGIN_MAX_FAILURES: String(MAX_FAILURES), LOGIN_WINDOW: String(WINDOW_SECONDS) },
    });
  });
  afterAll(() => t.close());

  it('is not sidestepped by a made-up X-Forwarded-For on every attempt', async () => {
    for (let i = 0; i < MAX_FAILURES; i += 1) {
      expectCleanError(await attempt(t, newIp(), unknownName(), 'wrong-password'), 401);
    }
    expectLimited(await attempt(t, newIp(), ADMIN.username, ADMIN.password));
  });
});

describe.each(STORE_KINDS)('password work per login attempt (%s store)', (kind) => {
  let t: TestApp;
  let hasher: CountingHasher;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({
      store: kind,
      override: (builder) => builder.overrideProvider(PasswordHasher).useClass(CountingHasher),
    });
    hasher = t.app.get<PasswordHasher, CountingHasher>(PasswordHasher);
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  async function attemptWork(username: string, password: string): Promise<{ res: Response; calls: string[] }> {
    hasher.take();
    const res = await request(t.http).post('/auth/login').send({ username, password });
    return { res, calls: hasher.take().map((c) => c.method) };
  }

  it('verifies once for a wrong password and burns once (one verification) for an unknown username', async () => {
    const known = await newUser(t.http, admin);
    const wrong = await attemptWork(known.username, 'wrong-password');
    const unknown = await attemptWork(unknownName(), 'wrong-password');
    expect(wrong.calls).toEqual(['verify']);
    expect(unknown.calls).toEqual(['burn', 'verify']);
    expect(unknown.res.body).toEqual(wrong.res.body);
    expect(unknown.res.status).toBe(401);
  });

  it('verifies once for a disabled account, with the same answer', async () => {
    const disabled = await newUser(t.http, admin);
    await request(t.http)
      .patch(`/admin/users/${disabled.id}`)
      .set('Cookie', admin.cookie)
      .set('X-CSRF-Token', admin.csrfToken)
      .send({ disabled: true })
      .expect(200);
    const { res, calls } = await attemptWork(disabled.username, disabled.password);
    expect(calls).toEqual(['verify']);
    expectCleanError(res, 401);
    expect(res.body.message).toBe('Invalid credentials');
  });

  it('burns against a hash of the same algorithm and cost as a real user’s', async () => {
    const known = await newUser(t.http, admin);
    hasher.take();
    await request(t.http).post('/auth/login').send({ username: known.username, password: 'wrong-password' });
    await request(t.http).post('/auth/login').send({ username: unknownName(), password: 'wrong-password' });
    const [real, dummy] = hasher.take().filter((c) => c.method === 'verify');
    expect(hashParameters(real.hash)).toMatch(/^\$argon2id\$v=19\$(?=.*m=\d+)(?=.*t=\d+)(?=.*p=\d+)[mtp=\d,]+$/);
    expect(hashParameters(dummy.hash)).toBe(hashParameters(real.hash));
    expect(dummy.hash).not.toBe(real.hash);
  });
});
