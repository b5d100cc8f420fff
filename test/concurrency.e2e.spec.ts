import { Controller, Get, Injectable, Module } from '@nestjs/common';
import request, { Response } from 'supertest';
import { EmbeddedDb } from '../src/redis/embedded-db';
import { KeyLayout } from '../src/redis/key-layout';
import { SESSIONS } from '../src/session/memory-session-store';
import { SessionHandle } from '../src/session/session-ids';
import { PasswordHasher } from '../src/users/password-hasher';
import {
  activityMembers,
  activityWrites,
  as,
  handleOf,
  loginAs,
  newUser,
  profileStatus,
  recordActivityWrites,
  storedSession,
  TestUser,
} from './support/sessions';
import {
  createTestApp,
  inspectRedis,
  LoggedIn,
  login,
  sessionCookie,
  STORE_KINDS,
  StoreKind,
  TestApp,
} from './support/test-app';

/** Holds whoever passes until the test opens it; the test can wait until n have arrived. */
class Gate {
  private arrived = 0;
  private watchers: { n: number; notify: () => void }[] = [];
  private opened!: Promise<void>;
  private openGate!: () => void;

  constructor() {
    this.close();
  }

  close(): void {
    this.arrived = 0;
    this.opened = new Promise((resolve) => (this.openGate = resolve));
  }

  async pass(): Promise<void> {
    this.arrived += 1;
    this.watchers = this.watchers.filter((w) => (this.arrived >= w.n ? (w.notify(), false) : true));
    await this.opened;
  }

  whenArrived(n: number): Promise<void> {
    if (this.arrived >= n) return Promise.resolve();
    return new Promise((notify) => this.watchers.push({ n, notify }));
  }

  open(): void {
    this.openGate();
  }
}

@Injectable()
class HoldGate extends Gate {}

/** A route that is still running when the test ends its session: it has read the session already. */
@Controller('test')
class HoldController {
  constructor(private readonly gate: HoldGate) {}

  @Get('hold')
  async hold(): Promise<{ held: boolean }> {
    await this.gate.pass();
    return { held: true };
  }
}

@Module({ controllers: [HoldController], providers: [HoldGate] })
class HoldModule {}

/** The real hasher, whose password checks can be held after they have decided. */
@Injectable()
class GatedHasher extends PasswordHasher {
  readonly gate = new Gate();
  holding = false;

  override async verify(hash: string, password: string): Promise<boolean> {
    const ok = await super.verify(hash, password);
    if (this.holding) await this.gate.pass();
    return ok;
  }
}

const SECOND = 1000;

/** Where the session could still be found in the store, beyond what the API says. */
async function traces(t: TestApp, store: StoreKind, handle: SessionHandle, roles: string[]): Promise<string[]> {
  if (store === 'embedded') {
    return t.app.get(EmbeddedDb).table(SESSIONS).get(handle.userId)?.has(handle.hash) ? ['embedded record'] : [];
  }
  const redis = await inspectRedis();
  const keys = t.app.get(KeyLayout);
  try {
    const found: string[] = [];
    if ((await redis.hExists(keys.userSessions(handle.userId), handle.hash)) === 1) found.push('session field');
    if ((await activityMembers(redis, t.prefix, roles, handle.userId)).includes(handle.publicId)) {
      found.push('activity index');
    }
    if ((await redis.zScore(keys.capped(keys.activity(roles, handle.hash)), handle.publicId)) !== null) {
      found.push('absolute-deadline index');
    }
    return found;
  } finally {
    await redis.close();
  }
}

/** A user's sessions as the store's indexes hold them (Redis) or as the embedded store holds them. */
async function indexed(t: TestApp, store: StoreKind, user: TestUser): Promise<{ own: string[]; activity: string[] }> {
  if (store === 'embedded') {
    const own = [...(t.app.get(EmbeddedDb).table(SESSIONS).get(user.id)?.keys() ?? [])].map((h) => `${user.id}.${h}`);
    return { own: own.sort(), activity: own.sort() };
  }
  const redis = await inspectRedis();
  try {
    // Every field of the user's sessions hash but the user meta (`~u`) is a session.
    const fields = await redis.hKeys(t.app.get(KeyLayout).userSessions(user.id));
    return {
      own: fields
        .filter((f) => f !== '~u')
        .map((h) => `${user.id}.${h}`)
        .sort(),
      activity: (await activityMembers(redis, t.prefix, user.roles, user.id)).sort(),
    };
  } finally {
    await redis.close();
  }
}

async function ownSessionIds(t: TestApp, who: LoggedIn): Promise<string[]> {
  const res = await as(t.http, who).get('/auth/sessions').expect(200);
  return (res.body as { sessions: { id: string }[] }).sessions.map((s) => s.id).sort();
}

describe.each(STORE_KINDS)('a request in flight when its session ends (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;
  let gate: HoldGate;

  beforeAll(async () => {
    t = await createTestApp({
      store,
      env: { SESSION_TOUCH_INTERVAL: '1' },
      imports: [HoldModule],
      override: recordActivityWrites,
    });
    gate = t.app.get(HoldGate);
  });
  beforeEach(async () => {
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  const endings: [string, (victim: LoggedIn, other: LoggedIn, user: TestUser) => Promise<unknown>][] = [
    ['logout from another request', (victim) => as(t.http, victim).post('/auth/logout').expect(200)],
    ['an admin revoke', (victim) => as(t.http, admin).delete(`/admin/sessions/${victim.body.session.id}`).expect(200)],
    [
      "the user's other session ending all others",
      (_, other) => as(t.http, other).delete('/auth/sessions').expect(200),
    ],
    [
      'a password change',
      (_, __, user) =>
        as(t.http, admin).patch(`/admin/users/${user.id}`).send({ password: 'changed-password' }).expect(200),
    ],
  ];

  it.each(endings)('never brings the session back after %s', async (_, end) => {
    const user = await newUser(t.http, admin);
    const victim = await loginAs(t.http, user);
    const other = await loginAs(t.http, user);
    const handle = handleOf(victim.cookie);
    gate.close();

    // Two requests that have loaded the session; the activity tracker counts each when it ends.
    const held = Promise.all(
      ['/test/hold', '/test/hold'].map((path) =>
        request(t.http)
          .get(path)
          .set('Cookie', victim.cookie)
          .then((res: Response) => res),
      ),
    );
    await gate.whenArrived(2);
    await end(victim, other, user);
    expect(await profileStatus(t.http, victim.cookie)).toBe(401);

    // Past the touch interval, so the held request's activity write is due when it ends.
    t.clock.advance(2 * SECOND);
    gate.open();
    const responses = await held;

    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    const writes = activityWrites(t, handle.publicId);
    expect(writes.length).toBeGreaterThan(0);
    expect(await Promise.all(writes.map((w) => w.result))).toEqual(writes.map(() => false));
    expect(await storedSession(t, handle)).toBeNull();
    expect(await traces(t, store, handle, user.roles)).toEqual([]);
    expect(await profileStatus(t.http, victim.cookie)).toBe(401);
    expect((await as(t.http, admin).get(`/admin/users/${user.id}/sessions`).expect(200)).body.sessions).not.toEqual(
      expect.arrayContaining([expect.objectContaining({ id: handle.publicId })]),
    );
  });

  it('a held request of a live session still counts its activity', async () => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    const handle = handleOf(me.cookie);
    gate.close();
    const held = request(t.http)
      .get('/test/hold')
      .set('Cookie', me.cookie)
      .then((res: Response) => res);
    await gate.whenArrived(1);
    t.clock.advance(2 * SECOND);
    gate.open();

    expect((await held).status).toBe(200);

    const writes = activityWrites(t, handle.publicId);
    expect(writes.map((w) => w.count)).toEqual([1]);
    expect(await writes[0].result).toBe(true);
    expect((await storedSession(t, handle))?.requestCount).toBe(2);
  });
});

describe.each(STORE_KINDS)('simultaneous logins (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;

  let hasher: GatedHasher;

  beforeAll(async () => {
    t = await createTestApp({
      store,
      env: { MAX_SESSIONS_PER_USER: '3' },
      override: (builder) => builder.overrideProvider(PasswordHasher).useClass(GatedHasher),
    });
    hasher = t.app.get<PasswordHasher, GatedHasher>(PasswordHasher);
    admin = await login(t.http);
  });
  afterEach(() => {
    hasher.holding = false;
    hasher.gate.open();
  });
  afterAll(() => t.close());

  it.each([
    ['without device ids', (): string | undefined => undefined, 3],
    ['with distinct device ids', (i: number): string | undefined => `device-${i}`, 3],
    ['all on one device', (): string | undefined => 'the-only-device', 1],
  ])('20 at once %s never leave the user above the limit', async (_, deviceOf, expected) => {
    const user = await newUser(t.http, admin);

    // The password checks (two at a time) are held until all 20 are done, so that all 20 logins
    // create their sessions at the same moment.
    hasher.gate.close();
    hasher.holding = true;
    const inFlight = Promise.all(
      Array.from({ length: 20 }, (__, i) => loginAs(t.http, user, { deviceId: deviceOf(i) })),
    );
    await hasher.gate.whenArrived(20);
    hasher.holding = false;
    hasher.gate.open();
    const logins = await inFlight;

    const statuses = await Promise.all(logins.map((l) => profileStatus(t.http, l.cookie)));
    const live = logins.filter((_l, i) => statuses[i] === 200);
    expect(live).toHaveLength(expected);
    const liveIds = live.map((l) => l.body.session.id).sort();
    expect(await ownSessionIds(t, live[0])).toEqual(liveIds);
    expect(await indexed(t, store, user)).toEqual({ own: liveIds, activity: liveIds });
    const adminView = (await as(t.http, admin).get(`/admin/sessions?userId=${user.id}`).expect(200)).body.sessions as {
      id: string;
    }[];
    expect(adminView.map((s) => s.id).sort()).toEqual(liveIds);

    // Every session a login ended is in the audit log exactly once.
    const audit = (await as(t.http, admin).get('/admin/audit?limit=500').expect(200)).body.events as {
      type: string;
      subject: string;
    }[];
    const revoked = audit
      .filter((e) => e.type === 'session_revoked' && e.subject.startsWith(`${user.id}.`))
      .map((e) => e.subject)
      .sort();
    const ended = logins
      .filter((_l, i) => statuses[i] === 401)
      .map((l) => l.body.session.id)
      .sort();
    expect(revoked).toEqual(ended);
  });
});

describe.each(STORE_KINDS)('a user changed while logins are in flight (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;
  let hasher: GatedHasher;

  beforeAll(async () => {
    t = await createTestApp({
      store,
      override: (builder) => builder.overrideProvider(PasswordHasher).useClass(GatedHasher),
    });
    hasher = t.app.get<PasswordHasher, GatedHasher>(PasswordHasher);
    admin = await login(t.http);
  });
  afterEach(() => {
    hasher.holding = false;
    hasher.gate.open();
  });
  afterAll(() => t.close());

  const attempt = (username: string, password: string) =>
    request(t.http)
      .post('/auth/login')
      .send({ username, password })
      .then((res: Response) => res);

  const changes: [string, (user: TestUser) => Promise<unknown>][] = [
    [
      'password',
      (user) => as(t.http, admin).patch(`/admin/users/${user.id}`).send({ password: 'the-new-password' }).expect(200),
    ],
    [
      'roles',
      (user) =>
        as(t.http, admin)
          .patch(`/admin/users/${user.id}`)
          .send({ roles: ['auditor'] })
          .expect(200),
    ],
    ['disabled', (user) => as(t.http, admin).patch(`/admin/users/${user.id}`).send({ disabled: true }).expect(200)],
    ['deleted', (user) => as(t.http, admin).delete(`/admin/users/${user.id}`).expect(200)],
  ];

  it.each(changes)('logins that checked the password before a %s change create no session', async (_, change) => {
    const user = await newUser(t.http, admin);
    hasher.gate.close();
    hasher.holding = true;

    // Five logins have checked the (old) password and are about to create their sessions.
    const inFlight = Promise.all(Array.from({ length: 5 }, () => attempt(user.username, user.password)));
    await hasher.gate.whenArrived(5);
    hasher.holding = false;
    await change(user);
    hasher.gate.open();
    const results = await inFlight;

    for (const res of results) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ statusCode: 401, message: 'Invalid credentials', error: 'Unauthorized' });
    }
    expect((await as(t.http, admin).get(`/admin/users/${user.id}/sessions`).expect(200)).body.sessions).toEqual([]);
    expect(await indexed(t, store, user)).toEqual({ own: [], activity: [] });
  });

  it('a login refused that way answers exactly like a wrong password: 401 and no cookie', async () => {
    const user = await newUser(t.http, admin);
    hasher.gate.close();
    hasher.holding = true;
    const inFlight = attempt(user.username, user.password);
    await hasher.gate.whenArrived(1);
    hasher.holding = false;
    await as(t.http, admin).patch(`/admin/users/${user.id}`).send({ password: 'the-new-password' }).expect(200);
    hasher.gate.open();
    const refused = await inFlight;
    const wrong = await attempt(user.username, 'not-the-password');

    // A cookie here would tell a guesser that the password was right.
    expect([refused.status, refused.body, refused.headers['set-cookie']]).toEqual([
      wrong.status,
      wrong.body,
      wrong.headers['set-cookie'],
    ]);
  });

  it('no session of a login with the old password survives a password change racing with it', async () => {
    const user = await newUser(t.http, admin);
    const newPassword = 'the-new-password';

    const oldLogins = Array.from({ length: 10 }, () => attempt(user.username, user.password));
    const newLogins = Array.from({ length: 4 }, () => attempt(user.username, newPassword));
    // Change the password once some logins are through and others are still running.
    const change = Promise.race(oldLogins).then(() =>
      as(t.http, admin).patch(`/admin/users/${user.id}`).send({ password: newPassword }).expect(200),
    );
    const [olds, news] = await Promise.all([Promise.all(oldLogins), Promise.all(newLogins), change]);

    expect(olds.some((r) => r.status === 200)).toBe(true);
    for (const res of olds.filter((r) => r.status === 200)) {
      expect(await profileStatus(t.http, sessionCookie(res.headers['set-cookie']))).toBe(401);
    }
    const fromNewPassword = news
      .filter((r) => r.status === 200)
      .map((r) => (r.body as { session: { id: string } }).session.id);
    const listed = (await as(t.http, admin).get(`/admin/users/${user.id}/sessions`).expect(200)).body.sessions as {
      id: string;
    }[];
    for (const s of listed) expect(fromNewPassword).toContain(s.id);

    const after = await loginAs(t.http, { username: user.username, password: newPassword });
    expect(await ownSessionIds(t, after)).toEqual([after.body.session.id, ...listed.map((s) => s.id)].sort());
    await request(t.http).post('/auth/login').send({ username: user.username, password: user.password }).expect(401);
  });
});
