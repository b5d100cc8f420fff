import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import { SessionConfig } from '../src/config/config';
import { EmbeddedDb } from '../src/redis/embedded-db';
import { KeyLayout } from '../src/redis/key-layout';
import { RedisClient } from '../src/redis/redis-client';
import { MemorySessionStore, SESSIONS } from '../src/session/memory-session-store';
import { SEP } from '../src/session/session-codec';
import { RedisSessionStore } from '../src/session/redis-session-store';
import { handleFromSessionId, newSessionId, SessionHandle } from '../src/session/session-ids';
import { byActivityDesc, CreateOptions, SessionRecord, SessionStore } from '../src/session/session-store';
import { MemoryUserStore } from '../src/users/memory-user-store';
import { RedisUserStore } from '../src/users/redis-user-store';
import { newUserId } from '../src/users/user-ids';
import { User, UserStore } from '../src/users/user-store';
import { dumpPrefix, inspectRedis, uniquePrefix } from './support/test-app';

/**
 * The SessionStore contract, run against both stores built directly (no Nest): whatever the Redis
 * store does, the embedded store does too. Times are passed in, so the clock is the test's own.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const IDLE = 30 * MINUTE;
const ABSOLUTE = 120 * MINUTE;

const config = new SessionConfig({
  secrets: ['contract-secret'],
  secretGenerated: false,
  cookieName: 'sid',
  cookieSecure: false,
  cookieSameSite: 'lax',
  idleTimeoutMs: IDLE,
  absoluteTimeoutMs: ABSOLUTE,
  touchIntervalMs: SECOND,
  suspiciousAction: 'audit',
  maxSessionsPerUser: 0,
});

/** Deletes what a test wrote, one key at a time, so that it works on a cluster too. */
async function deletePrefix(redis: Awaited<ReturnType<typeof inspectRedis>>, prefix: string): Promise<void> {
  for (const key of (await dumpPrefix(redis, prefix)).keys()) await redis.del(key);
}

interface Harness {
  store: SessionStore;
  users: UserStore;
  /** Whether anything of the session is still kept, whatever the store's read path says. */
  kept(handle: SessionHandle): Promise<boolean>;
  close(): Promise<void>;
}

const stores: [string, () => Promise<Harness>][] = [
  [
    'RedisSessionStore',
    async () => {
      const redis = await inspectRedis();
      const prefix = uniquePrefix();
      const keys = new KeyLayout(prefix);
      return {
        store: new RedisSessionStore(redis, keys, config),
        users: new RedisUserStore(redis, keys),
        kept: async (h) => (await redis.hExists(keys.userSessions(h.userId), h.hash)) === 1,
        close: async () => {
          await deletePrefix(redis, prefix);
          await redis.close();
        },
      };
    },
  ],
  [
    'MemorySessionStore',
    async () => {
      const db = new EmbeddedDb();
      return {
        store: new MemorySessionStore(db, config),
        users: new MemoryUserStore(db),
        kept: async (h) => db.table(SESSIONS).get(h.userId)?.has(h.hash) ?? false,
        close: async () => undefined,
      };
    },
  ],
];

/** A session of the user as a login at `at` would make it. */
function newRecord(user: User, at: number, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    handle: handleFromSessionId(newSessionId(user.id))!,
    username: user.username,
    roles: user.roles,
    deviceId: null,
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
    browser: 'Firefox 128.0',
    os: 'Linux',
    ip: '127.0.0.1',
    createdAt: at,
    lastActivityAt: at,
    absoluteExpiresAt: at + ABSOLUTE,
    requestCount: 1,
    authenticatedAt: at,
    suspicion: 'none',
    impersonatedBy: null,
    ...extra,
  };
}

describe.each(stores)('SessionStore contract: %s', (_, make) => {
  let h: Harness;
  let store: SessionStore;
  /** "Now" at the start of each test; the Redis store's keys expire at real times, so it must be real. */
  let t0: number;

  beforeEach(async () => {
    h = await make();
    store = h.store;
    t0 = Date.now();
  });
  afterEach(() => h.close());

  async function addUser(roles: string[] = ['user']): Promise<User> {
    const user: User = {
      id: newUserId(),
      username: `c-${randomBytes(5).toString('hex')}`,
      passwordHash: 'not-a-real-hash',
      roles,
      disabled: false,
      createdAt: t0,
      version: 1,
    };
    expect(await h.users.create(user)).toBe(true);
    return user;
  }

  const options = (now: number, maxPerUser = 0, userVersion = 1): CreateOptions => ({ now, maxPerUser, userVersion });

  /** Creates a session that must be accepted. */
  async function start(user: User, at: number, extra: Partial<SessionRecord> = {}, maxPerUser = 0) {
    const record = newRecord(user, at, extra);
    const result = await store.create(record, options(at, maxPerUser));
    expect(result.created).toBe(true);
    return { record, handle: record.handle, ended: result.ended };
  }

  const ids = (handles: SessionHandle[]) => handles.map((x) => x.publicId).sort();
  const liveIds = async (userId: string, now: number) =>
    ids((await store.listForUser(userId, now)).map((r) => r.handle));

  describe('create and get', () => {
    it('stores the record as given and reads it back', async () => {
      const user = await addUser();
      const { record, ended } = await start(user, t0, { deviceId: 'laptop' });

      expect(ended).toEqual([]);
      expect(await store.get(record.handle, t0)).toEqual(record);
      expect(await store.listForUser(user.id, t0)).toEqual([record]);
    });

    it('reads null for a session that never existed', async () => {
      const user = await addUser();
      expect(await store.get(handleFromSessionId(newSessionId(user.id))!, t0)).toBeNull();
    });

    it('ends a session at the idle timeout', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);

      expect(await store.get(handle, t0 + IDLE - 1)).not.toBeNull();
      expect(await store.get(handle, t0 + IDLE)).toBeNull();
      expect(await store.listForUser(user.id, t0 + IDLE)).toEqual([]);
    });

    it('ends a session at the absolute timeout however active it is', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0, { absoluteExpiresAt: t0 + 15 * MINUTE });
      expect(await store.recordActivity(handle, t0 + 14 * MINUTE, 1)).toBe(true);

      expect(await store.get(handle, t0 + 15 * MINUTE - 1)).not.toBeNull();
      expect(await store.get(handle, t0 + 15 * MINUTE)).toBeNull();
    });

    it.each([
      ['its version changed', (users: UserStore, u: User) => users.update(u.id, { roles: ['user', 'auditor'] })],
      ['its password changed', (users: UserStore, u: User) => users.update(u.id, { passwordHash: 'another-hash' })],
      ['it was disabled', (users: UserStore, u: User) => users.update(u.id, { disabled: true })],
      ['it was deleted', (users: UserStore, u: User) => users.delete(u.id)],
    ])('refuses a session for a user when %s since the login read it', async (__, change) => {
      const user = await addUser();
      const survivor = await start(user, t0);
      await change(h.users, user);
      const record = newRecord(user, t0 + SECOND);

      const result = await store.create(record, options(t0 + SECOND, 1));

      expect(result).toEqual({ created: false, ended: [] });
      expect(await store.get(record.handle, t0 + SECOND)).toBeNull();
      expect(await h.kept(record.handle)).toBe(false);
      // A refused login ends nothing (here, not even beyond the limit of 1), and is not counted.
      expect(await store.get(survivor.handle, t0 + SECOND)).not.toBeNull();
      expect((await store.stats(t0 + SECOND)).total).toBe(1);
      expect((await store.page(10, undefined, t0 + SECOND)).sessions.map((r) => r.handle.publicId)).toEqual([
        survivor.handle.publicId,
      ]);
    });

    it('accepts the login again with the new version', async () => {
      const user = await addUser();
      await h.users.update(user.id, { roles: ['user', 'auditor'] });
      const record = newRecord({ ...user, roles: ['user', 'auditor'] }, t0);

      expect((await store.create(record, options(t0, 0, 2))).created).toBe(true);
    });

    it('refuses a session for a user that does not exist', async () => {
      const ghost: User = { ...(await addUser()), id: newUserId() };
      const record = newRecord(ghost, t0);

      expect(await store.create(record, options(t0))).toEqual({ created: false, ended: [] });
      expect(await store.get(record.handle, t0)).toBeNull();
    });

    it("ends the user's older session on the same device, and only that", async () => {
      const [user, other] = [await addUser(), await addUser()];
      const first = await start(user, t0, { deviceId: 'desk' });
      const elsewhere = await start(user, t0 + SECOND, { deviceId: 'phone' });
      const otherUsers = await start(other, t0 + SECOND, { deviceId: 'desk' });
      const noDevice = await start(user, t0 + SECOND);

      const second = await start(user, t0 + 2 * SECOND, { deviceId: 'desk' });

      expect(ids(second.ended)).toEqual([first.handle.publicId]);
      expect(await store.get(first.handle, t0 + 2 * SECOND)).toBeNull();
      expect(await h.kept(first.handle)).toBe(false);
      expect(await liveIds(user.id, t0 + 2 * SECOND)).toEqual(ids([elsewhere.handle, noDevice.handle, second.handle]));
      expect(await store.get(otherUsers.handle, t0 + 2 * SECOND)).not.toBeNull();
      expect((await store.stats(t0 + 2 * SECOND)).total).toBe(4);
    });

    it('beyond maxPerUser ends the least recently active sessions', async () => {
      const user = await addUser();
      const s1 = await start(user, t0, {}, 3);
      const s2 = await start(user, t0 + SECOND, {}, 3);
      const s3 = await start(user, t0 + 2 * SECOND, {}, 3);
      expect(await store.recordActivity(s1.handle, t0 + 3 * SECOND, 1)).toBe(true);

      const s4 = await start(user, t0 + 4 * SECOND, {}, 3);

      expect(ids(s4.ended)).toEqual([s2.handle.publicId]);
      expect(await liveIds(user.id, t0 + 4 * SECOND)).toEqual(ids([s1.handle, s3.handle, s4.handle]));
      expect((await store.stats(t0 + 4 * SECOND)).total).toBe(3);

      // A lower limit than the sessions present ends as many as needed.
      const s5 = await start(user, t0 + 5 * SECOND, {}, 2);
      expect(ids(s5.ended)).toEqual(ids([s3.handle, s1.handle]));
      expect(await liveIds(user.id, t0 + 5 * SECOND)).toEqual(ids([s4.handle, s5.handle]));
    });

    it('a device replacement frees its place under the limit', async () => {
      const user = await addUser();
      const a = await start(user, t0, { deviceId: 'a' }, 2);
      const b = await start(user, t0 + SECOND, { deviceId: 'b' }, 2);

      const again = await start(user, t0 + 2 * SECOND, { deviceId: 'a' }, 2);

      expect(ids(again.ended)).toEqual([a.handle.publicId]);
      expect(await liveIds(user.id, t0 + 2 * SECOND)).toEqual(ids([b.handle, again.handle]));
    });

    it('expired sessions do not count toward the limit and are not reported as ended', async () => {
      const user = await addUser();
      const old = await start(user, t0);
      const later = t0 + IDLE + SECOND;

      const fresh = await start(user, later, {}, 1);

      expect(fresh.ended).toEqual([]);
      expect(await store.get(old.handle, later)).toBeNull();
      expect(await liveIds(user.id, later)).toEqual([fresh.handle.publicId]);
    });

    it('simultaneous creates never leave the user above the limit', async () => {
      const user = await addUser();
      const records = Array.from({ length: 20 }, () => newRecord(user, t0));

      const results = await Promise.all(records.map((r) => store.create(r, options(t0, 3))));

      expect(results.every((r) => r.created)).toBe(true);
      const live = await liveIds(user.id, t0);
      expect(live).toHaveLength(3);
      const ended = results.flatMap((r) => r.ended.map((x) => x.publicId));
      expect(ended).toHaveLength(17);
      expect([...ended, ...live].sort()).toEqual(ids(records.map((r) => r.handle)));
      expect((await store.stats(t0)).total).toBe(3);
    });
  });

  describe('recordActivity', () => {
    it('adds counts and moves lastActivityAt forward, never back', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);

      expect(await store.recordActivity(handle, t0 + SECOND, 3)).toBe(true);
      expect(await store.recordActivity(handle, t0 + 2 * SECOND, 4)).toBe(true);
      // A late write from another instance: its count still adds, its older time is ignored.
      expect(await store.recordActivity(handle, t0 + 500, 2)).toBe(true);

      expect(await store.get(handle, t0 + 2 * SECOND)).toMatchObject({
        requestCount: 1 + 3 + 4 + 2,
        lastActivityAt: t0 + 2 * SECOND,
        createdAt: t0,
      });
    });

    it('extends the idle timeout', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);

      expect(await store.recordActivity(handle, t0 + IDLE - SECOND, 1)).toBe(true);

      expect(await store.get(handle, t0 + IDLE + SECOND)).toMatchObject({ lastActivityAt: t0 + IDLE - SECOND });
      expect(await store.get(handle, t0 + 2 * IDLE - SECOND)).toBeNull();
    });

    it('orders the activity index by the new time', async () => {
      const user = await addUser();
      const a = await start(user, t0);
      const b = await start(user, t0 + SECOND);

      await store.recordActivity(a.handle, t0 + 2 * SECOND, 1);

      const page = await store.page(10, undefined, t0 + 2 * SECOND);
      expect(page.sessions.map((r) => r.handle.publicId)).toEqual([a.handle.publicId, b.handle.publicId]);
      // Five minutes after b's activity, only a's is within the last five minutes.
      expect((await store.stats(t0 + 5 * MINUTE + 1500)).activeLast5m).toBe(1);
    });

    it('keeps the admin behind an impersonation session through every rewrite of its value', async () => {
      const user = await addUser();
      const impersonatedBy = { id: newUserId(), username: 'support.admin' };
      const { handle } = await start(user, t0, { impersonatedBy });
      expect(await store.recordActivity(handle, t0 + SECOND, 1)).toBe(true);
      expect(await store.flagSuspicious(handle, false)).toBe(true);
      expect(await store.markAuthenticated(handle, t0 + 2 * SECOND)).toBe(true);
      expect(await store.get(handle, t0 + 2 * SECOND)).toMatchObject({ impersonatedBy, suspicion: 'flagged' });
      expect((await store.listForUser(user.id, t0 + 2 * SECOND))[0]?.impersonatedBy).toEqual(impersonatedBy);
    });

    it('answers false for an ended session and does not bring it back', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);
      expect(await store.destroy(handle)).toBe(true);

      expect(await store.recordActivity(handle, t0 + SECOND, 5)).toBe(false);

      expect(await store.get(handle, t0 + SECOND)).toBeNull();
      expect(await h.kept(handle)).toBe(false);
      expect(await store.listForUser(user.id, t0 + SECOND)).toEqual([]);
      expect(await store.stats(t0 + SECOND)).toMatchObject({ total: 0 });
      expect((await store.page(10, undefined, t0 + SECOND)).sessions).toEqual([]);
    });

    it('answers false for a session past its idle timeout and does not revive it', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);

      expect(await store.recordActivity(handle, t0 + IDLE + SECOND, 1)).toBe(false);

      expect(await store.get(handle, t0 + IDLE + SECOND)).toBeNull();
    });

    it('answers false for a session that never existed and creates nothing', async () => {
      const user = await addUser();
      const handle = handleFromSessionId(newSessionId(user.id))!;

      expect(await store.recordActivity(handle, t0, 1)).toBe(false);

      expect(await h.kept(handle)).toBe(false);
      expect(await store.listForUser(user.id, t0)).toEqual([]);
    });
  });

  describe('markAuthenticated', () => {
    it('records the password proof, keeps it through activity writes, and reads it back', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);
      expect(await store.markAuthenticated(handle, t0 + 5 * SECOND)).toBe(true);
      expect(await store.recordActivity(handle, t0 + 6 * SECOND, 2)).toBe(true);
      expect(await store.get(handle, t0 + 6 * SECOND)).toMatchObject({
        authenticatedAt: t0 + 5 * SECOND,
        requestCount: 3,
        lastActivityAt: t0 + 6 * SECOND,
      });
    });

    it('authenticates a session that had never proved a password (adopted)', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0, { authenticatedAt: null });
      expect((await store.get(handle, t0))?.authenticatedAt).toBeNull();
      expect(await store.markAuthenticated(handle, t0 + SECOND)).toBe(true);
      expect((await store.get(handle, t0 + SECOND))?.authenticatedAt).toBe(t0 + SECOND);
    });

    it('answers false for an ended session and does not bring it back', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);
      await store.destroy(handle);
      expect(await store.markAuthenticated(handle, t0 + SECOND)).toBe(false);
      expect(await store.get(handle, t0 + SECOND)).toBeNull();
      expect(await h.kept(handle)).toBe(false);
    });
  });

  describe('flagSuspicious', () => {
    it('marks a session once: the first caller wins, later ones change nothing', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);
      const results = await Promise.all([store.flagSuspicious(handle, true), store.flagSuspicious(handle, false)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      const marked = (await store.get(handle, t0))?.suspicion;
      expect(marked === 'blocked' || marked === 'flagged').toBe(true);
      expect(await store.flagSuspicious(handle, true)).toBe(false);
      expect((await store.get(handle, t0))?.suspicion).toBe(marked);
    });

    it('keeps the mark through activity writes; a password proof lifts a block to a flag', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);
      expect(await store.flagSuspicious(handle, true)).toBe(true);
      expect(await store.recordActivity(handle, t0 + SECOND, 1)).toBe(true);
      expect((await store.get(handle, t0 + SECOND))?.suspicion).toBe('blocked');
      expect(await store.markAuthenticated(handle, t0 + 2 * SECOND)).toBe(true);
      expect(await store.get(handle, t0 + 2 * SECOND)).toMatchObject({
        suspicion: 'flagged',
        authenticatedAt: t0 + 2 * SECOND,
        requestCount: 2,
      });
      // Flagged once is flagged for good: it is never recorded a second time.
      expect(await store.flagSuspicious(handle, true)).toBe(false);
    });

    it('answers false for an ended session and does not bring it back', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);
      await store.destroy(handle);
      expect(await store.flagSuspicious(handle, true)).toBe(false);
      expect(await h.kept(handle)).toBe(false);
    });
  });

  describe('destroy', () => {
    it('ends the session once', async () => {
      const user = await addUser();
      const { handle } = await start(user, t0);
      const other = await start(user, t0);

      expect(await store.destroy(handle)).toBe(true);

      expect(await store.get(handle, t0)).toBeNull();
      expect(await h.kept(handle)).toBe(false);
      expect(await store.destroy(handle)).toBe(false);
      expect(await liveIds(user.id, t0)).toEqual([other.handle.publicId]);
      expect((await store.stats(t0)).total).toBe(1);
    });
  });

  describe('listForUser', () => {
    it("holds the user's live sessions only", async () => {
      const [user, other] = [await addUser(), await addUser()];
      const old = await start(user, t0);
      const recent = await start(user, t0 + 20 * MINUTE);
      await start(other, t0 + 20 * MINUTE);

      expect(await liveIds(user.id, t0 + 20 * MINUTE)).toEqual(ids([old.handle, recent.handle]));
      expect(await liveIds(user.id, t0 + IDLE)).toEqual([recent.handle.publicId]);
      expect(await liveIds(newUserId(), t0)).toEqual([]);
    });
  });

  describe('destroyForUser', () => {
    it("ends all the user's sessions but the excepted one", async () => {
      const [user, other] = [await addUser(), await addUser()];
      const a = await start(user, t0, { deviceId: 'a' });
      const b = await start(user, t0);
      const keep = await start(user, t0);
      const bystander = await start(other, t0);

      const ended = await store.destroyForUser(user.id, { exceptHash: keep.handle.hash });

      expect(ids(ended)).toEqual(ids([a.handle, b.handle]));
      expect(await liveIds(user.id, t0)).toEqual([keep.handle.publicId]);
      expect(await h.kept(a.handle)).toBe(false);
      expect(await store.get(bystander.handle, t0)).not.toBeNull();
      expect((await store.stats(t0)).total).toBe(2);
    });

    it('ends only the sessions of one device', async () => {
      const user = await addUser();
      const phone = await start(user, t0, { deviceId: 'phone' });
      const laptop = await start(user, t0, { deviceId: 'laptop' });
      const none = await start(user, t0);

      expect(ids(await store.destroyForUser(user.id, { deviceId: 'phone' }))).toEqual([phone.handle.publicId]);
      expect(await liveIds(user.id, t0)).toEqual(ids([laptop.handle, none.handle]));
      expect(await store.destroyForUser(user.id, { deviceId: 'phone' })).toEqual([]);
      // Both filters: the device, but not the excepted session.
      expect(await store.destroyForUser(user.id, { deviceId: 'laptop', exceptHash: laptop.handle.hash })).toEqual([]);
    });

    it('ends everything without a filter, and nothing for a user without sessions', async () => {
      const user = await addUser();
      const all = [await start(user, t0), await start(user, t0, { deviceId: 'x' })];

      expect(ids(await store.destroyForUser(user.id, {}))).toEqual(ids(all.map((s) => s.handle)));
      expect(await store.destroyForUser(user.id, {})).toEqual([]);
      expect(await store.stats(t0)).toMatchObject({ total: 0 });
    });
  });

  describe('stats', () => {
    it('counts live sessions, recent activity and sessions per role', async () => {
      const [admin, alice, bob] = [await addUser(['admin', 'user']), await addUser(), await addUser()];
      const now = t0 + 60 * MINUTE;
      await start(admin, now - 1 * MINUTE);
      await start(alice, now - 10 * MINUTE);
      await start(bob, now - 20 * MINUTE);
      await start(bob, now - IDLE - SECOND); // expired

      expect(await store.stats(now)).toEqual({
        total: 3,
        activeLast5m: 1,
        activeLast15m: 2,
        byRole: { admin: 1, user: 3 },
      });
    });

    it('does not count a session past its absolute timeout, however recent its activity', async () => {
      const user = await addUser();
      const s = await start(user, t0, { absoluteExpiresAt: t0 + 40 * MINUTE });
      expect(await store.recordActivity(s.handle, t0 + 29 * MINUTE, 1)).toBe(true);
      await start(user, t0 + 29 * MINUTE);
      const now = t0 + 41 * MINUTE;

      expect(await store.get(s.handle, now)).toBeNull();
      expect(await store.stats(now)).toEqual({ total: 1, activeLast5m: 0, activeLast15m: 1, byRole: { user: 1 } });
    });

    it('is empty for an empty store', async () => {
      expect(await store.stats(t0)).toEqual({ total: 0, activeLast5m: 0, activeLast15m: 0, byRole: {} });
    });
  });

  describe('page', () => {
    it('walks every live session exactly once, newest activity first, ties in a fixed order', async () => {
      const users = [await addUser(), await addUser(['admin', 'user']), await addUser(['auditor'])];
      const created: SessionRecord[] = [];
      // 11 sessions at 5 distinct times (several ties), across role families and shards.
      for (let i = 0; i < 11; i++) created.push((await start(users[i % 3], t0 + (i % 5) * SECOND)).record);
      await start(users[0], t0 - IDLE); // expired by the time of the walk
      const now = t0 + 10 * SECOND;
      const expected = created
        .map((r) => ({ score: r.lastActivityAt, id: r.handle.publicId }))
        .sort(byActivityDesc)
        .map((e) => e.id);

      for (const limit of [1, 2, 3, 11, 50]) {
        const seen: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        do {
          const page = await store.page(limit, cursor, now);
          expect(page.sessions.length).toBeLessThanOrEqual(limit);
          seen.push(...page.sessions.map((r) => r.handle.publicId));
          cursor = page.nextCursor ?? undefined;
          pages += 1;
        } while (cursor !== undefined && pages < 50);

        expect([limit, seen]).toEqual([limit, expected]);
        expect(pages).toBe(Math.max(1, Math.ceil(11 / limit)));
      }
    });

    it('returns the records themselves', async () => {
      const user = await addUser();
      const { record } = await start(user, t0, { deviceId: 'd', ip: '10.0.0.1' });

      expect(await store.page(10, undefined, t0)).toEqual({ sessions: [record], nextCursor: null });
    });

    it('a session ended during a walk is simply not listed', async () => {
      const user = await addUser();
      const sessions = [];
      for (let i = 0; i < 4; i++) sessions.push(await start(user, t0 + i * SECOND));
      const first = await store.page(2, undefined, t0 + 5 * SECOND);
      await store.destroy(sessions[1].handle);

      const second = await store.page(2, first.nextCursor!, t0 + 5 * SECOND);

      expect(first.sessions.map((r) => r.handle.publicId)).toEqual([
        sessions[3].handle.publicId,
        sessions[2].handle.publicId,
      ]);
      expect(second.sessions.map((r) => r.handle.publicId)).toEqual([sessions[0].handle.publicId]);
      expect(second.nextCursor).toBeNull();
    });
  });

  describe('sweep', () => {
    it('reports sessions expired by idle and by absolute timeout, each once', async () => {
      const user = await addUser();
      const idle = await start(user, t0);
      const absolute = await start(user, t0, { absoluteExpiresAt: t0 + 40 * MINUTE });
      const alive = await start(user, t0);
      const now = t0 + 45 * MINUTE;
      // `absolute` and `alive` stay active; `idle` does not.
      expect(await store.recordActivity(absolute.handle, t0 + 29 * MINUTE, 1)).toBe(true);
      expect(await store.recordActivity(alive.handle, t0 + 29 * MINUTE, 1)).toBe(true);

      expect(ids(await store.sweep(now))).toEqual(ids([idle.handle, absolute.handle]));
      // Nothing of an expired session is kept once it has been swept.
      expect([await h.kept(idle.handle), await h.kept(absolute.handle)]).toEqual([false, false]);
      expect(await store.sweep(now)).toEqual([]);
      expect(await store.sweep(now + SECOND)).toEqual([]);
      expect(await liveIds(user.id, now)).toEqual([alive.handle.publicId]);
      expect((await store.stats(now)).total).toBe(1);
    });

    it('does not report ended (destroyed or replaced) sessions as expired', async () => {
      const user = await addUser();
      const destroyed = await start(user, t0);
      await store.destroy(destroyed.handle);
      await start(user, t0, { deviceId: 'd' });
      await start(user, t0 + SECOND, { deviceId: 'd' });
      await store.destroyForUser(user.id, {});

      expect(await store.sweep(t0 + IDLE + 2 * SECOND)).toEqual([]);
    });

    it('still reports a session once when other reads saw it expired first', async () => {
      const user = await addUser();
      const s = await start(user, t0, { absoluteExpiresAt: t0 + 40 * MINUTE });
      const now = t0 + 45 * MINUTE;
      expect(await store.recordActivity(s.handle, t0 + 29 * MINUTE, 1)).toBe(true);

      // Everything that reads sessions meets the expired one before the sweeper does.
      expect(await store.get(s.handle, now)).toBeNull();
      expect(await store.listForUser(user.id, now)).toEqual([]);
      expect((await store.page(10, undefined, now)).sessions).toEqual([]);
      await store.stats(now);

      expect(ids(await store.sweep(now))).toEqual([s.handle.publicId]);
      expect(await store.sweep(now)).toEqual([]);
    });
  });
});

/**
 * The real client, except that ZADDs can be held: lets a test put another instance's work between
 * a store's script and the index writes that follow it, deterministically.
 */
function holdingZAdds(client: RedisClient) {
  let holding = false;
  const held: (() => void)[] = [];
  const waiters: { n: number; notify: () => void }[] = [];
  const proxy = new Proxy(client, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      if (prop === 'zAdd') {
        return async (...args: Parameters<RedisClient['zAdd']>) => {
          if (holding) {
            await new Promise<void>((resolve) => {
              held.push(resolve);
              waiters.filter((w) => held.length >= w.n).forEach((w) => w.notify());
            });
          }
          return target.zAdd(...args);
        };
      }
      return (value as (...args: unknown[]) => unknown).bind(target);
    },
  });
  return {
    client: proxy,
    hold: () => (holding = true),
    whenHeld: (n: number) => new Promise<void>((notify) => (held.length >= n ? notify() : waiters.push({ n, notify }))),
    release: () => {
      holding = false;
      held.splice(0).forEach((resolve) => resolve());
    },
  };
}

describe('RedisSessionStore: an activity write racing with the end of its session', () => {
  it('leaves no index entry of the ended session, so no expiry is reported for it later', async () => {
    const redis = await inspectRedis();
    const prefix = uniquePrefix();
    const keys = new KeyLayout(prefix);
    try {
      const gated = holdingZAdds(redis);
      // Two instances on one Redis: one writes activity, the other ends the session.
      const writer = new RedisSessionStore(gated.client, keys, config);
      const other = new RedisSessionStore(redis, keys, config);
      const t0 = Date.now();
      const user: User = {
        id: newUserId(),
        username: `c-${randomBytes(5).toString('hex')}`,
        passwordHash: 'x',
        roles: ['user'],
        disabled: false,
        createdAt: t0,
        version: 1,
      };
      await new RedisUserStore(redis, keys).create(user);
      // Its absolute deadline comes before its idle one: the store also indexes it by that deadline.
      const record: SessionRecord = {
        handle: handleFromSessionId(newSessionId(user.id))!,
        username: user.username,
        roles: user.roles,
        deviceId: null,
        userAgent: '',
        browser: '',
        os: '',
        ip: '',
        createdAt: t0,
        lastActivityAt: t0,
        absoluteExpiresAt: t0 + 20 * MINUTE,
        requestCount: 1,
        authenticatedAt: t0,
        suspicion: 'none',
        impersonatedBy: null,
      };
      expect((await other.create(record, { now: t0, maxPerUser: 0, userVersion: 1 })).created).toBe(true);
      const { handle } = record;

      gated.hold();
      // The activity script has run (the session was alive); its index update is on its way.
      const writing = writer.recordActivity(handle, t0 + SECOND, 1);
      await gated.whenHeld(1);
      expect(await other.destroy(handle)).toBe(true);
      gated.release();
      expect(await writing).toBe(true);

      const activityKey = keys.activity(record.roles, handle.hash);
      const leftOver = {
        activity: await redis.zScore(activityKey, handle.publicId),
        capped: await redis.zScore(keys.capped(activityKey), handle.publicId),
      };
      // Once past its absolute deadline, a left-over entry would be reported (and audited) as expired.
      const reported = (await other.sweep(t0 + 21 * MINUTE)).map((h) => h.publicId);
      expect({ leftOver, reported }).toEqual({ leftOver: { activity: null, capped: null }, reported: [] });
    } finally {
      await deletePrefix(redis, prefix);
      await redis.close();
    }
  });
});

describe('RedisSessionStore: its own layout', () => {
  let redis: Awaited<ReturnType<typeof inspectRedis>>;
  let prefix: string;
  let keys: KeyLayout;
  let users: RedisUserStore;
  let t0: number;

  beforeEach(async () => {
    redis = await inspectRedis();
    prefix = uniquePrefix();
    keys = new KeyLayout(prefix);
    users = new RedisUserStore(redis, keys);
    t0 = Date.now();
  });
  afterEach(async () => {
    await deletePrefix(redis, prefix);
    await redis.close();
  });

  async function addUser(roles = ['user']): Promise<User> {
    const user: User = {
      id: newUserId(),
      username: `c-${randomBytes(5).toString('hex')}`,
      passwordHash: 'x',
      roles,
      disabled: false,
      createdAt: t0,
      version: 1,
    };
    await users.create(user);
    return user;
  }

  const indexed = async (roles: string[], handle: SessionHandle) =>
    (await redis.zScore(keys.activity(roles, handle.hash), handle.publicId)) !== null;

  it.each([
    ['before the user agent was kept (8 fields)', 8],
    ['before authenticatedAt was kept (9 fields)', 9],
    ['before theft signals were kept (10 fields)', 10],
    ['before impersonation was kept (11 fields)', 11],
  ])('a value written %s is padded as the codec reads it by the scripts that rewrite it', async (_, fields) => {
    const store = new RedisSessionStore(redis, keys, config);
    const user = await addUser();
    const record = newRecord(user, t0);
    await store.create(record, { now: t0, maxPerUser: 0, userVersion: 1 });
    const key = keys.userSessions(user.id);
    const full = (await redis.hGet(key, record.handle.hash))!;
    await redis.hSet(key, record.handle.hash, full.split(SEP).slice(0, fields).join(SEP));
    const old = (await store.get(record.handle, t0))!;

    expect(await store.flagSuspicious(record.handle, true)).toBe(true);
    expect(await store.get(record.handle, t0)).toEqual({ ...old, suspicion: 'blocked' });
    expect(await store.markAuthenticated(record.handle, t0 + SECOND)).toBe(true);
    expect(await store.get(record.handle, t0 + SECOND)).toEqual({
      ...old,
      suspicion: 'flagged',
      authenticatedAt: t0 + SECOND,
    });
  });

  it("keeps all of a user's sessions in one hash, which goes when the last session goes", async () => {
    const store = new RedisSessionStore(redis, keys, config);
    const user = await addUser();
    const a = newRecord(user, t0, { deviceId: 'a' });
    const b = newRecord(user, t0);
    await store.create(a, { now: t0, maxPerUser: 0, userVersion: 1 });
    await store.create(b, { now: t0, maxPerUser: 0, userVersion: 1 });

    const fields = await redis.hGetAll(keys.userSessions(user.id));
    expect(Object.keys(fields).sort()).toEqual([a.handle.hash, b.handle.hash, '~u'].sort());
    // The hash expires with its longest-lived session.
    expect(await redis.pExpireTime(keys.userSessions(user.id))).toBe(t0 + IDLE);

    await store.destroy(a.handle);
    await store.destroyForUser(user.id, {});
    expect(await redis.exists(keys.userSessions(user.id))).toBe(0);
  });

  it('a login under new roles ends the sessions begun under the old ones, and their index entries', async () => {
    const store = new RedisSessionStore(redis, keys, config);
    const user = await addUser(['user']);
    const old = newRecord(user, t0);
    await store.create(old, { now: t0, maxPerUser: 0, userVersion: 1 });
    // The role change is saved; the revocation that follows it has not run yet.
    await users.update(user.id, { roles: ['admin', 'user'] });
    const fresh = newRecord({ ...user, roles: ['admin', 'user'] }, t0 + SECOND);

    const result = await store.create(fresh, { now: t0 + SECOND, maxPerUser: 0, userVersion: 2 });

    expect(result).toEqual({ created: true, ended: [old.handle] });
    expect(await store.get(old.handle, t0 + SECOND)).toBeNull();
    expect(await indexed(['user'], old.handle)).toBe(false);
    expect(await store.get(fresh.handle, t0 + SECOND)).toMatchObject({ roles: ['admin', 'user'] });
    expect(await store.stats(t0 + SECOND)).toMatchObject({ total: 1, byRole: { admin: 1, user: 1 } });
  });

  it('the sweeper does not report a session whose activity write is still on its way to the index', async () => {
    const gated = holdingZAdds(redis);
    const writer = new RedisSessionStore(gated.client, keys, config);
    const sweeper = new RedisSessionStore(redis, keys, config);
    const user = await addUser();
    const record = newRecord(user, t0);
    await sweeper.create(record, { now: t0, maxPerUser: 0, userVersion: 1 });
    const usedAt = t0 + IDLE - SECOND;

    gated.hold();
    const writing = writer.recordActivity(record.handle, usedAt, 1);
    await gated.whenHeld(1);
    // Past the idle deadline of the indexed time, not of the written one.
    const reported = await sweeper.sweep(t0 + IDLE + SECOND);
    gated.release();
    expect(await writing).toBe(true);

    expect(reported).toEqual([]);
    expect(await redis.zScore(keys.activity(record.roles, record.handle.hash), record.handle.publicId)).toBe(usedAt);
    expect(await sweeper.get(record.handle, t0 + IDLE + SECOND)).toMatchObject({ lastActivityAt: usedAt });
  });

  it('ignores data of the previous layout (one hash per session) without failing', async () => {
    const store = new RedisSessionStore(redis, keys, config);
    const user = await addUser();
    const handle = handleFromSessionId(newSessionId(user.id))!;
    const activityKey = keys.activity(user.roles, handle.hash);
    await redis.hSet(`${prefix}{u:${user.id}}:s:${handle.hash}`, { un: user.username, r: 'user', a: String(t0) });
    await redis.zAdd(`${prefix}{u:${user.id}}:sessions`, { score: t0 + IDLE, value: handle.hash });
    await redis.sAdd(keys.activityFamilies(), 'user');
    await redis.zAdd(activityKey, { score: t0, value: handle.publicId });

    expect(await store.get(handle, t0)).toBeNull();
    expect(await store.listForUser(user.id, t0)).toEqual([]);
    expect((await store.page(10, undefined, t0)).sessions).toEqual([]);
    expect(await store.destroyForUser(user.id, {})).toEqual([]);
    expect(await store.recordActivity(handle, t0, 1)).toBe(false);
    // The admin page met its index entry and dropped it, as it drops that of any session that is no more.
    expect(await redis.zScore(activityKey, handle.publicId)).toBeNull();
    // The user logs in again as if the old session had never been.
    const fresh = newRecord(user, t0);
    expect(await store.create(fresh, { now: t0, maxPerUser: 1, userVersion: 1 })).toEqual({ created: true, ended: [] });
    expect((await store.listForUser(user.id, t0)).map((r) => r.handle.publicId)).toEqual([fresh.handle.publicId]);
    expect((await store.stats(t0)).total).toBe(1);
  });
});
