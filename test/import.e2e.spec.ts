import { ServiceUnavailableException } from '@nestjs/common';
import argon2 from 'argon2';
import bcrypt from 'bcrypt';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import request, { Response } from 'supertest';
import { HASHER_BUSY_MESSAGE, PasswordHasher } from '../src/users/password-hasher';
import { User, UserStore } from '../src/users/user-store';
import { errorProblem, expectCleanError } from './support/security';
import { as, loginAs, newUser, profileStatus } from './support/sessions';
import { ADMIN, createTestApp, LoggedIn, login, STORE_KINDS, TestApp } from './support/test-app';

interface Outcome {
  created: number;
  skipped: { username: string; reason: string }[];
}

interface AuditEvent {
  type: string;
  actor: { userId: string; username: string } | null;
  subject: string;
  detail: string | null;
}

/** The real hasher, whose next `failNext` hashes fail as a busy hasher's do (503). */
class FlakyHasher extends PasswordHasher {
  failNext = 0;

  override hash(password: string): Promise<string> {
    if (this.failNext > 0) {
      this.failNext -= 1;
      return Promise.reject(new ServiceUnavailableException(HASHER_BUSY_MESSAGE));
    }
    return super.hash(password);
  }
}

const OWN_HASH = /^\$argon2id\$v=19\$m=19456,p=1,t=2\$/;

let names = 0;
/** A username no test has used yet. */
function uniqueName(stem = 'imp'): string {
  names += 1;
  return `${stem}-${process.pid}-${names}-${randomBytes(3).toString('hex')}`;
}

describe.each(STORE_KINDS)('POST /admin/users/import (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;
  let hasher: FlakyHasher;
  /** bcrypt at cost 4 (fast) made by the bcrypt package, and argon2 of other parameters than ours. */
  const PASSWORD = 'the-old-systems-password';
  let hashes: { b2b: string; b2a: string; b2y: string; argon2id: string; argon2i: string };

  beforeAll(async () => {
    t = await createTestApp({
      store,
      override: (builder) => builder.overrideProvider(PasswordHasher).useClass(FlakyHasher),
    });
    hasher = t.app.get<PasswordHasher, FlakyHasher>(PasswordHasher);
    admin = await login(t.http);
    const b2b = await bcrypt.hash(PASSWORD, 4);
    hashes = {
      b2b,
      b2a: await bcrypt.hash(PASSWORD, await bcrypt.genSalt(4, 'a')),
      b2y: `$2y$${(await bcrypt.hash(PASSWORD, 4)).slice(4)}`,
      argon2id: await argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: 4096, timeCost: 3, parallelism: 1 }),
      argon2i: await argon2.hash(PASSWORD, { type: argon2.argon2i, memoryCost: 8192, timeCost: 2, parallelism: 2 }),
    };
  });
  afterAll(() => t.close());

  const importing = (body: unknown, who: LoggedIn = admin) =>
    as(t.http, who)
      .post('/admin/users/import')
      .send(body as object);

  async function imported(body: unknown): Promise<Outcome> {
    const res = await importing(body).expect(200);
    return res.body as Outcome;
  }

  const users = () => t.app.get(UserStore);
  const stored = async (username: string): Promise<User | null> => users().findByUsername(username);

  async function allUsers(): Promise<unknown> {
    return (await as(t.http, admin).get('/admin/users?limit=1000').expect(200)).body;
  }

  async function audit(type: string): Promise<AuditEvent[]> {
    const res = await as(t.http, admin).get('/admin/audit?limit=500').expect(200);
    return (res.body as { events: AuditEvent[] }).events.filter((e) => e.type === type);
  }

  const attempt = (username: string, password: string): Promise<Response> =>
    request(t.http).post('/auth/login').send({ username, password });

  it('creates users with bcrypt and argon2 hashes, who log in with their old password', async () => {
    const kinds = Object.keys(hashes) as (keyof typeof hashes)[];
    const list = kinds.map((kind, i) => ({
      username: uniqueName(kind),
      passwordHash: hashes[kind],
      ...(i === 1 ? { roles: ['user', 'auditor'] } : {}),
      ...(i === 2 ? { disabled: false } : {}),
    }));
    expect(await imported({ users: list })).toEqual({ created: 5, skipped: [] });

    const listed = (await allUsers()) as { users: { username: string; roles: string[]; disabled: boolean }[] };
    for (const [i, user] of list.entries()) {
      expect(listed.users.find((u) => u.username === user.username)).toMatchObject({
        roles: i === 1 ? ['user', 'auditor'] : ['user'],
        disabled: false,
      });
      const me = await loginAs(t.http, { username: user.username, password: PASSWORD });
      expect(me.body.user.roles).toEqual(i === 1 ? ['user', 'auditor'] : ['user']);
    }
  });

  it('keeps an imported user disabled: the right password does not log them in', async () => {
    const username = uniqueName();
    await imported({ users: [{ username, passwordHash: hashes.b2b, disabled: true }] });
    expectCleanError(await attempt(username, PASSWORD), 401);
    expect((await stored(username))?.passwordHash).toBe(hashes.b2b);
  });

  it('replaces the hash with its own argon2id at the first login; sessions live on and later logins work', async () => {
    const username = uniqueName();
    await imported({ users: [{ username, passwordHash: hashes.b2y }] });
    const before = (await stored(username))!;
    expect(before.passwordHash).toBe(hashes.b2y);

    // A first login whose rehash fails (hasher busy) still logs in, and keeps the old hash.
    hasher.failNext = 1;
    const first = await loginAs(t.http, { username, password: PASSWORD }, { deviceId: 'first' });
    expect(hasher.failNext).toBe(0);
    expect((await stored(username))?.passwordHash).toBe(hashes.b2y);
    const warning = t.logs.find((line) => line.includes(`Could not replace the password hash of user ${before.id}`));
    expect(warning).toBeDefined();

    // The next one stores argon2id: not a password change, so the version stays and no session ends.
    const second = await loginAs(t.http, { username, password: PASSWORD }, { deviceId: 'second' });
    const after = (await stored(username))!;
    expect(after.passwordHash).toMatch(OWN_HASH);
    expect(after.version).toBe(before.version);
    expect(await profileStatus(t.http, first.cookie)).toBe(200);
    expect(await profileStatus(t.http, second.cookie)).toBe(200);
    const sessions = await as(t.http, admin).get(`/admin/users/${before.id}/sessions`).expect(200);
    expect((sessions.body as { sessions: unknown[] }).sessions).toHaveLength(2);

    // Later logins check the new hash, and leave it as it is.
    const third = await loginAs(t.http, { username, password: PASSWORD });
    expect(third.body.user.id).toBe(before.id);
    expect((await stored(username))?.passwordHash).toBe(after.passwordHash);
    expectCleanError(await attempt(username, 'not-the-password'), 401);

    const rehashed = (await audit('password_rehashed')).filter((e) => e.subject === before.id);
    expect(rehashed).toEqual([expect.objectContaining({ actor: null, detail: 'bcrypt:4 → argon2id:m=19456,t=2,p=1' })]);
    const text = t.logs.join('\n');
    for (const secret of [PASSWORD, hashes.b2y, after.passwordHash]) expect(text).not.toContain(secret);
  });

  it('replaces an argon2 hash of other parameters too', async () => {
    const username = uniqueName();
    await imported({ users: [{ username, passwordHash: hashes.argon2i }] });
    await loginAs(t.http, { username, password: PASSWORD });
    expect((await stored(username))?.passwordHash).toMatch(OWN_HASH);
    const user = (await stored(username))!;
    expect((await audit('password_rehashed')).find((e) => e.subject === user.id)?.detail).toBe(
      'argon2i:m=8192,t=2,p=2 → argon2id:m=19456,t=2,p=1',
    );
  });

  it('answers a wrong password for a bcrypt user 401, and changes nothing', async () => {
    const username = uniqueName();
    await imported({ users: [{ username, passwordHash: hashes.b2b }] });
    const before = await stored(username);
    expectCleanError(await attempt(username, 'not-the-password'), 401);
    expect((await attempt(username, 'not-the-password')).body).toEqual(
      (await attempt(uniqueName('nobody'), 'not-the-password')).body,
    );
    expect(await stored(username)).toEqual(before);
    expect((await audit('password_rehashed')).filter((e) => e.subject === before!.id)).toEqual([]);
    expect((await audit('login_failure')).filter((e) => e.subject === username)).toHaveLength(2);
  });

  it('skips every user it will not take, with a reason, and creates the others', async () => {
    const good = [uniqueName(), uniqueName(), uniqueName()];
    const dup = uniqueName('dup');
    const valid = { passwordHash: hashes.b2b };
    const md5crypt = '$1$saltsalt$qjXMvbEw8oaL.CzflDugX/';
    const argon2d = hashes.argon2id.replace('$argon2id$', '$argon2d$');
    const list = [
      { username: good[0], ...valid },
      { username: ADMIN.username.toUpperCase(), ...valid },
      { username: dup, ...valid },
      { username: dup.toUpperCase(), passwordHash: hashes.argon2id },
      { username: 'no spaces!', ...valid },
      { username: 'ab', ...valid },
      { username: uniqueName(), ...valid, roles: ['Admin'] },
      { username: uniqueName(), ...valid, roles: Array.from({ length: 17 }, (_, i) => `role-${i}`) },
      { username: uniqueName(), passwordHash: `$2x$${hashes.b2b.slice(4)}` },
      { username: uniqueName(), passwordHash: hashes.b2b.slice(0, -1) },
      { username: uniqueName(), passwordHash: md5crypt },
      { username: uniqueName(), passwordHash: argon2d },
      { username: uniqueName(), passwordHash: PASSWORD },
      { username: uniqueName(), passwordHash: `$2b$15$${hashes.b2b.slice(7)}` },
      { username: uniqueName(), passwordHash: hashes.argon2id.replace('m=4096', 'm=262145') },
      { username: good[1], passwordHash: hashes.argon2i, roles: ['user', 'user'] },
      { username: good[2], ...valid, roles: [] },
    ];
    const outcome = await imported({ users: list });
    const reasons = [
      [ADMIN.username.toUpperCase(), 'username taken'],
      [dup.toUpperCase(), 'duplicate in this import'],
      ['no spaces!', 'invalid username'],
      ['ab', 'invalid username'],
      [list[6].username, 'invalid roles'],
      [list[7].username, 'invalid roles'],
      [list[8].username, 'unsupported hash format'],
      [list[9].username, 'unsupported hash format'],
      [list[10].username, 'unsupported hash format'],
      [list[11].username, 'unsupported hash format'],
      [list[12].username, 'unsupported hash format'],
      [list[13].username, 'bcrypt cost above 14'],
      [list[14].username, 'argon2 memory above 256 MiB'],
    ];
    expect(outcome).toEqual({ created: 4, skipped: reasons.map(([username, reason]) => ({ username, reason })) });
    expect(JSON.stringify(outcome)).not.toContain('$2');

    // The created ones are whole; the skipped ones are not there at all (the admin is unchanged).
    expect((await stored(dup))?.passwordHash).toBe(hashes.b2b);
    expect((await stored(good[1]))?.roles).toEqual(['user']);
    expect((await stored(good[2]))?.roles).toEqual([]);
    for (const name of [good[0], good[1], good[2], dup]) await loginAs(t.http, { username: name, password: PASSWORD });
    // (The name that came twice exists: its first entry was created.)
    for (const [username] of reasons.slice(2)) expect(await stored(username)).toBeNull();
    expect((await stored(ADMIN.username))?.roles).toEqual(['admin', 'user']);
    await login(t.http);
  });

  it('lets only one of two imports of the same name at once create it', async () => {
    const username = uniqueName();
    const [a, b] = await Promise.all([
      imported({ users: [{ username, passwordHash: hashes.b2b }] }),
      imported({ users: [{ username: username.toUpperCase(), passwordHash: hashes.argon2id }] }),
    ]);
    expect(a.created + b.created).toBe(1);
    expect([...a.skipped, ...b.skipped].map((s) => s.reason)).toEqual(['username taken']);
  });

  it('writes a few chunks of users', async () => {
    const stem = uniqueName('bulk');
    const list = Array.from({ length: 120 }, (_, i) => ({ username: `${stem}-${i}`, passwordHash: hashes.b2b }));
    expect(await imported({ users: list })).toEqual({ created: 120, skipped: [] });
    const listed = (await allUsers()) as { users: { username: string }[] };
    const created = new Set(listed.users.map((u) => u.username));
    expect(list.filter((u) => !created.has(u.username))).toEqual([]);
  });

  it('audits one users_imported event with counts, never a hash', async () => {
    const username = uniqueName();
    await imported({
      users: [
        { username, passwordHash: hashes.b2b },
        { username: uniqueName(), passwordHash: hashes.argon2id },
        { username: uniqueName(), passwordHash: `$2b$15$${hashes.b2b.slice(7)}` },
        { username, passwordHash: hashes.b2a },
      ],
    });
    const [latest] = await audit('users_imported');
    expect(latest).toMatchObject({
      actor: { userId: admin.body.user.id, username: ADMIN.username },
      subject: 'users',
      detail: 'created 2, skipped 2 (bcrypt cost above 14: 1, duplicate in this import: 1)',
    });
    const res = await as(t.http, admin).get('/admin/audit?limit=500').expect(200);
    for (const hash of Object.values(hashes)) expect(res.text).not.toContain(hash.slice(7));
  });

  describe('refusals that write nothing', () => {
    async function expectNothingWritten(send: () => Promise<Response>, status: number): Promise<Response> {
      const before = await allUsers();
      const events = (await audit('users_imported')).length;
      const res = await send();
      expectCleanError(res, status);
      expect(await allUsers()).toEqual(before);
      expect((await audit('users_imported')).length).toBe(events);
      return res;
    }

    it('400s an empty list', async () => {
      const res = await expectNothingWritten(() => importing({ users: [] }), 400);
      expect(res.body.message).toEqual(['users must contain at least 1 elements']);
    });

    it.each([
      ['users not an array', { users: { username: 'x', passwordHash: 'y' } }],
      ['an item that is not an object', { users: [{ username: 'fine-name', passwordHash: 'x' }, 'carol'] }],
      ['a null item', { users: [null] }],
      ['an item that is an array', { users: [[{ username: 'fine-name', passwordHash: 'x' }]] }],
      ['an item that is an empty array', { users: [[]] }],
      ['a username of the wrong type', { users: [{ username: 42, passwordHash: 'x' }] }],
      ['a hash of the wrong type', { users: [{ username: 'fine-name', passwordHash: { $2b: 1 } }] }],
      ['roles of the wrong type', { users: [{ username: 'fine-name', passwordHash: 'x', roles: 'admin' }] }],
      ['disabled of the wrong type', { users: [{ username: 'fine-name', passwordHash: 'x', disabled: 'no' }] }],
      ['a missing hash', { users: [{ username: 'fine-name' }] }],
      ['an unknown field', { users: [{ username: 'fine-name', passwordHash: 'x', id: 'AAAAAAAAAAAA' }] }],
      ['a username of 257 characters', { users: [{ username: 'u'.repeat(257), passwordHash: 'x' }] }],
      ['a hash of 513 characters', { users: [{ username: 'fine-name', passwordHash: `$2b$04$${'a'.repeat(506)}` }] }],
    ])('400s %s, even beside valid users', async (_, body) => {
      const valid = { username: uniqueName(), passwordHash: hashes.b2b };
      const withValid = { ...body, users: Array.isArray(body.users) ? [valid, ...body.users] : body.users };
      await expectNothingWritten(() => importing(withValid), 400);
    });

    it('refuses 1,001 users and writes nothing', async () => {
      const list = Array.from({ length: 1001 }, (_, i) => ({ username: `many-${i}`, passwordHash: hashes.b2b }));
      const before = await allUsers();
      const res = await importing({ users: list });
      expect(res.status).toBe(400);
      expect(JSON.stringify(res.body)).toContain('1000');
      expect(errorProblem(res)).toBeNull();
      expect(await allUsers()).toEqual(before);
    });

    it('imports 1,000 users in one call (the route has a body limit of its own)', async () => {
      const prefix = uniqueName().slice(0, 20);
      const list = Array.from({ length: 1000 }, (_, i) => ({ username: `${prefix}-${i}`, passwordHash: hashes.b2b }));
      const res = await importing({ users: list }).expect(200);
      expect(res.body).toEqual({ created: 1000, skipped: [] });
      const names = new Set<string>();
      let cursor: string | null = '0';
      while (cursor !== null) {
        const page = await as(t.http, admin).get(`/admin/users?limit=1000&cursor=${cursor}`).expect(200);
        const body = page.body as { users: { username: string }[]; nextCursor: string | null };
        for (const u of body.users) names.add(u.username);
        cursor = body.nextCursor;
      }
      expect(list.filter((u) => !names.has(u.username))).toEqual([]);
    });

    it('403s a user without the admin role, and an admin without the CSRF token; 401s without a session', async () => {
      const user = await loginAs(t.http, await newUser(t.http, admin));
      const body = { users: [{ username: uniqueName(), passwordHash: hashes.b2b }] };
      await expectNothingWritten(() => importing(body, user), 403);
      const noToken = () => request(t.http).post('/admin/users/import').set('Cookie', admin.cookie).send(body);
      const res = await expectNothingWritten(noToken, 403);
      expect(res.body.message).toBe('Missing or invalid CSRF token');
      await expectNothingWritten(() => request(t.http).post('/admin/users/import').send(body), 401);
    });
  });
});

describe('time of a wrong password, whatever the hash (redis store)', () => {
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    t = await createTestApp({ store: 'redis' });
    admin = await login(t.http);
  });
  afterAll(() => t.close());

  async function failedLoginMs(username: string): Promise<number> {
    const started = performance.now();
    await request(t.http).post('/auth/login').send({ username, password: 'not-the-password' }).expect(401);
    return performance.now() - started;
  }

  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

  it('answers an unknown user and an argon2 user no sooner than a bcrypt cost-12 user', async () => {
    // bcrypt at cost 12 takes ~10 times what the service's argon2id takes: without padding, the
    // unknown and argon2 users would answer in a small fraction of the bcrypt user's time.
    const bcryptUser = `slow-${process.pid}`;
    const passwordHash = await bcrypt.hash('the-password', 12);
    await as(t.http, admin)
      .post('/admin/users/import')
      .send({ users: [{ username: bcryptUser, passwordHash }] })
      .expect(200);
    const argon2User = (await newUser(t.http, admin)).username;

    const times: Record<'unknown' | 'argon2' | 'bcrypt', number[]> = { unknown: [], argon2: [], bcrypt: [] };
    // Interleaved, unknown first: the very first probe after the import must be padded already.
    for (let round = 0; round < 5; round += 1) {
      times.unknown.push(await failedLoginMs(`nobody-${round}-${process.pid}`));
      times.argon2.push(await failedLoginMs(argon2User));
      times.bcrypt.push(await failedLoginMs(bcryptUser));
    }
    const bound = 0.7 * median(times.bcrypt);
    const tooFast = {
      unknown: times.unknown.filter((ms) => ms < bound),
      argon2: times.argon2.filter((ms) => ms < bound),
    };
    expect({ times, tooFast }).toEqual({ times, tooFast: { unknown: [], argon2: [] } });
  });
});
