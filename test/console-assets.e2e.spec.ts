import express from 'express';
import request from 'supertest';
import { consoleAssets, consoleDir } from '../src/console/console-assets';
import { createTestApp, STORE_KINDS, TestApp } from './support/test-app';

/**
 * How the service serves the admin console's files (the browser suite, console.e2e.spec.ts, drives
 * the app itself). The console is built by `npm run build` and by `npm test` before jest runs.
 */

function directives(policy: string): Map<string, string[]> {
  return new Map(
    policy
      .split(';')
      .map((d) => d.trim().split(/\s+/))
      .filter((parts) => parts[0])
      .map(([name, ...values]) => [name, values]),
  );
}

function assetsOf(html: string): string[] {
  return [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
}

describe('the console build', () => {
  it('is found where npm run build puts it (npm test builds it before jest runs)', () => {
    expect(consoleDir()).toMatch(/console[/\\]dist$/);
  });
});

describe.each(STORE_KINDS)('GET /console (%s store)', (store) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ store });
  });
  afterAll(() => t.close());

  it('answers the page, no-store, under a strict policy of its own', async () => {
    const res = await request(t.http).get('/console').expect(200);
    expect(res.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(res.headers['cache-control']).toBe('no-store');
    expect(res.headers['x-frame-options']).toBe('DENY');
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    const csp = directives(res.headers['content-security-policy']);
    expect(csp.get('script-src')).toEqual(["'self'"]);
    expect(csp.get('style-src')).toEqual(["'self'"]);
    expect(csp.get('connect-src')).toEqual(["'self'"]);
    expect(csp.get('frame-ancestors')).toEqual(["'none'"]);
    expect(csp.get('object-src')).toEqual(["'none'"]);
    expect(res.headers['content-security-policy']).not.toContain('unsafe');
    // Nothing inline that the policy would block, and nothing from another origin.
    const html = res.text;
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/\sstyle=/);
    expect(html).not.toMatch(/\son[a-z]+=/);
    for (const url of assetsOf(html)) expect(url.startsWith('/console/') || url.startsWith('data:')).toBe(true);
  });

  it('answers the same page for every route of the app, and for HEAD without a body', async () => {
    const page = (await request(t.http).get('/console').expect(200)).text;
    for (const path of ['/console/', '/console/sessions', '/console/users', '/console/audit', '/console/me']) {
      expect((await request(t.http).get(path).expect(200)).text).toBe(page);
    }
    const head = await request(t.http).head('/console/sessions').expect(200);
    expect(head.text ?? '').toBe('');
    expect(Number(head.headers['content-length'])).toBe(Buffer.byteLength(page));
  });

  it('serves every asset the page names, with its type, cached for a year as immutable', async () => {
    const page = (await request(t.http).get('/console').expect(200)).text;
    const assets = assetsOf(page).filter((u) => u.startsWith('/console/assets/'));
    expect(assets.some((u) => u.endsWith('.js'))).toBe(true);
    expect(assets.some((u) => u.endsWith('.css'))).toBe(true);
    for (const url of assets) {
      // Hashed names (Vite's name-<hash>.ext): a new build never reuses a cached name.
      expect(url).toMatch(/-[A-Za-z0-9_-]{8,}\.[a-z0-9]+$/);
      const res = await request(t.http).get(url).expect(200);
      expect(res.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(res.headers['content-type']).toMatch(url.endsWith('.js') ? /^text\/javascript/ : /^(text\/css|image\/)/);
      expect(res.headers['content-security-policy']).toContain("script-src 'self'");
    }
  });

  it('answers 404 in the API error shape for a missing file, 405 for other methods, and changes nothing', async () => {
    for (const path of ['/console/assets/nope-12345678.js', '/console/favicon.ico', '/console/assets/../index.html']) {
      const res = await request(t.http).get(path).expect(404);
      expect(res.body).toEqual({ statusCode: 404, message: expect.any(String), error: 'Not Found' });
      expect(res.headers['cache-control']).toBe('no-store');
    }
    const post = await request(t.http).post('/console').send({}).expect(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(post.body).toEqual({
      statusCode: 405,
      message: 'The console is read with GET',
      error: 'Method Not Allowed',
    });
  });

  it('leaves paths that only start alike to the API', async () => {
    const res = await request(t.http).get('/consoles').expect(404);
    expect(res.headers['content-security-policy']).toContain("default-src 'none'");
  });
});

describe('a service whose console was not built', () => {
  it('answers /console with 404 saying how to build it, and passes every other path on', async () => {
    const app = express();
    app.use(consoleAssets(undefined));
    app.use((_req, res) => {
      res.status(299).end();
    });
    const res = await request(app).get('/console/sessions').expect(404);
    expect(res.body).toEqual({
      statusCode: 404,
      message: 'The admin console is not built: run npm run build',
      error: 'Not Found',
    });
    await request(app).get('/auth/profile').expect(299);
  });
});
