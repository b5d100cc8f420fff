import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import request, { Response } from 'supertest';
import { fetchDocument, setCookies } from './support/security';
import { ADMIN, createTestApp, login, LoggedIn, STORE_KINDS, TestApp } from './support/test-app';

/** A production secret: long enough, and without the words production refuses as placeholders. */
const PRODUCTION_SECRET = randomBytes(24).toString('hex');
const HTTPS = { 'X-Forwarded-Proto': 'https' };

function csp(res: Response): Map<string, string[]> {
  const header = res.headers['content-security-policy'] as string | undefined;
  expect(header).toBeDefined();
  return new Map(
    (header ?? '')
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...values]) => [name, values]),
  );
}

/** The attributes of a Set-Cookie line, lower-cased names: `{name, value, path, secure, ...}`. */
function cookieAttributes(line: string): Record<string, string | true> {
  const [pair, ...attributes] = line.split(';').map((p) => p.trim());
  const at = pair.indexOf('=');
  const out: Record<string, string | true> = { name: pair.slice(0, at), value: pair.slice(at + 1) };
  for (const attribute of attributes) {
    const eq = attribute.indexOf('=');
    if (eq < 0) out[attribute.toLowerCase()] = true;
    else out[attribute.slice(0, eq).toLowerCase()] = attribute.slice(eq + 1);
  }
  return out;
}

function sessionSetCookie(res: Response): Record<string, string | true> {
  const lines = setCookies(res);
  expect(lines).toHaveLength(1);
  return cookieAttributes(lines[0]);
}

const responses: [string, (http: Server, admin: LoggedIn) => request.Test][] = [
  ['GET /health/live (200)', (http) => request(http).get('/health/live')],
  ['POST /auth/login (200)', (http) => request(http).post('/auth/login').send(ADMIN)],
  ['GET /auth/profile (200)', (http, admin) => request(http).get('/auth/profile').set('Cookie', admin.cookie)],
  ['GET /auth/profile without a session (401)', (http) => request(http).get('/auth/profile')],
  ['GET /auth/verify (200)', (http, admin) => request(http).get('/auth/verify').set('Cookie', admin.cookie)],
  ['GET /auth/verify without a session (401)', (http) => request(http).get('/auth/verify')],
  [
    'POST /auth/logout without the CSRF token (403)',
    (http, a) => request(http).post('/auth/logout').set('Cookie', a.cookie),
  ],
  ['an unknown route (404)', (http) => request(http).get('/no/such/route')],
  ['an invalid body (400)', (http) => request(http).post('/auth/login').send({ username: 1 })],
  [
    'malformed JSON (400)',
    (http) => request(http).post('/auth/login').set('Content-Type', 'application/json').send('{"username":'),
  ],
  [
    'a body over the limit (413)',
    (http) =>
      request(http)
        .post('/auth/login')
        .send({ username: 'x'.repeat(32_000) }),
  ],
  ['GET /docs-json (200)', (http) => request(http).get('/docs-json')],
  ['GET /docs/ (200)', (http) => request(http).get('/docs/')],
];

describe.each(STORE_KINDS)('security headers (%s store)', (kind) => {
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({ store: kind });
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  it.each(responses)('sets the security headers and no X-Powered-By on %s', async (name, send) => {
    const res = await send(t.http, admin);
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
      'cross-origin-resource-policy': 'same-origin',
    });
    if (name.includes('/docs')) {
      // Swagger UI is a page: helmet's whole set.
      expect(res.headers).toMatchObject({
        'x-frame-options': 'SAMEORIGIN',
        'cross-origin-opener-policy': 'same-origin',
        'x-permitted-cross-domain-policies': 'none',
      });
      expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    } else {
      // JSON: OWASP's REST set; nothing may load it as a document, frame it or run anything in it.
      expect(res.headers['x-frame-options']).toBe('DENY');
      expect(csp(res)).toEqual(
        new Map([
          ['default-src', ["'none'"]],
          ['frame-ancestors', ["'none'"]],
        ]),
      );
    }
    // HSTS over a plain-HTTP development server would lock the host out of HTTP for a year.
    expect(res.headers['strict-transport-security']).toBeUndefined();
  });

  it('has a Content-Security-Policy that runs only the service’s own scripts and cannot be framed', async () => {
    const policy = csp(await request(t.http).get('/docs/'));
    expect(policy.get('default-src')).toEqual(["'self'"]);
    expect(policy.get('script-src')).toEqual(["'self'"]);
    expect(policy.get('script-src-attr')).toEqual(["'none'"]);
    expect(policy.get('object-src')).toEqual(["'none'"]);
    expect(policy.get('base-uri')).toEqual(["'self'"]);
    expect(policy.get('form-action')).toEqual(["'self'"]);
    expect(["'self'", "'none'"]).toContain(policy.get('frame-ancestors')?.join(' '));
  });

  it('serves a Swagger UI whose every script, style and image that policy allows', async () => {
    const page = await request(t.http).get('/docs/').expect(200);
    const policy = csp(page);
    const html = page.text;

    const inlineScripts = [...html.matchAll(/<script(?![^>]*\bsrc=)[^>]*>([\s\S]*?)<\/script>/g)];
    expect(inlineScripts.filter((m) => m[1].trim() !== '')).toEqual([]);
    if (/<style[\s>]/.test(html)) expect(policy.get('style-src')).toContain("'unsafe-inline'");

    const assets = [
      ...[...html.matchAll(/<script[^>]*\bsrc="([^"]+)"/g)].map((m) => ({ url: m[1], type: /javascript/ })),
      ...[...html.matchAll(/<link[^>]*rel="stylesheet"[^>]*href="([^"]+)"/g)].map((m) => ({ url: m[1], type: /css/ })),
    ];
    expect(assets.length).toBeGreaterThanOrEqual(3);
    for (const asset of assets) {
      // Relative or same-origin only: script-src 'self' allows nothing else.
      expect(asset.url).not.toMatch(/^(https?:)?\/\//);
      const path = new URL(asset.url, 'http://service/docs/').pathname;
      const res = await request(t.http).get(path);
      expect({ path, status: res.status }).toEqual({ path, status: 200 });
      expect(res.headers['content-type']).toMatch(asset.type);
    }

    const init = await request(t.http).get('/docs/swagger-ui-init.js').expect(200);
    expect(init.text).toContain('SwaggerUIBundle');
    expect(init.text).toContain('"openapi"');
    const css = await request(t.http).get('/docs/swagger-ui.css').expect(200);
    if (css.text.includes('url("data:') || css.text.includes('url(data:')) {
      expect(policy.get('img-src')).toEqual(expect.arrayContaining(["'self'", 'data:']));
    }
  });

  it('lets no other origin read an answer (no CORS) or preflight a call', async () => {
    const read = await request(t.http)
      .get('/auth/csrf')
      .set('Cookie', admin.cookie)
      .set('Origin', 'https://evil.example')
      .expect(200);
    expect(read.headers['access-control-allow-origin']).toBeUndefined();
    expect(read.headers['access-control-allow-credentials']).toBeUndefined();
    const preflight = await request(t.http)
      .options('/auth/logout')
      .set('Origin', 'https://evil.example')
      .set('Access-Control-Request-Method', 'POST')
      .set('Access-Control-Request-Headers', 'x-csrf-token');
    expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
    expect(preflight.headers['access-control-allow-headers']).toBeUndefined();
  });

  it.each([
    ['a form (urlencoded)', (r: request.Test) => r.type('form').send(ADMIN)],
    ['text/plain holding JSON', (r: request.Test) => r.set('Content-Type', 'text/plain').send(JSON.stringify(ADMIN))],
    ['multipart', (r: request.Test) => r.field('username', ADMIN.username).field('password', ADMIN.password)],
  ])('does not log anyone in from %s, which a cross-site page can send', async (_, body) => {
    const res = await body(request(t.http).post('/auth/login'));
    expect(res.status).toBe(400);
    expect(setCookies(res)).toEqual([]);
  });

  it('tells browsers and proxies not to store any answer that carries session data', async () => {
    const answers: [string, request.Test][] = [
      ['POST /auth/login', request(t.http).post('/auth/login').send(ADMIN)],
      ['GET /auth/profile', request(t.http).get('/auth/profile').set('Cookie', admin.cookie)],
      ['GET /auth/csrf', request(t.http).get('/auth/csrf').set('Cookie', admin.cookie)],
      ['GET /auth/verify', request(t.http).get('/auth/verify').set('Cookie', admin.cookie)],
      ['GET /auth/sessions', request(t.http).get('/auth/sessions').set('Cookie', admin.cookie)],
      ['GET /admin/users', request(t.http).get('/admin/users').set('Cookie', admin.cookie)],
    ];
    const seen: [string, number, string][] = [];
    for (const [label, send] of answers) {
      const res = await send;
      seen.push([label, res.status, String(res.headers['cache-control'])]);
    }
    const expected: [string, number, unknown][] = seen.map(([label]) => [
      label,
      200,
      expect.stringMatching(/no-store/),
    ]);
    expect(seen).toEqual(expected);
  });

  it('sets the cookie HttpOnly, SameSite=Lax, Path=/ and host-only (no Domain)', async () => {
    const cookie = sessionSetCookie(await request(t.http).post('/auth/login').send(ADMIN).expect(200));
    expect(cookie).toMatchObject({ name: 'sid', path: '/', httponly: true, samesite: 'Lax' });
    expect(cookie.domain).toBeUndefined();
  });
});

describe('transport in production (redis)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({
      store: 'redis',
      env: { NODE_ENV: 'production', SESSION_SECRET: PRODUCTION_SECRET, TRUST_PROXY: 'true' },
    });
  });
  afterAll(() => t.close());

  it('sets a __Host- cookie that is Secure, HttpOnly, SameSite=Lax, Path=/ and host-only over HTTPS', async () => {
    const res = await request(t.http).post('/auth/login').set(HTTPS).send(ADMIN).expect(200);
    const cookie = sessionSetCookie(res);
    expect(cookie).toMatchObject({ name: '__Host-sid', path: '/', secure: true, httponly: true, samesite: 'Lax' });
    expect(cookie.domain).toBeUndefined();

    const jar = `${cookie.name}=${cookie.value as string}`;
    await request(t.http).get('/auth/profile').set(HTTPS).set('Cookie', jar).expect(200);
    const logout = await request(t.http)
      .post('/auth/logout')
      .set(HTTPS)
      .set('Cookie', jar)
      .set('X-CSRF-Token', (res.body as { csrfToken: string }).csrfToken)
      .expect(200);
    const cleared = sessionSetCookie(logout);
    expect(cleared).toMatchObject({ name: '__Host-sid', value: '', path: '/', secure: true, httponly: true });
    await request(t.http).get('/auth/profile').set(HTTPS).set('Cookie', jar).expect(401);
  });

  it('never sends the session cookie over plain HTTP', async () => {
    const res = await request(t.http).post('/auth/login').send(ADMIN);
    expect(setCookies(res)).toEqual([]);
  });

  it('sends Strict-Transport-Security for at least 180 days, subdomains included', async () => {
    const res = await request(t.http).get('/health/live').set(HTTPS).expect(200);
    const hsts = String(res.headers['strict-transport-security']);
    expect(Number(/max-age=(\d+)/.exec(hsts)?.[1])).toBeGreaterThanOrEqual(15_552_000);
    expect(hsts).toMatch(/includeSubDomains/);
    expect(res.headers['x-powered-by']).toBeUndefined();
  });

  it('names the __Host- cookie in the OpenAPI document', async () => {
    const doc = await fetchDocument(t.http);
    expect(doc.components.securitySchemes.session.name).toBe('__Host-sid');
  });
});

describe('X-Forwarded-Proto without TRUST_PROXY in production (redis)', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ store: 'redis', env: { NODE_ENV: 'production', SESSION_SECRET: PRODUCTION_SECRET } });
  });
  afterAll(() => t.close());

  it('is not believed: a plain connection that claims HTTPS gets no session and is told why', async () => {
    const res = await request(t.http).post('/auth/login').set(HTTPS).send(ADMIN).expect(400);
    expect(res.body).toMatchObject({ statusCode: 400, message: expect.stringContaining('HTTPS') });
    expect(setCookies(res)).toEqual([]);
  });
});
