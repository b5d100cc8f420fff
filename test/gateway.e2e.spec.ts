import { readFileSync } from 'node:fs';
import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import request from 'supertest';
import { GATEWAY_CONF, Nginx, startNginx } from './support/nginx';
import { as, newUser, TestUser } from './support/sessions';
import { ADMIN, createTestApp, LoggedIn, login, sessionCookie, TestApp } from './support/test-app';

/**
 * Forward-auth behind a real nginx: the service (as main.ts builds it, on Redis) answers nginx's
 * `auth_request` sub-requests to GET /auth/verify, in front of a small app that echoes what reached
 * it. The nginx configuration is test/support/nginx-gateway.conf, the one the README shows.
 */

interface Hit {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** The protected app: answers every request with what it received, and remembers it. */
async function startEchoApp(): Promise<{ server: Server; address: string; hits: Hit[] }> {
  const hits: Hit[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const hit = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      };
      hits.push(hit);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(hit));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, address: `127.0.0.1:${(server.address() as AddressInfo).port}`, hits };
}

const USER_HEADERS = ['x-user-id', 'x-user-name', 'x-user-roles', 'x-session-id'];

function userHeadersOf(hit: Hit): Record<string, string | undefined> {
  return Object.fromEntries(USER_HEADERS.map((name) => [name, hit.headers[name] as string | undefined]));
}

describe('forward-auth behind nginx (auth_request to GET /auth/verify, Redis store)', () => {
  let t: TestApp | undefined;
  let echo: Awaited<ReturnType<typeof startEchoApp>> | undefined;
  let nginx: Nginx | undefined;
  let gateway: string;
  let admin: LoggedIn;
  let alice: TestUser;

  /** Logs in through the gateway, as a browser on the app's origin would. */
  async function loginThroughGateway(user: Pick<TestUser, 'username' | 'password'>): Promise<LoggedIn> {
    const res = await request(gateway).post('/auth/login').send({ username: user.username, password: user.password });
    expect(res.status).toBe(200);
    const body = res.body as LoggedIn['body'];
    return { cookie: sessionCookie(res.headers['set-cookie']), csrfToken: body.csrfToken, body };
  }

  function hitsNow(): number {
    return echo!.hits.length;
  }

  beforeAll(async () => {
    t = await createTestApp({ store: 'redis', env: { TRUST_PROXY: '1' } });
    await t.app.listen(0, '127.0.0.1');
    const service = `127.0.0.1:${(t.http.address() as AddressInfo).port}`;
    admin = await login(t.http);
    alice = await newUser(t.http, admin, ['user']);
    echo = await startEchoApp();
    nginx = await startNginx(readFileSync(GATEWAY_CONF, 'utf8'), { SESSION_SERVICE: service, APP: echo.address });
    gateway = nginx.url;
  });

  afterAll(async () => {
    await nginx?.stop();
    if (echo) {
      echo.server.closeAllConnections();
      await new Promise((resolve) => echo!.server.close(resolve));
    }
    await t?.close();
  });

  it('lets a request with a live session reach the app, with who is calling in X-User-* headers', async () => {
    const session = await loginThroughGateway(alice);
    const before = hitsNow();

    const res = await request(gateway).get('/orders?page=2').set('Cookie', session.cookie).expect(200);

    const hit = res.body as Hit;
    expect(hit.url).toBe('/orders?page=2');
    expect(userHeadersOf(hit)).toEqual({
      'x-user-id': alice.id,
      'x-user-name': alice.username,
      'x-user-roles': 'user',
      'x-session-id': session.body.session.id,
    });
    expect(hitsNow()).toBe(before + 1);
  });

  it('answers 401 without a live session, and the app never sees the request', async () => {
    const before = hitsNow();
    const tries = [
      request(gateway).get('/orders'),
      request(gateway).get('/orders').set('Cookie', 'sid=s%3Anot-a-session.bad-signature'),
      request(gateway).get('/orders').set('Cookie', 'other=1'),
      request(gateway).post('/orders').send({ item: 1 }),
    ];
    for (const attempt of tries) {
      const res = await attempt;
      expect(res.status).toBe(401);
      expect(res.headers['set-cookie']).toBeUndefined();
    }
    expect(hitsNow()).toBe(before);
    expect(nginx!.errorLog()).not.toMatch(/\[(emerg|alert|crit)\]/);
  });

  it('refuses a session at the next request once the user logged out (through the gateway)', async () => {
    const session = await loginThroughGateway(alice);
    await request(gateway).get('/orders').set('Cookie', session.cookie).expect(200);

    await request(gateway)
      .post('/auth/logout')
      .set('Cookie', session.cookie)
      .set('X-CSRF-Token', session.csrfToken)
      .expect(200);
    const before = hitsNow();

    await request(gateway).get('/orders').set('Cookie', session.cookie).expect(401);
    expect(hitsNow()).toBe(before);
  });

  it('refuses a session at the next request once an admin revoked it', async () => {
    const session = await loginThroughGateway(alice);
    await request(gateway).get('/orders').set('Cookie', session.cookie).expect(200);

    await as(t!.http, admin)
      .delete(`/admin/sessions/${encodeURIComponent(session.body.session.id)}`)
      .expect(200);
    const before = hitsNow();

    await request(gateway).get('/orders').set('Cookie', session.cookie).expect(401);
    expect(hitsNow()).toBe(before);
  });

  it("overwrites a client's own X-User-* headers with the session's, and drops them without a session", async () => {
    const session = await loginThroughGateway(alice);
    const forged = {
      'X-User-Id': admin.body.user.id,
      'X-User-Name': ADMIN.username,
      'X-User-Roles': 'admin',
      'X-Session-Id': admin.body.session.id,
    };

    const res = await request(gateway).get('/orders').set('Cookie', session.cookie).set(forged).expect(200);
    expect(userHeadersOf(res.body as Hit)).toEqual({
      'x-user-id': alice.id,
      'x-user-name': alice.username,
      'x-user-roles': 'user',
      'x-session-id': session.body.session.id,
    });

    const before = hitsNow();
    await request(gateway).get('/orders').set(forged).expect(401);
    expect(hitsNow()).toBe(before);
  });

  it('refuses an unsafe method without a valid X-CSRF-Token (403) and passes it with one', async () => {
    const session = await loginThroughGateway(alice);
    const before = hitsNow();

    await request(gateway).post('/orders').set('Cookie', session.cookie).send({ item: 1 }).expect(403);
    await request(gateway)
      .post('/orders')
      .set('Cookie', session.cookie)
      .set('X-CSRF-Token', 'not-the-token')
      .send({ item: 1 })
      .expect(403);
    await request(gateway).delete('/orders/7').set('Cookie', session.cookie).expect(403);
    // A client cannot claim the method was a safe one: the gateway sets both headers itself.
    await request(gateway)
      .post('/orders')
      .set('Cookie', session.cookie)
      .set('X-Forwarded-Method', 'GET')
      .set('X-Original-Method', 'GET')
      .send({ item: 1 })
      .expect(403);
    // Another session's token is not this session's.
    await request(gateway)
      .post('/orders')
      .set('Cookie', session.cookie)
      .set('X-CSRF-Token', admin.csrfToken)
      .send({ item: 1 })
      .expect(403);
    expect(hitsNow()).toBe(before);

    const res = await request(gateway)
      .post('/orders')
      .set('Cookie', session.cookie)
      .set('X-CSRF-Token', session.csrfToken)
      .send({ item: 1 })
      .expect(200);
    const hit = res.body as Hit;
    expect(hit.method).toBe('POST');
    expect(JSON.parse(hit.body)).toEqual({ item: 1 });
    expect(hit.headers['x-user-id']).toBe(alice.id);
    // Safe methods need no token.
    await request(gateway).get('/orders').set('Cookie', session.cookie).expect(200);
    expect(hitsNow()).toBe(before + 2);
  });

  it('keeps an admin-only location (?role=admin) from other users: 403, and 401 without a session', async () => {
    const user = await loginThroughGateway(alice);
    const adminSession = await loginThroughGateway(ADMIN);
    const before = hitsNow();

    await request(gateway).get('/admin-tools/report').set('Cookie', user.cookie).expect(403);
    await request(gateway).get('/admin-tools/report').expect(401);
    expect(hitsNow()).toBe(before);

    const res = await request(gateway).get('/admin-tools/report').set('Cookie', adminSession.cookie).expect(200);
    const hit = res.body as Hit;
    expect(hit.url).toBe('/admin-tools/report');
    expect(hit.headers['x-user-id']).toBe(adminSession.body.user.id);
    expect(String(hit.headers['x-user-roles']).split(',')).toContain('admin');
    // The same user session still reaches the rest of the app.
    await request(gateway).get('/orders').set('Cookie', user.cookie).expect(200);
  });
});

it('runs the nginx configuration the README shows', () => {
  const readme = readFileSync(join(__dirname, '..', 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Protecting other services'));
  const shown = /```nginx\n([\s\S]*?)```/.exec(section)?.[1];
  expect(shown).toBe(readFileSync(GATEWAY_CONF, 'utf8'));
});
