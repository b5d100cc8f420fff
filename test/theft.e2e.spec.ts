import request from 'supertest';
import { browserFamily, networkOf, theftSignal } from '../src/session/theft-signals';
import { newUser, TestUser } from './support/sessions';
import { ADMIN, createTestApp, LoggedIn, login, sessionCookie, STORE_KINDS, TestApp } from './support/test-app';

/**
 * Theft signals: a session used from another client network (IPv4 /24, IPv6 /48) AND another
 * browser family than at its login is recorded once as session_suspicious, counted, and handled as
 * SUSPICIOUS_SESSION_ACTION says. The client address is read through TRUST_PROXY, as in production
 * behind a load balancer.
 */

const CHROME =
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const CHROME_NEWER = CHROME.replace('131.0.0.0', '132.0.0.0');
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const HOME = '198.51.100.7';
const HOME_OTHER_HOST = '198.51.100.201';
const ELSEWHERE = '203.0.113.50';

describe('theft signal rules', () => {
  it('compares IPv4 /24 and IPv6 /48 networks, IPv4-mapped addresses as IPv4', () => {
    expect(networkOf('198.51.100.7')).toBe(networkOf('198.51.100.250'));
    expect(networkOf('198.51.100.7')).not.toBe(networkOf('198.51.101.7'));
    expect(networkOf('::ffff:198.51.100.7')).toBe(networkOf('198.51.100.9'));
    expect(networkOf('2001:db8:1:2::1')).toBe(networkOf('2001:db8:1:ffff::9'));
    expect(networkOf('2001:db8:1::1')).not.toBe(networkOf('2001:db8:2::1'));
    expect(networkOf('not-an-address')).toBe('not-an-address');
  });

  it('compares browser families, not versions', () => {
    expect(browserFamily('Chrome 131.0.0.0')).toBe('Chrome');
    expect(browserFamily('Microsoft Edge 120.0')).toBe('Microsoft Edge');
    expect(browserFamily('')).toBe('');
  });

  it('needs both a new network and a new browser', () => {
    const login = { ip: HOME, browser: 'Chrome 131.0.0.0' };
    expect(theftSignal(login, HOME, FIREFOX)).toBeNull();
    expect(theftSignal(login, HOME_OTHER_HOST, FIREFOX)).toBeNull();
    expect(theftSignal(login, ELSEWHERE, CHROME_NEWER)).toBeNull();
    expect(theftSignal(login, ELSEWHERE, FIREFOX)).toEqual({
      network: { login: '198.51.100.0/24', now: '203.0.113.0/24' },
      browser: { login: 'Chrome', now: 'Firefox' },
    });
  });
});

interface AuditEvent {
  type: string;
  subject: string;
  detail: string | null;
  ip: string | null;
}

describe.each(STORE_KINDS)('theft signals on requests (%s store)', (store) => {
  let admin: LoggedIn;

  async function app(action: string): Promise<TestApp> {
    const t = await createTestApp({ store, env: { TRUST_PROXY: 'true', SUSPICIOUS_SESSION_ACTION: action } });
    admin = await login(t.http);
    return t;
  }

  /** A login from HOME in Chrome; returns the cookie and token. */
  async function loginAtHome(t: TestApp, user: TestUser): Promise<LoggedIn> {
    const res = await request(t.http)
      .post('/auth/login')
      .set('X-Forwarded-For', HOME)
      .set('User-Agent', CHROME)
      .send({ username: user.username, password: user.password })
      .expect(200);
    const body = res.body as LoggedIn['body'];
    return { cookie: sessionCookie(res.headers['set-cookie']), csrfToken: body.csrfToken, body };
  }

  const from = (t: TestApp, ip: string, agent: string, cookie: string) =>
    request(t.http).get('/auth/profile').set('X-Forwarded-For', ip).set('User-Agent', agent).set('Cookie', cookie);

  async function suspicious(t: TestApp, id: string): Promise<AuditEvent[]> {
    const res = await request(t.http)
      .get('/admin/audit?type=session_suspicious&limit=100')
      .set('Cookie', admin.cookie)
      .expect(200);
    return (res.body as { events: AuditEvent[] }).events.filter((e) => e.subject === id);
  }

  async function metric(t: TestApp, action: string): Promise<number> {
    const text = (await request(t.http).get('/metrics').expect(200)).text;
    const line = text.split('\n').find((l) => l.startsWith(`session_suspicious_total{action="${action}"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  describe('SUSPICIOUS_SESSION_ACTION=audit (the default)', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await app('audit');
    });
    afterAll(() => t.close());

    it('records another network and browser once, with both, and lets the session go on', async () => {
      const me = await loginAtHome(t, await newUser(t.http, admin));
      const id = me.body.session.id;
      // Home with another browser, or away with the same one: the same person.
      await from(t, HOME_OTHER_HOST, FIREFOX, me.cookie).expect(200);
      await from(t, ELSEWHERE, CHROME_NEWER, me.cookie).expect(200);
      expect(await suspicious(t, id)).toEqual([]);

      const before = await metric(t, 'audit');
      await Promise.all([1, 2, 3].map(() => from(t, ELSEWHERE, FIREFOX, me.cookie).expect(200)));
      await from(t, ELSEWHERE, FIREFOX, me.cookie).expect(200);

      const events = await suspicious(t, id);
      expect(events).toEqual([
        expect.objectContaining({
          ip: ELSEWHERE,
          detail: 'network 198.51.100.0/24 -> 203.0.113.0/24, browser Chrome -> Firefox; audit',
        }),
      ]);
      expect(await metric(t, 'audit')).toBe(before + 1);
      const sessions = await request(t.http)
        .get(`/admin/sessions?userId=${me.body.user.id}`)
        .set('Cookie', admin.cookie)
        .expect(200);
      expect((sessions.body as { sessions: { suspicion: string }[] }).sessions).toEqual([
        expect.objectContaining({ suspicion: 'flagged' }),
      ]);
    });
  });

  describe('SUSPICIOUS_SESSION_ACTION=reauthenticate', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await app('reauthenticate');
    });
    afterAll(() => t.close());

    it('blocks the session but for re-authentication, the CSRF token and logout, until the password is proved', async () => {
      const user = await newUser(t.http, admin);
      const me = await loginAtHome(t, user);
      const blocked = await from(t, ELSEWHERE, FIREFOX, me.cookie).expect(403);
      expect(blocked.body).toMatchObject({ statusCode: 403, error: 'Forbidden', code: 'reauthentication_required' });
      // Blocked from anywhere, the login's own network too, until the password is proved.
      await from(t, HOME, CHROME, me.cookie).expect(403);
      await request(t.http).get('/auth/sessions').set('Cookie', me.cookie).expect(403);
      await request(t.http).get('/auth/csrf').set('Cookie', me.cookie).expect(200);
      await request(t.http)
        .post('/auth/reauthenticate')
        .set('Cookie', me.cookie)
        .set('X-CSRF-Token', me.csrfToken)
        .send({ password: 'not-the-password' })
        .expect(403);
      await from(t, HOME, CHROME, me.cookie).expect(403);
      // Behind a gateway too: GET /auth/verify refuses the blocked session.
      const verify = await request(t.http).get('/auth/verify').set('Cookie', me.cookie).expect(403);
      expect(verify.body).toMatchObject({ code: 'reauthentication_required' });
      expect(verify.headers['x-user-id']).toBeUndefined();

      await request(t.http)
        .post('/auth/reauthenticate')
        .set('Cookie', me.cookie)
        .set('X-CSRF-Token', me.csrfToken)
        .send({ password: user.password })
        .expect(200);
      await from(t, HOME, CHROME, me.cookie).expect(200);
      await request(t.http).get('/auth/verify').set('Cookie', me.cookie).expect(200);
      // Seen once: the same move again is not recorded or blocked a second time.
      await from(t, ELSEWHERE, FIREFOX, me.cookie).expect(200);
      expect(await suspicious(t, me.body.session.id)).toHaveLength(1);
    });

    it('lets a blocked session sign out', async () => {
      const me = await loginAtHome(t, await newUser(t.http, admin));
      await from(t, ELSEWHERE, FIREFOX, me.cookie).expect(403);
      await request(t.http).post('/auth/logout').set('Cookie', me.cookie).set('X-CSRF-Token', me.csrfToken).expect(200);
      await from(t, HOME, CHROME, me.cookie).expect(401);
    });
  });

  describe('SUSPICIOUS_SESSION_ACTION=revoke', () => {
    let t: TestApp;
    beforeAll(async () => {
      t = await app('revoke');
    });
    afterAll(() => t.close());

    it('ends the session at the first such request, on every device that holds the cookie', async () => {
      const me = await loginAtHome(t, await newUser(t.http, admin));
      await from(t, ELSEWHERE, FIREFOX, me.cookie).expect(401);
      await from(t, HOME, CHROME, me.cookie).expect(401);
      expect(await suspicious(t, me.body.session.id)).toHaveLength(1);
      const audit = await request(t.http).get('/admin/audit?type=session_revoked').set('Cookie', admin.cookie);
      expect((audit.body as { events: AuditEvent[] }).events).toContainEqual(
        expect.objectContaining({ subject: me.body.session.id, detail: expect.stringContaining('another network') }),
      );
      expect(await metric(t, 'revoke')).toBeGreaterThanOrEqual(1);
    });
  });

  it('never flags a session used from the address it logged in from, whatever the browser', async () => {
    const t = await app('revoke');
    try {
      const me = await request(t.http).post('/auth/login').set('User-Agent', FIREFOX).send(ADMIN).expect(200);
      const cookie = sessionCookie(me.headers['set-cookie']);
      for (let i = 0; i < 3; i++)
        await request(t.http).get('/auth/profile').set('User-Agent', CHROME).set('Cookie', cookie).expect(200);
    } finally {
      await t.close();
    }
  });
});
