import { ADMIN, redisEnv, TEST_SECRET, uniquePrefix } from './support/test-app';
import {
  buildService,
  call,
  CallOptions,
  cookieOf,
  ServiceBuild,
  ServiceProcess,
  startService,
  stopAllServices,
} from './support/service-process';

/**
 * Two real service processes (node dist/main.js) on one Redis, requests alternating between them:
 * whatever one instance does to a session or a login counter, the other sees on its next request.
 */

interface Session {
  cookie: string;
  csrfToken: string;
  id: string;
  userId: string;
}

let ipCounter = 0;
/** A client address of its own per test (TRUST_PROXY=loopback), so the per-IP login limit of one test never leaks into another. */
function clientIp(): string {
  ipCounter += 1;
  return `198.51.100.${ipCounter}`;
}

describe('several service processes on one Redis', () => {
  let build: ServiceBuild | undefined;
  let a: ServiceProcess;
  let b: ServiceProcess;
  const user = { username: `multi-${Date.now().toString(36)}`, password: 'multi-password-1' };

  const on = (svc: ServiceProcess, method: string, path: string, ip: string, options: CallOptions = {}) =>
    call(svc.url, method, path, { ...options, headers: { 'x-forwarded-for': ip, ...options.headers } });

  async function loginOn(
    svc: ServiceProcess,
    ip: string,
    credentials: { username: string; password: string; deviceId?: string },
  ): Promise<Session> {
    const reply = await on(svc, 'POST', '/auth/login', ip, { body: credentials });
    expect({ instance: svc.name, status: reply.status, body: reply.body }).toMatchObject({ status: 200 });
    const body = reply.body as { csrfToken: string; session: { id: string }; user: { id: string } };
    return { cookie: cookieOf(reply), csrfToken: body.csrfToken, id: body.session.id, userId: body.user.id };
  }

  async function profile(svc: ServiceProcess, session: Session, ip: string) {
    const reply = await on(svc, 'GET', '/auth/profile', ip, { cookie: session.cookie });
    return {
      instance: svc.name,
      status: reply.status,
      sessionId: (reply.body as { session?: { id: string } }).session?.id,
    };
  }

  beforeAll(async () => {
    build = await buildService();
    console.log(`service build: ${build.how}`);
    const env = {
      ...redisEnv(),
      REDIS_KEY_PREFIX: uniquePrefix(),
      SESSION_SECRET: TEST_SECRET,
      ADMIN_USERNAME: ADMIN.username,
      ADMIN_PASSWORD: ADMIN.password,
      LOGIN_MAX_FAILURES: '3',
      TRUST_PROXY: 'loopback',
    };
    // Both start at once on an empty prefix: both try to create the first admin, one must win quietly.
    [a, b] = await Promise.all([startService(build.mainJs, env, 'A'), startService(build.mainJs, env, 'B')]);
    const ip = clientIp();
    const admin = await loginOn(b, ip, ADMIN);
    const created = await on(a, 'POST', '/admin/users', ip, {
      cookie: admin.cookie,
      csrfToken: admin.csrfToken,
      body: { ...user, roles: ['user'] },
    });
    expect(created.status).toBe(201);
  }, 120_000);

  afterAll(async () => {
    await stopAllServices();
    build?.remove();
  });

  it('both instances started on the empty store, one of them created the admin, and neither logged an error', () => {
    const created = [a, b].filter((svc) =>
      svc.logs().some((l) => typeof l.msg === 'string' && l.msg.startsWith('Created the first admin')),
    );
    expect(created).toHaveLength(1);
    for (const svc of [a, b]) {
      expect(svc.logs().filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
      expect(svc.stderr).toEqual([]);
    }
  });

  it('a login on A is a live session on B at once, and stays one while requests alternate', async () => {
    const ip = clientIp();
    const session = await loginOn(a, ip, user);
    const seen = [];
    for (const svc of [b, a, b, a, b, a]) seen.push(await profile(svc, session, ip));
    expect(seen).toEqual([b, a, b, a, b, a].map((svc) => ({ instance: svc.name, status: 200, sessionId: session.id })));
    const listed = await on(b, 'GET', '/auth/sessions', ip, { cookie: session.cookie });
    expect(listed.status).toBe(200);
    expect((listed.body as { sessions: { id: string; current: boolean }[] }).sessions).toContainEqual(
      expect.objectContaining({ id: session.id, current: true }),
    );
  });

  it('a logout on B ends the session on A at once', async () => {
    const ip = clientIp();
    const session = await loginOn(a, ip, user);
    expect(await profile(b, session, ip)).toMatchObject({ status: 200 });
    const out = await on(b, 'POST', '/auth/logout', ip, { cookie: session.cookie, csrfToken: session.csrfToken });
    expect(out.status).toBe(200);
    expect(await profile(a, session, ip)).toMatchObject({ instance: 'A', status: 401 });
    expect(await profile(b, session, ip)).toMatchObject({ instance: 'B', status: 401 });
  });

  it('a revocation on A (own session, then admin) is seen by B at once', async () => {
    const ip = clientIp();
    const laptop = await loginOn(a, ip, { ...user, deviceId: 'laptop' });
    const phone = await loginOn(b, ip, { ...user, deviceId: 'phone' });
    expect(await profile(b, phone, ip)).toMatchObject({ status: 200 });

    const revoked = await on(a, 'DELETE', `/auth/sessions/${encodeURIComponent(phone.id)}`, ip, {
      cookie: laptop.cookie,
      csrfToken: laptop.csrfToken,
    });
    expect(revoked.status).toBe(200);
    expect(await profile(b, phone, ip)).toMatchObject({ instance: 'B', status: 401 });
    expect(await profile(a, phone, ip)).toMatchObject({ instance: 'A', status: 401 });
    expect(await profile(b, laptop, ip)).toMatchObject({ instance: 'B', status: 200 });

    const admin = await loginOn(a, ip, ADMIN);
    const byAdmin = await on(a, 'DELETE', `/admin/sessions/${encodeURIComponent(laptop.id)}`, ip, {
      cookie: admin.cookie,
      csrfToken: admin.csrfToken,
    });
    expect(byAdmin.status).toBe(200);
    expect(await profile(b, laptop, ip)).toMatchObject({ instance: 'B', status: 401 });
  });

  it('failed logins alternating A/B add up: the 4th attempt gets 429 on either instance', async () => {
    const ip = clientIp();
    const wrong = { username: user.username, password: 'not-the-password' };
    const statuses = [];
    for (const svc of [a, b, a]) {
      statuses.push({ instance: svc.name, status: (await on(svc, 'POST', '/auth/login', ip, { body: wrong })).status });
    }
    expect(statuses).toEqual([
      { instance: 'A', status: 401 },
      { instance: 'B', status: 401 },
      { instance: 'A', status: 401 },
    ]);
    const limitedOnB = await on(b, 'POST', '/auth/login', ip, { body: wrong });
    expect(limitedOnB.status).toBe(429);
    expect(Number(limitedOnB.headers['retry-after'])).toBeGreaterThan(0);
    // The right password is refused too, on A, and from another address (the username is limited).
    expect((await on(a, 'POST', '/auth/login', ip, { body: user })).status).toBe(429);
    expect((await on(a, 'POST', '/auth/login', clientIp(), { body: user })).status).toBe(429);

    // The failures were counted against the forwarded address (so the per-IP counter above was this
    // test's own), and another user from another address is not limited.
    const admin = await loginOn(b, clientIp(), ADMIN);
    const audit = await on(a, 'GET', '/admin/audit?limit=20', ip, { cookie: admin.cookie });
    const failures = (audit.body as { events: { type: string; subject: string; ip: string | null }[] }).events.filter(
      (e) => e.type === 'login_failure' && e.subject === user.username,
    );
    expect(failures.map((e) => e.ip)).toEqual([ip, ip, ip]);
  });
});
