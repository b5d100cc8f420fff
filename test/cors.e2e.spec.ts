import request from 'supertest';
import { PREFLIGHT_MAX_AGE } from '../src/common/cors';
import { as, newUser, loginAs, profileStatus } from './support/sessions';
import { createTestApp, LoggedIn, login, STORE_KINDS, TestApp } from './support/test-app';

/**
 * Frontends on other origins (CORS_ORIGINS): the browser's view of CORS is the headers, so these
 * tests read them; a real browser is not needed to see what it would be told.
 */

const FRONTEND = 'https://app.example.com';
const DEV_FRONTEND = 'http://localhost:5173';
const STRANGER = 'https://evil.example.net';

/** Every CORS response header the answer carries. */
function corsHeaders(res: request.Response): Record<string, string> {
  const headers = res.headers as Record<string, string>;
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith('access-control-')));
}

describe.each(STORE_KINDS)('CORS for frontends on other origins (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({ store, env: { CORS_ORIGINS: `${FRONTEND}, ${DEV_FRONTEND}` } });
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  it('answers a preflight from a listed origin: credentials, the CSRF header, the methods, cached', async () => {
    const res = await request(t.http)
      .options('/auth/sessions')
      .set('Origin', FRONTEND)
      .set('Access-Control-Request-Method', 'DELETE')
      .set('Access-Control-Request-Headers', 'content-type,x-csrf-token')
      .expect(204);

    expect(res.headers['access-control-allow-origin']).toBe(FRONTEND);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-allow-methods'].split(',')).toEqual(
      expect.arrayContaining(['GET', 'POST', 'PATCH', 'DELETE']),
    );
    expect(res.headers['access-control-allow-headers'].toLowerCase().split(',')).toEqual(
      expect.arrayContaining(['content-type', 'x-csrf-token']),
    );
    expect(res.headers['access-control-max-age']).toBe(String(PREFLIGHT_MAX_AGE));
    expect(res.headers.vary).toMatch(/Origin/);
  });

  it('lets a listed origin log in and read its answers, with X-Request-Id and Retry-After exposed', async () => {
    const res = await request(t.http)
      .post('/auth/login')
      .set('Origin', DEV_FRONTEND)
      .send({ username: 'admin', password: 'admin-password-1' })
      .expect(200);

    expect(res.headers['access-control-allow-origin']).toBe(DEV_FRONTEND);
    expect(res.headers['access-control-allow-credentials']).toBe('true');
    expect(res.headers['access-control-expose-headers'].split(',')).toEqual(['X-Request-Id', 'Retry-After']);
    expect(res.headers['set-cookie']).toBeDefined();

    const me = { cookie: admin.cookie, csrfToken: admin.csrfToken };
    const profile = await as(t.http, me).get('/auth/profile').set('Origin', FRONTEND).expect(200);
    expect(profile.headers['access-control-allow-origin']).toBe(FRONTEND);
  });

  it('gives an origin off the list no CORS header, on preflights and requests alike', async () => {
    const preflight = await request(t.http)
      .options('/auth/login')
      .set('Origin', STRANGER)
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'content-type');
    expect(preflight.status).toBeGreaterThanOrEqual(400);
    expect(corsHeaders(preflight)).toEqual({});

    const read = await as(t.http, admin).get('/auth/profile').set('Origin', STRANGER).expect(200);
    expect(corsHeaders(read)).toEqual({});
    // A listed origin differs from a stranger by scheme, port or a trailing part only in name.
    for (const near of ['http://app.example.com', 'https://app.example.com:8443', 'https://app.example.com.evil.net']) {
      const res = await as(t.http, admin).get('/auth/profile').set('Origin', near).expect(200);
      expect([near, corsHeaders(res)]).toEqual([near, {}]);
    }
  });

  it('refuses a state-changing request from an origin off the list before it changes anything', async () => {
    const user = await newUser(t.http, admin);
    const victim = await loginAs(t.http, user);

    const logout = await as(t.http, victim).post('/auth/logout').set('Origin', STRANGER).expect(403);
    expect(logout.body).toEqual({ statusCode: 403, message: 'Origin not allowed', error: 'Forbidden' });
    expect(corsHeaders(logout)).toEqual({});
    await as(t.http, victim).delete('/auth/sessions').set('Origin', 'null').expect(403);
    await request(t.http)
      .post('/auth/login')
      .set('Origin', STRANGER)
      .send({ username: user.username, password: user.password })
      .expect(403);
    expect(await profileStatus(t.http, victim.cookie)).toBe(200);

    // Its own origin (Swagger UI, the console) and calls without Origin (curl, servers) go on.
    const host = `127.0.0.1:${(t.http.address() as { port: number } | null)?.port ?? 0}`;
    await as(t.http, victim).post('/auth/logout').set('Host', host).set('Origin', `http://${host}`).expect(200);
    expect(await profileStatus(t.http, victim.cookie)).toBe(401);
  });
});

describe('without CORS_ORIGINS', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ store: 'embedded' });
  });
  afterAll(() => t.close());

  it('sends no CORS header to anyone and leaves requests with an Origin alone', async () => {
    const preflight = await request(t.http)
      .options('/auth/login')
      .set('Origin', FRONTEND)
      .set('Access-Control-Request-Method', 'POST');
    expect(corsHeaders(preflight)).toEqual({});
    const res = await request(t.http)
      .post('/auth/login')
      .set('Origin', FRONTEND)
      .send({ username: 'admin', password: 'admin-password-1' })
      .expect(200);
    expect(corsHeaders(res)).toEqual({});
  });
});
