import request from 'supertest';
import { createTestApp, TestApp } from './support/test-app';

interface OpenApiSchema {
  type?: string;
  properties?: Record<string, unknown>;
  required?: string[];
}

interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, { security?: Record<string, string[]>[] }>>;
  components: {
    securitySchemes: Record<string, { type: string; in: string; name: string }>;
    schemas: Record<string, OpenApiSchema>;
  };
}

describe('OpenAPI document and Swagger UI', () => {
  let t: TestApp;
  let doc: OpenApiDocument;

  beforeAll(async () => {
    t = await createTestApp();
    const res = await request(t.http).get('/docs-json').expect(200);
    expect(res.headers['content-type']).toMatch(/application\/json/);
    doc = res.body as OpenApiDocument;
  });
  afterAll(() => t.close());

  it('is an OpenAPI 3 document', () => {
    expect(doc.openapi).toMatch(/^3\./);
  });

  it.each([
    ['/auth/login', 'post'],
    ['/auth/logout', 'post'],
    ['/auth/profile', 'get'],
    ['/auth/csrf', 'get'],
    ['/admin/users', 'post'],
    ['/admin/users', 'get'],
    ['/admin/users/import', 'post'],
  ])('documents %s (%s)', (path, method) => {
    expect(doc.paths[path]).toBeDefined();
    expect(doc.paths[path][method]).toBeDefined();
  });

  it('names the session cookie and the CSRF header as security schemes', () => {
    expect(doc.components.securitySchemes.session).toEqual({ type: 'apiKey', in: 'cookie', name: 'sid' });
    expect(doc.components.securitySchemes.csrf).toEqual({ type: 'apiKey', in: 'header', name: 'X-CSRF-Token' });
  });

  it('marks the state-changing routes with the session cookie and the CSRF header', () => {
    const schemes = (path: string, method: string): string[] =>
      (doc.paths[path][method].security ?? []).flatMap((s) => Object.keys(s));
    expect(schemes('/auth/logout', 'post')).toEqual(expect.arrayContaining(['session', 'csrf']));
    expect(schemes('/admin/users', 'post')).toEqual(expect.arrayContaining(['session', 'csrf']));
    expect(schemes('/admin/users/import', 'post')).toEqual(expect.arrayContaining(['session', 'csrf']));
    expect(schemes('/auth/profile', 'get')).toContain('session');
  });

  it('describes the login body and answer with their properties', () => {
    const { LoginDto, LoginResponseDto } = doc.components.schemas;
    expect(Object.keys(LoginDto.properties ?? {}).sort()).toEqual(['deviceId', 'password', 'username']);
    expect(LoginDto.required).toEqual(expect.arrayContaining(['username', 'password']));
    expect(LoginDto.required).not.toContain('deviceId');
    expect(Object.keys(LoginResponseDto.properties ?? {}).sort()).toEqual(['csrfToken', 'session', 'user']);
  });

  it('serves Swagger UI at /docs under a Content-Security-Policy', async () => {
    const res = await request(t.http).get('/docs').redirects(1).expect(200);
    expect(res.headers['content-type']).toMatch(/text\/html/);
    expect(res.text).toContain('swagger-ui');
    const csp = res.headers['content-security-policy'] as string | undefined;
    expect(csp).toBeDefined();
    expect(csp).toMatch(/default-src 'self'/);
    expect(csp).toMatch(/script-src 'self'/);
  });

  it('needs no session to read the docs', async () => {
    await request(t.http).get('/docs-json').expect(200);
    await request(t.http).get('/docs').redirects(1).expect(200);
  });
});
