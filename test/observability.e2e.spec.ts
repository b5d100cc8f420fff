import { Controller, Get, Logger, Module } from '@nestjs/common';
import request from 'supertest';
import { Public } from '../src/auth/auth.decorators';
import { ADMIN, createTestApp, login, STORE_KINDS, TestApp } from './support/test-app';

/** A route that logs while it serves, so the test can see the request id on a line the code wrote. */
@Controller('test')
class LoggingController {
  private readonly logger = new Logger('LoggingController');

  @Public()
  @Get('log')
  log(): { ok: true } {
    this.logger.log('serving a request');
    return { ok: true };
  }
}

@Module({ controllers: [LoggingController] })
class LoggingModule {}

interface LogLine {
  level: string;
  context: string;
  requestId?: string;
  msg?: string;
  path?: string;
  status?: number;
}

const parse = (t: TestApp): LogLine[] => t.logs.map((line) => JSON.parse(line) as LogLine);

describe.each(STORE_KINDS)('observability (%s store)', (store) => {
  let t: TestApp;

  beforeAll(async () => {
    t = await createTestApp({ store, imports: [LoggingModule] });
  });
  afterAll(() => t.close());

  describe('logs', () => {
    it('writes one JSON object per line', () => {
      expect(t.logs.length).toBeGreaterThan(0);
      for (const line of t.logs) {
        expect(line.endsWith('\n')).toBe(true);
        expect(() => JSON.parse(line) as unknown).not.toThrow();
      }
    });

    it('puts the request id on every line written while serving a request, and echoes it', async () => {
      const res = await request(t.http).get('/test/log').set('X-Request-Id', 'trace-abc-123').expect(200);
      expect(res.headers['x-request-id']).toBe('trace-abc-123');
      const lines = parse(t).filter((l) => l.requestId === 'trace-abc-123');
      expect(lines.map((l) => l.context).sort()).toEqual(['HTTP', 'LoggingController']);
      expect(lines.find((l) => l.context === 'HTTP')).toMatchObject({ path: '/test/log', status: 200 });
    });

    it('mints a fresh request id when the caller sends none or an unusable one', async () => {
      const a = await request(t.http).get('/test/log').expect(200);
      const b = await request(t.http).get('/test/log').set('X-Request-Id', 'not "ok" {}'.repeat(20)).expect(200);
      const ids = [a.headers['x-request-id'], b.headers['x-request-id']];
      for (const id of ids) expect(id).toMatch(/^[0-9a-f-]{36}$/);
      expect(ids[0]).not.toBe(ids[1]);
    });
  });

  describe('/metrics', () => {
    it('exposes request durations by route pattern, logins by outcome, live sessions and process metrics', async () => {
      const admin = await login(t.http);
      await request(t.http).post('/auth/login').send({ username: ADMIN.username, password: 'wrong-password' });
      await request(t.http).get('/auth/profile').set('Cookie', admin.cookie).expect(200);
      const handle = admin.body.session.id;
      await request(t.http)
        .get(`/admin/users/${handle.split('.')[0]}/sessions`)
        .set('Cookie', admin.cookie);

      const res = await request(t.http).get('/metrics').expect(200);
      expect(res.headers['content-type']).toMatch(/^text\/plain/);
      const text = res.text;
      expect(text).toMatch(
        /http_request_duration_seconds_count\{method="GET",route="\/auth\/profile",status="200"\} [1-9]/,
      );
      // The route pattern, never the raw path with ids in it.
      expect(text).toContain('route="/admin/users/:userId/sessions"');
      expect(text).not.toContain(handle.split('.')[0]);
      expect(text).toMatch(/session_logins_total\{outcome="success"\} [1-9]/);
      expect(text).toMatch(/session_logins_total\{outcome="failure"\} [1-9]/);
      expect(text).toMatch(/^sessions_active [1-9]/m);
      expect(text).toMatch(/session_store_duration_seconds_count\{operation="get"\} [1-9]/);
      expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    });

    it('counts the live sessions as the store does', async () => {
      const before = Number(/^sessions_active (\d+)/m.exec((await request(t.http).get('/metrics')).text)?.[1]);
      const extra = await login(t.http);
      const during = Number(/^sessions_active (\d+)/m.exec((await request(t.http).get('/metrics')).text)?.[1]);
      await request(t.http).post('/auth/logout').set('Cookie', extra.cookie).set('X-CSRF-Token', extra.csrfToken);
      const after = Number(/^sessions_active (\d+)/m.exec((await request(t.http).get('/metrics')).text)?.[1]);
      expect([during - before, after - before]).toEqual([1, 0]);
    });

    it('is in the OpenAPI document as getMetrics, public, and needs no session', async () => {
      const doc = (await request(t.http).get('/docs-json').expect(200)).body as {
        paths: Record<string, Record<string, { operationId: string; security?: unknown }>>;
      };
      expect(doc.paths['/metrics'].get).toMatchObject({ operationId: 'getMetrics' });
      expect(doc.paths['/metrics'].get.security).toBeUndefined();
      await request(t.http).get('/metrics').expect(200);
    });
  });
});
