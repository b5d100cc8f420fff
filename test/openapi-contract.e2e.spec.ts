import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createContext, runInContext } from 'node:vm';
import request from 'supertest';
import { canonicalJson } from '../src/docs/openapi-document';
import type { SwaggerUiRequest, SwaggerUiResponse } from '../src/docs/swagger-ui';
import { ADMIN, createTestApp, sessionCookie, TestApp } from './support/test-app';

const ROOT = join(__dirname, '..');
const REGENERATE = 'npm run openapi';

interface Schema {
  $ref?: string;
  type?: string;
  oneOf?: Schema[];
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
}
interface Response {
  $ref?: string;
  description: string;
  headers?: Record<string, { $ref?: string }>;
  content?: Record<string, { schema?: Schema }>;
}
interface Operation {
  operationId: string;
  tags?: string[];
  requestBody?: { content: Record<string, { schema: Schema; examples?: Record<string, { value: unknown }> }> };
  responses: Record<string, Response>;
}
interface Document {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, Operation>>;
  components: {
    schemas: Record<string, Schema>;
    headers: Record<string, unknown>;
    securitySchemes: Record<string, unknown>;
  };
}

function operationsOf(doc: Document): { label: string; path: string; op: Operation }[] {
  return Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({ label: `${method.toUpperCase()} ${path}`, path, op })),
  );
}

/** Up to `max` JSON paths where two values differ, for a failure message that says where to look. */
function differences(a: unknown, b: unknown, at = '', out: string[] = [], max = 12): string[] {
  if (out.length >= max) return out;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) {
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${at || '/'}: ${JSON.stringify(a)} ≠ ${JSON.stringify(b)}`);
    return out;
  }
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const key of keys) {
    differences((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key], `${at}/${key}`, out, max);
  }
  return out;
}

describe('OpenAPI contract', () => {
  let t: TestApp;
  let doc: Document;

  beforeAll(async () => {
    t = await createTestApp({ store: 'embedded' });
    doc = (await request(t.http).get('/docs-json').expect(200)).body as Document;
  });
  afterAll(() => t.close());

  it(`is the committed openapi.json, as ${REGENERATE} writes it`, () => {
    const committed = readFileSync(join(ROOT, 'openapi.json'), 'utf8');
    if (canonicalJson(doc) !== committed) {
      const where = differences(JSON.parse(committed), doc);
      throw new Error(
        `openapi.json is not the document the service serves: run \`${REGENERATE}\` and commit openapi.json.\n` +
          `committed ≠ served at:\n  ${where.join('\n  ') || '(key order or formatting only)'}`,
      );
    }
  });

  it('takes info.version from package.json', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(doc.info.version).toBe(pkg.version);
  });

  it('gives every operation a unique camelCase verb operationId', () => {
    const ops = operationsOf(doc);
    const ids = ops.map(({ op }) => op.operationId);
    expect(ids.filter((id) => !/^[a-z]+(?:[A-Z][a-z0-9]*)*$/.test(id))).toEqual([]);
    expect(ids.filter((id, i) => ids.indexOf(id) !== i)).toEqual([]);
    expect(ids.sort()).toEqual(
      [
        'login',
        'logout',
        'getProfile',
        'getCsrfToken',
        'listMySessions',
        'revokeMySession',
        'revokeMyOtherSessions',
        'revokeMyDevice',
        'changePassword',
        'reauthenticate',
        'endImpersonation',
        'getSessionStats',
        'getSessionStatsHistory',
        'listSessions',
        'revokeSession',
        'listUserSessions',
        'revokeUserSessions',
        'createUser',
        'listUsers',
        'updateUser',
        'deleteUser',
        'importUsers',
        'impersonateUser',
        'getAuditLog',
        'getLiveness',
        'getReadiness',
        'getMetrics',
        'verifySession',
      ].sort(),
    );
  });

  it('tags each operation with the one area its path is under', () => {
    const rows = operationsOf(doc).map(({ label, op }) => [label, op.tags]);
    expect(rows).toEqual(rows.map(([label]) => [label, [(label as string).split('/')[1]]]));
    expect(new Set(rows.map(([, tags]) => (tags as string[])[0]))).toEqual(
      new Set(['auth', 'admin', 'health', 'metrics']),
    );
  });

  it('refers every 4xx and 5xx answer of every operation to the ErrorResponse schema', () => {
    const REF = '#/components/schemas/ErrorResponse';
    const refers = (schema: Schema | undefined) =>
      schema?.$ref === REF || (schema?.oneOf ?? []).some((alternative) => alternative.$ref === REF);
    // The one answer without a body: GET /auth/verify's 401, which gateways read by its status alone.
    const bodiless = new Set(['GET /auth/verify 401']);
    const errors = operationsOf(doc).flatMap(({ label, op }) =>
      Object.entries(op.responses)
        .filter(([status]) => Number(status) >= 400 && !bodiless.has(`${label} ${status}`))
        .map(([status, response]) => [`${label} ${status}`, refers(response.content?.['application/json']?.schema)]),
    );
    expect(errors.length).toBeGreaterThan(60);
    expect(errors.filter(([, ok]) => !ok)).toEqual([]);
    expect(doc.paths['/auth/verify'].get.responses['401'].content).toBeUndefined();
  });

  it('documents the errors each kind of operation can answer', () => {
    const statuses = (label: string) =>
      Object.keys(operationsOf(doc).find((o) => o.label === label)!.op.responses).sort();
    expect(statuses('POST /auth/login')).toEqual(['200', '400', '401', '403', '413', '429', '503']);
    expect(statuses('GET /auth/profile')).toEqual(['200', '401', '503']);
    expect(statuses('POST /auth/logout')).toEqual(['200', '401', '403', '503']);
    expect(statuses('PATCH /admin/users/{userId}')).toEqual(['200', '400', '401', '403', '404', '409', '413', '503']);
    expect(statuses('GET /health/ready')).toEqual(['200', '503']);
    expect(statuses('GET /auth/verify')).toEqual(['200', '400', '401', '403', '503']);
  });

  it('describes ErrorResponse as the service writes it', async () => {
    const schema = doc.components.schemas.ErrorResponse;
    expect(schema.required?.sort()).toEqual(['error', 'message', 'statusCode']);
    expect(schema.properties?.statusCode.type).toBe('integer');
    expect(schema.properties?.message.oneOf).toEqual([
      { type: 'string' },
      { type: 'array', items: { type: 'string' } },
    ]);
    expect(schema.properties?.error.type).toBe('string');
    const one = await request(t.http).get('/auth/profile').expect(401);
    const many = await request(t.http).post('/auth/login').send({ username: 7 }).expect(400);
    for (const body of [one.body, many.body])
      expect(Object.keys(body).sort()).toEqual(['error', 'message', 'statusCode']);
    expect(typeof one.body.message).toBe('string');
    expect(Array.isArray(many.body.message)).toBe(true);
  });

  it('documents X-Request-Id on every answer, Retry-After on 429 and 503, the cookie on login', () => {
    const missing: string[] = [];
    for (const { label, op } of operationsOf(doc)) {
      for (const [status, response] of Object.entries(op.responses)) {
        const headers = response.headers ?? {};
        if (headers['X-Request-Id']?.$ref !== '#/components/headers/X-Request-Id')
          missing.push(`${label} ${status} X-Request-Id`);
        const retry = headers['Retry-After']?.$ref === '#/components/headers/Retry-After';
        if (retry !== (status === '429' || status === '503')) missing.push(`${label} ${status} Retry-After`);
      }
    }
    expect(missing).toEqual([]);
    expect(Object.keys(doc.components.headers).sort()).toEqual(['Retry-After', 'X-Request-Id']);
    expect(doc.paths['/auth/login'].post.responses['200'].headers?.['Set-Cookie']).toBeDefined();
  });

  it('sets the headers it documents', async () => {
    const res = await request(t.http).get('/health/live').expect(200);
    expect(res.headers['x-request-id']).toBeDefined();
    const login = await request(t.http).post('/auth/login').send(ADMIN).expect(200);
    expect(login.headers['x-request-id']).toBeDefined();
    expect(sessionCookie(login.headers['set-cookie'])).toMatch(/^sid=/);
  });

  it('gives an example for every request body, one the operation accepts', () => {
    const bodies = operationsOf(doc).filter(({ op }) => op.requestBody);
    expect(bodies.map(({ label }) => label).sort()).toEqual([
      'PATCH /admin/users/{userId}',
      'PATCH /auth/password',
      'POST /admin/users',
      'POST /admin/users/import',
      'POST /auth/login',
      'POST /auth/reauthenticate',
    ]);
    for (const { label, op } of bodies) {
      const media = op.requestBody!.content['application/json'];
      const examples = Object.values(media.examples ?? {});
      expect([label, examples.length > 0]).toEqual([label, true]);
      const schema = doc.components.schemas[media.schema.$ref!.replace('#/components/schemas/', '')];
      for (const { value } of examples) {
        const fields = Object.keys(value as object);
        expect([label, fields.filter((f) => !(f in (schema.properties ?? {})))]).toEqual([label, []]);
        expect([label, (schema.required ?? []).filter((f) => !fields.includes(f))]).toEqual([label, []]);
      }
    }
  });

  it('keeps the session cookie and the CSRF header as security schemes', () => {
    expect(doc.components.securitySchemes).toEqual({
      session: { type: 'apiKey', in: 'cookie', name: 'sid' },
      csrf: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token' },
    });
  });
});

describe('Swagger UI sends the CSRF token by itself', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ store: 'embedded' });
  });
  afterAll(() => t.close());

  it('runs only script files: the page has no inline script and its CSP allows none', async () => {
    const page = await request(t.http).get('/docs').redirects(1).expect(200);
    const scripts = page.text.match(/<script\b[^>]*>/g) ?? [];
    expect(scripts.length).toBeGreaterThan(0);
    expect(scripts.filter((tag) => !/\bsrc=/.test(tag))).toEqual([]);
    expect(page.text).toContain('swagger-ui-init.js');
    const scriptSrc = /script-src ([^;]*)/.exec(String(page.headers['content-security-policy']))?.[1];
    expect(scriptSrc?.trim()).toBe("'self'");
  });

  it('has the interceptors in /docs/swagger-ui-init.js, and they remember and send the token', async () => {
    const init = await request(t.http).get('/docs/swagger-ui-init.js').expect(200);
    expect(init.headers['content-type']).toMatch(/javascript/);
    expect(init.text).toContain('requestInterceptor');
    expect(init.text).toContain('responseInterceptor');

    // The script as a browser would run it, with Swagger UI's bundle replaced by a recorder.
    const origin = 'http://127.0.0.1:3000';
    const configured: Record<string, unknown>[] = [];
    const preauthorized: [string, string][] = [];
    const context = createContext({
      URL,
      location: { href: `${origin}/docs`, origin, search: '' },
      SwaggerUIStandalonePreset: {},
      SwaggerUIBundle: Object.assign(
        (options: Record<string, unknown>) => {
          configured.push(options);
          return { preauthorizeApiKey: (scheme: string, value: string) => preauthorized.push([scheme, value]) };
        },
        { presets: { apis: {} }, plugins: { DownloadUrl: {} } },
      ),
    });
    runInContext('var window = globalThis;', context);
    runInContext(init.text, context);
    runInContext('window.onload();', context);
    expect(configured).toHaveLength(1);
    const options = configured[0];
    expect(options).toMatchObject({ withCredentials: true, persistAuthorization: true });
    const send = options.requestInterceptor as (req: SwaggerUiRequest) => SwaggerUiRequest;
    const seen = options.responseInterceptor as (res: SwaggerUiResponse) => SwaggerUiResponse;
    const post = (url = `${origin}/auth/logout`, method = 'POST') => send({ url, method, headers: {} }).headers ?? {};

    expect(post()['X-CSRF-Token']).toBeUndefined();

    // A real login: the token it returns is what the next state-changing call carries.
    const login = await request(t.http).post('/auth/login').send(ADMIN).expect(200);
    seen({ url: `${origin}/auth/login`, ok: true, body: login.body });
    const token = (login.body as { csrfToken: string }).csrfToken;
    expect(preauthorized).toEqual([['csrf', token]]);
    expect(post()['X-CSRF-Token']).toBe(token);
    expect(post(`${origin}/admin/users/x`, 'delete')['X-CSRF-Token']).toBe(token);
    expect(post(`${origin}/auth/profile`, 'GET')['X-CSRF-Token']).toBeUndefined();
    expect(post('https://elsewhere.example/auth/logout')['X-CSRF-Token']).toBeUndefined();
    expect(
      send({ url: `${origin}/auth/logout`, method: 'POST', headers: { 'X-CSRF-Token': 'typed' } }).headers,
    ).toEqual({
      'X-CSRF-Token': 'typed',
    });
    await request(t.http)
      .post('/auth/logout')
      .set('Cookie', sessionCookie(login.headers['set-cookie']))
      .set(post())
      .expect(200);

    seen({ url: `${origin}/auth/csrf`, ok: true, body: { csrfToken: 'from-csrf' } });
    expect(post()['X-CSRF-Token']).toBe('from-csrf');
    seen({ url: `${origin}/auth/login`, ok: false, body: { statusCode: 401 } });
    expect(post()['X-CSRF-Token']).toBe('from-csrf');
    seen({ url: `${origin}/auth/logout`, ok: true, body: { loggedOut: true } });
    expect(post()['X-CSRF-Token']).toBeUndefined();
  });
});

describe('DOCS_ENABLED=false', () => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ store: 'embedded', env: { DOCS_ENABLED: 'false' } });
  });
  afterAll(() => t.close());

  it.each(['/docs', '/docs/', '/docs-json', '/docs-yaml', '/docs/swagger-ui-init.js', '/docs/swagger-ui-bundle.js'])(
    'answers %s with 404',
    async (path) => {
      const res = await request(t.http).get(path).expect(404);
      expect(Object.keys(res.body as object).sort()).toEqual(['error', 'message', 'statusCode']);
    },
  );

  it('serves the API as usual', async () => {
    await request(t.http).get('/health/live').expect(200);
    await request(t.http).post('/auth/login').send(ADMIN).expect(200);
  });
});
