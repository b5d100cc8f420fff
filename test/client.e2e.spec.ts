import { spawnSync } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  createSessionClient,
  type ErrorResponse,
  type SessionClient,
  SessionClientError,
  type SessionClientOptions,
  unwrap,
} from '../clients/typescript/src';
import { ADMIN, createTestApp, TestApp } from './support/test-app';

const GENERATOR = join(__dirname, '..', 'clients', 'typescript', 'scripts', 'generate.mjs');

/** `true` only when A and B are the same type (not merely assignable, as `never` is to anything). */
type SameType<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;

/** Each request as the client handed it to fetch. */
interface Sent {
  method: string;
  path: string;
  cookie: string | null;
  csrf: string | null;
  credentials: string;
}

describe('the typed client (clients/typescript) against the running service', () => {
  let t: TestApp;
  let baseUrl: string;

  beforeAll(async () => {
    t = await createTestApp({ store: 'redis' });
    await t.app.listen(0, '127.0.0.1');
    baseUrl = `http://127.0.0.1:${(t.http.address() as AddressInfo).port}`;
  });
  afterAll(() => t.close());

  function client(options: Partial<SessionClientOptions> = {}): { api: SessionClient; sent: Sent[] } {
    const sent: Sent[] = [];
    const api = createSessionClient({
      baseUrl,
      fetch: (req) => {
        const url = new URL(req.url);
        sent.push({
          method: req.method,
          path: url.pathname,
          cookie: req.headers.get('cookie'),
          csrf: req.headers.get('x-csrf-token'),
          credentials: req.credentials,
        });
        return fetch(req);
      },
      ...options,
    });
    return { api, sent };
  }

  it('logs in, reads the profile and own sessions, revokes one, reads admin figures and logs out', async () => {
    const { api, sent } = client();
    const other = client().api;

    const login = await api.login({ ...ADMIN, deviceId: 'client-laptop' });
    expect(login.user.username).toBe(ADMIN.username);
    expect(api.csrfToken).toBe(login.csrfToken);
    const second = await other.login({ ...ADMIN, deviceId: 'client-phone' });

    const profile = await unwrap(api.GET('/auth/profile'));
    expect(profile).toMatchObject({ username: ADMIN.username, session: { id: login.session.id } });
    expect(sent.at(-1)?.cookie).toMatch(/^sid=/);

    const { sessions } = await unwrap(api.GET('/auth/sessions'));
    expect(sessions.map((s) => [s.id, s.current]).sort()).toEqual(
      [
        [login.session.id, true],
        [second.session.id, false],
      ].sort(),
    );

    const revoked = await unwrap(api.DELETE('/auth/sessions/{id}', { params: { path: { id: second.session.id } } }));
    expect(revoked).toEqual({ revoked: 1 });
    expect(sent.at(-1)).toMatchObject({ method: 'DELETE', csrf: login.csrfToken });

    const stats = await unwrap(api.GET('/admin/sessions/stats'));
    expect(stats.total).toBe(1);
    expect(stats.byRole.admin).toBe(1);
    expect(stats.recentSessions.map((s) => s.id)).toEqual([login.session.id]);

    const page = await unwrap(api.GET('/admin/sessions', { params: { query: { limit: 10 } } }));
    expect(page.sessions.map((s) => s.id)).toEqual([login.session.id]);
    expect(page.nextCursor).toBeNull();

    await api.logout();
    expect(sent.at(-1)).toMatchObject({ method: 'POST', path: '/auth/logout', csrf: login.csrfToken });
    expect(api.csrfToken).toBeUndefined();
  });

  it('answers errors in the typed ErrorResponse shape', async () => {
    const { api } = client();
    await api.login(ADMIN);
    await api.logout();

    const { data, error, response } = await api.GET('/auth/profile');
    expect(data).toBeUndefined();
    expect(response.status).toBe(401);
    // Typed from the generated schema: without ErrorResponse on this answer, this line stops compiling.
    const typed: SameType<typeof error, ErrorResponse | undefined> = true;
    expect(typed).toBe(true);
    expect(error).toEqual({ statusCode: 401, message: 'Authentication required', error: 'Unauthorized' });

    const thrown = await unwrap(api.GET('/auth/profile')).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(SessionClientError);
    expect((thrown as SessionClientError).status).toBe(401);
    expect((thrown as SessionClientError).body.message).toBe('Authentication required');
  });

  it('loses the session when another device revokes it, and keeps it on a wrong password', async () => {
    const { api, sent } = client();
    const admin = client().api;
    const me = await api.login({ ...ADMIN, deviceId: 'client-revoked' });
    await admin.login(ADMIN);

    const wrong = await api.login({ ...ADMIN, password: 'not-the-password' }).catch((e: unknown) => e);
    expect((wrong as SessionClientError).body).toEqual({
      statusCode: 401,
      message: 'Invalid credentials',
      error: 'Unauthorized',
    });
    expect(api.csrfToken).toBe(me.csrfToken);
    await unwrap(api.GET('/auth/profile'));

    await unwrap(admin.DELETE('/admin/sessions/{id}', { params: { path: { id: me.session.id } } }));
    const gone = await api.GET('/auth/profile');
    expect(gone.error?.statusCode).toBe(401);
    // The 401 emptied the jar: the next call goes without the dead cookie and token.
    expect(api.csrfToken).toBeUndefined();
    await api.GET('/auth/profile');
    expect(sent.at(-1)?.cookie).toBeNull();
  });

  it('fetches the CSRF token again and sends it on state-changing calls only', async () => {
    const { api, sent } = client();
    const login = await api.login(ADMIN);
    expect(await api.refreshCsrfToken()).toBe(login.csrfToken);
    expect(sent.at(-1)).toMatchObject({ method: 'GET', path: '/auth/csrf', csrf: null });

    const revoked = await unwrap(api.DELETE('/auth/devices/{deviceId}', { params: { path: { deviceId: 'none' } } }));
    expect(revoked).toEqual({ revoked: 0 });
    expect(sent.at(-1)?.csrf).toBe(login.csrfToken);
    await api.logout();
  });

  it('in browser mode keeps no cookie and asks fetch to send the browser cookie', async () => {
    const { api, sent } = client({ cookieJar: false });
    const login = await api.login(ADMIN);
    expect(api.csrfToken).toBe(login.csrfToken);
    // Outside a browser nothing holds the cookie then: the next call goes without one.
    const profile = await api.GET('/auth/profile');
    expect(profile.error?.statusCode).toBe(401);
    expect(sent.map((s) => s.credentials)).toEqual(['include', 'include']);
    expect(sent.map((s) => s.cookie)).toEqual([null, null]);
  });

  it('follows an impersonation: the new session and its token, then the admin session back', async () => {
    const { api, sent } = client();
    const login = await api.login(ADMIN);
    const user = await unwrap(
      api.POST('/admin/users', { body: { username: `client-imp-${Date.now()}`, password: 'password-123' } }),
    );

    const started = await unwrap(
      api.POST('/admin/users/{userId}/impersonate', { params: { path: { userId: user.id } } }),
    );
    expect(api.csrfToken).toBe(started.csrfToken);
    expect(await unwrap(api.GET('/auth/profile'))).toMatchObject({
      userId: user.id,
      impersonatedBy: { id: login.user.id, username: ADMIN.username },
    });
    // The jar holds both cookies: the impersonation session and the admin's, to return to.
    expect(sent.at(-1)?.cookie).toMatch(/sid-return=/);

    const ended = await unwrap(api.POST('/auth/impersonation/end'));
    expect(ended).toEqual({ ended: true, restored: true, csrfToken: login.csrfToken });
    expect(api.csrfToken).toBe(login.csrfToken);
    expect(sent.at(-1)?.csrf).toBe(started.csrfToken);
    expect(await unwrap(api.GET('/auth/profile'))).toMatchObject({ userId: login.user.id, impersonatedBy: null });
    expect(sent.at(-1)?.cookie).not.toMatch(/sid-return=/);
    await api.logout();
  });

  it('has committed types equal to what openapi.json generates (npm run client:generate)', () => {
    const run = spawnSync(process.execPath, [GENERATOR, '--check'], { encoding: 'utf8' });
    expect(`${run.stdout}${run.stderr}`).toContain('is up to date');
    expect(run.status).toBe(0);
  });
});
