import { createHmac, randomBytes } from 'node:crypto';
import request from 'supertest';
import { cookieParts, setCookies } from './support/security';
import {
  ADMIN,
  createTestApp,
  dumpPrefix,
  inspectRedis,
  login,
  LoggedIn,
  STORE_KINDS,
  TEST_SECRET,
  TestApp,
} from './support/test-app';

const secret = (label: string): string => `${label}-${randomBytes(9).toString('hex')}`;

/** What cookie-signature (express-session's signer) puts after the dot. */
function signature(sid: string, key: string): string {
  return createHmac('sha256', key).update(sid).digest('base64').replace(/=+$/, '');
}

/** Every form a cookie's secret parts could take in a log line. */
function cookieForms(cookie: string): string[] {
  const { sid, signature: sig } = cookieParts(cookie);
  const value = cookie.slice(cookie.indexOf('=') + 1);
  return [value, decodeURIComponent(value), sid, sid.split('.')[1], sig];
}

describe.each(STORE_KINDS)('secrets stay out of the logs (%s store)', (kind) => {
  let t: TestApp;
  /** Everything that must not be written to a log, by what it is. */
  const secrets: [string, string][] = [
    ['the admin password', ADMIN.password],
    ['the session secret', TEST_SECRET],
  ];
  const keep = (label: string, value: string): string => {
    secrets.push([label, value]);
    return value;
  };

  beforeAll(async () => {
    t = await createTestApp({ store: kind });

    const admin = await login(t.http);
    cookieForms(admin.cookie).forEach((form) => keep('the admin cookie', form));
    keep('the admin CSRF token', admin.csrfToken);
    const asAdmin = (r: request.Test) => r.set('Cookie', admin.cookie).set('X-CSRF-Token', admin.csrfToken);

    const username = `logged-${randomBytes(3).toString('hex')}`;
    const created = keep('a new user’s password', secret('created'));
    const userId = (
      await asAdmin(request(t.http).post('/admin/users'))
        .send({ username, password: created, roles: ['user'] })
        .expect(201)
    ).body.id as string;

    const user = await login(t.http, { username, password: created, deviceId: 'laptop' });
    cookieForms(user.cookie).forEach((form) => keep('the user cookie', form));
    keep('the user CSRF token', user.csrfToken);

    const wrong = keep('a wrong password', secret('wrong'));
    await request(t.http).post('/auth/login').send({ username, password: wrong }).expect(401);
    const guessed = keep('a password tried on an unknown user', secret('guessed'));
    await request(t.http).post('/auth/login').send({ username: 'nobody-here', password: guessed }).expect(401);

    const changed = keep('a changed password', secret('changed'));
    await asAdmin(request(t.http).patch(`/admin/users/${userId}`))
      .send({ password: changed })
      .expect(200);
    const again = await login(t.http, { username, password: changed });
    cookieForms(again.cookie).forEach((form) => keep('a second user cookie', form));
    await request(t.http).post('/auth/logout').set('Cookie', again.cookie).set('X-CSRF-Token', again.csrfToken);

    // Errors that carry a password in what the client sent.
    const invalid = keep('a password in an invalid body', secret('invalid'));
    await request(t.http).post('/auth/login').send({ username: 42, password: invalid }).expect(400);
    const malformed = keep('a password in malformed JSON', secret('malformed'));
    await request(t.http)
      .post('/auth/login')
      .set('Content-Type', 'application/json')
      .send(`{"username":"admin","password":"${malformed}"`)
      .expect(400);
    const large = keep('a password in a body over the limit', secret('large'));
    await request(t.http)
      .post('/auth/login')
      .send({ username: 'admin', password: large, pad: 'x'.repeat(20_000) })
      .expect(413);
    const nested = keep('a password in a deeply nested body', secret('nested'));
    await request(t.http)
      .post('/auth/login')
      .set('Content-Type', 'application/json')
      .send(`{"password":"${nested}","username":${'['.repeat(5000)}${']'.repeat(5000)}}`);
    const inQuery = keep('a secret in a query string', secret('query'));
    await request(t.http).get(`/auth/profile?password=${inQuery}`).set('Cookie', admin.cookie).expect(200);
    await request(t.http).post('/auth/logout').set('Cookie', user.cookie).set('X-CSRF-Token', 'A'.repeat(43));
    await request(t.http)
      .get('/auth/profile')
      .set('Cookie', `sid=${encodeURIComponent(`s:${user.csrfToken}.x`)}`);
    await request(t.http).post('/auth/logout').set('Cookie', user.cookie).set('X-CSRF-Token', user.csrfToken);
  });
  afterAll(() => t.close());

  it('wrote a JSON access line for each request it served', () => {
    const lines = t.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
    const served = lines.filter((l) => l.context === 'HTTP');
    expect(served.length).toBeGreaterThanOrEqual(15);
    expect(served).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ method: 'POST', path: '/auth/login', status: 401 }),
        expect.objectContaining({ method: 'PATCH', status: 200 }),
        expect.objectContaining({ method: 'POST', path: '/auth/logout', status: 200 }),
        expect.objectContaining({ method: 'POST', path: '/auth/login', status: 413 }),
      ]),
    );
  });

  it('has no password, cookie, CSRF token or session secret in any log line', () => {
    const text = t.logs.join('\n');
    const found = secrets.filter(([, value]) => text.includes(value) || text.includes(encodeURIComponent(value)));
    expect(found.map(([label]) => label)).toEqual([]);
  });

  if (kind === 'redis') {
    it('has no password or session secret anywhere in Redis', async () => {
      const client = await inspectRedis();
      try {
        const dump = [...(await dumpPrefix(client, t.prefix))].map(([k, v]) => `${k} ${v}`).join('\n');
        const passwords = secrets.filter(([label]) => /password|secret/.test(label) && !/query/.test(label));
        expect(passwords.filter(([, value]) => dump.includes(value)).map(([label]) => label)).toEqual([]);
      } finally {
        await client.close();
      }
    });
  }
});

describe('SESSION_SECRET rotation across instances (redis)', () => {
  const OLD = `old-${randomBytes(24).toString('hex')}`;
  const NEW = `new-${randomBytes(24).toString('hex')}`;
  let old: TestApp;
  let session: LoggedIn;
  const apps: TestApp[] = [];

  /** Another instance on the same Redis and key prefix, with its own SESSION_SECRET list. */
  async function instance(secrets: string): Promise<TestApp> {
    const app = await createTestApp({ store: 'redis', env: { SESSION_SECRET: secrets, REDIS_KEY_PREFIX: old.prefix } });
    apps.push(app);
    return app;
  }

  beforeAll(async () => {
    old = await createTestApp({ store: 'redis', env: { SESSION_SECRET: OLD } });
    session = await login(old.http);
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((app) => app.close()));
  });
  afterAll(() => old.close());

  it('keeps a cookie and CSRF token signed with the old secret working while it is listed after the new one', async () => {
    const rotated = await instance(`${NEW},${OLD}`);
    const profile = await request(rotated.http).get('/auth/profile').set('Cookie', session.cookie).expect(200);
    expect(profile.body.session.id).toBe(session.body.session.id);

    const fresh = await request(rotated.http).get('/auth/csrf').set('Cookie', session.cookie).expect(200);
    expect(fresh.body.csrfToken).not.toBe(session.csrfToken);
    for (const token of [session.csrfToken, fresh.body.csrfToken as string]) {
      await request(rotated.http)
        .delete('/auth/devices/no-such-device')
        .set('Cookie', session.cookie)
        .set('X-CSRF-Token', token)
        .expect(200);
    }
  });

  it('signs new cookies with the first secret', async () => {
    const rotated = await instance(`${NEW},${OLD}`);
    const res = await request(rotated.http).post('/auth/login').send(ADMIN).expect(200);
    const cookie = setCookies(res)[0].split(';')[0];
    const { sid, signature: sig } = cookieParts(cookie);
    expect(sig).toBe(signature(sid, NEW));
    expect(sig).not.toBe(signature(sid, OLD));
  });

  it('accepts new cookies on instances that list the new secret second (the first step of a rolling rotation)', async () => {
    const rotated = await instance(`${NEW},${OLD}`);
    const minted = await login(rotated.http);
    const notYet = await instance(`${OLD},${NEW}`);
    await request(notYet.http).get('/auth/profile').set('Cookie', minted.cookie).expect(200);
    await request(notYet.http)
      .delete('/auth/devices/no-such-device')
      .set('Cookie', minted.cookie)
      .set('X-CSRF-Token', minted.csrfToken)
      .expect(200);
  });

  it('stops accepting the old cookie once the old secret is removed, and keeps the new ones', async () => {
    const rotated = await instance(`${NEW},${OLD}`);
    const minted = await login(rotated.http);
    const retired = await instance(NEW);
    await request(retired.http).get('/auth/profile').set('Cookie', session.cookie).expect(401);
    await request(retired.http).get('/auth/profile').set('Cookie', minted.cookie).expect(200);
    // The session itself still exists: only its signature is no longer trusted.
    await request(old.http).get('/auth/profile').set('Cookie', session.cookie).expect(200);
  });
});
