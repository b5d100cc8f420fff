import { Injectable } from '@nestjs/common';
import { sign } from 'cookie-signature';
import { createClient, RedisClientType } from 'redis';
import request from 'supertest';
import { Env } from '../src/config/env';
import { ActivityTracker } from '../src/session/activity-tracker';
import { SessionSweeper } from '../src/session/session-sweeper';
import { StatsHistory } from '../src/stats/stats-history.service';
import { RedisServer, startRedisServer } from './support/redis-server';
import { as, loginAs, newUser } from './support/sessions';
import { createTestApp, LoggedIn, login, TEST_SECRET, TestApp } from './support/test-app';

/**
 * What the service sends to Redis, counted by Redis itself (INFO commandstats) on a server of this
 * file's own, so no other test's traffic is counted.
 */

/** The periodic sweep would add its commands at a random moment; this file calls sweep() itself. */
@Injectable()
class ManualSweeper extends SessionSweeper {
  override onApplicationBootstrap(): void {}
}

/** Likewise the history's once-a-minute sample (tests of it are in stats-history.e2e.spec.ts). */
@Injectable()
class ManualStatsHistory extends StatsHistory {
  override onApplicationBootstrap(): void {}
}

type Calls = Record<string, number>;

/** Commands the test itself sends to look. */
const OWN = new Set(['info', 'dbsize']);

async function commandCalls(redis: RedisClientType): Promise<Calls> {
  const calls: Calls = {};
  for (const match of (await redis.info('commandstats')).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1]] = Number(match[2]);
  }
  return calls;
}

/** Commands sent by the service while `action` ran (scripts' own calls included, as Redis counts them). */
async function commandsDuring(redis: RedisClientType, action: () => Promise<void>): Promise<Calls> {
  const before = await commandCalls(redis);
  await action();
  const after = await commandCalls(redis);
  const delta: Calls = {};
  for (const [name, calls] of Object.entries(after)) {
    const n = calls - (before[name] ?? 0);
    if (n > 0 && !OWN.has(name)) delta[name] = n;
  }
  return delta;
}

const total = (calls: Calls) => Object.values(calls).reduce((sum, n) => sum + n, 0);

interface Counted {
  server: RedisServer;
  redis: RedisClientType;
  t: TestApp;
  admin: LoggedIn;
}

/** A Redis of this file's own, a client on it to count with, and the service on it (sweeps by hand). */
async function countedApp(env: Env = {}): Promise<Counted> {
  const server = await startRedisServer();
  const redis: RedisClientType = createClient({ url: server.url });
  redis.on('error', () => undefined);
  await redis.connect();
  const t = await createTestApp({
    env: { REDIS_URL: server.url, ...env },
    override: (builder) =>
      builder
        .overrideProvider(SessionSweeper)
        .useClass(ManualSweeper)
        .overrideProvider(StatsHistory)
        .useClass(ManualStatsHistory),
  });
  return { server, redis, t, admin: await login(t.http) };
}

async function stopCounted(c: Counted | undefined): Promise<void> {
  await c?.t.close();
  await c?.redis.close();
  await c?.server.stop();
}

describe('Redis commands the service sends (redis)', () => {
  let counted: Counted;
  let redis: RedisClientType;
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    counted = await countedApp();
    ({ redis, t, admin } = counted);
  });
  afterAll(() => stopCounted(counted));

  it('a steady authenticated GET costs exactly one HMGET and sets no cookie', async () => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    await t.app.get(ActivityTracker).flushAll();
    const setCookies: unknown[] = [];

    const calls = await commandsDuring(redis, async () => {
      for (let i = 0; i < 50; i++) {
        const res = await as(t.http, me).get('/auth/profile').expect(200);
        if (res.headers['set-cookie'] !== undefined) setCookies.push(res.headers['set-cookie']);
      }
    });

    expect(calls).toEqual({ hmget: 50 });
    expect(setCookies).toEqual([]);
  });

  it('loading the admin console (page and assets) sends no command, with or without a session', async () => {
    const index = await request(t.http).get('/console').expect(200);
    const assets = [...index.text.matchAll(/(?:src|href)="(\/console\/assets\/[^"]+)"/g)].map((m) => m[1]);
    expect(assets.length).toBeGreaterThan(0);

    const calls = await commandsDuring(redis, async () => {
      for (const cookie of ['', admin.cookie]) {
        await request(t.http).get('/console/sessions').set('Cookie', cookie).expect(200);
        for (const asset of assets) await request(t.http).get(asset).set('Cookie', cookie).expect(200);
      }
    });

    expect(calls).toEqual({});
  });

  it('GET /auth/verify costs exactly one HMGET per call, whatever it answers', async () => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    await t.app.get(ActivityTracker).flushAll();

    const calls = await commandsDuring(redis, async () => {
      for (let i = 0; i < 20; i++) {
        const res = await as(t.http, me).get('/auth/verify').expect(200);
        expect(res.headers['set-cookie']).toBeUndefined();
      }
      await as(t.http, me).get('/auth/verify?role=admin').expect(403);
      await as(t.http, me).get('/auth/verify').set('X-Forwarded-Method', 'POST').expect(403);
      await as(t.http, me)
        .get('/auth/verify')
        .set('X-Forwarded-Method', 'POST')
        .set('X-CSRF-Token', me.csrfToken)
        .expect(200);
      await request(t.http).get('/auth/verify').expect(401);
      await request(t.http).get('/auth/verify?role=Bad!').set('Cookie', me.cookie).expect(400);
    });

    expect(calls).toEqual({ hmget: 23 });
  });

  it('other steady authenticated GETs set no cookie either', async () => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    const paths = [
      [me, '/auth/profile'],
      [me, '/auth/csrf'],
      [me, '/auth/sessions'],
      [admin, '/admin/sessions/stats'],
      [admin, '/admin/sessions?limit=2'],
      [admin, `/admin/users/${user.id}/sessions`],
      [admin, '/admin/users'],
      [admin, '/admin/audit?limit=5'],
    ] as const;

    for (const [who, path] of paths) {
      const res = await as(t.http, who).get(path).expect(200);
      expect([path, res.headers['set-cookie']]).toEqual([path, undefined]);
    }
  });

  it.each([
    ['GET /auth/profile without a cookie', () => request(t.http).get('/auth/profile').expect(401)],
    ['GET /docs-json without a cookie', () => request(t.http).get('/docs-json').expect(200)],
    [
      'GET /auth/profile with a forged cookie',
      () => request(t.http).get('/auth/profile').set('Cookie', 'sid=s%3Aforged.signature').expect(401),
    ],
    [
      'GET /auth/profile with a cookie of the wrong shape',
      () => request(t.http).get('/auth/profile').set('Cookie', 'sid=%E2%9C%93%00garbage').expect(401),
    ],
  ])('%s creates no key', async (_, send) => {
    const keysBefore = await redis.dbSize();

    const calls = await commandsDuring(redis, async () => {
      const res = await send();
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    expect(await redis.dbSize()).toBe(keysBefore);
    expect(calls).toEqual({});
  });

  it('the cookie of an ended session costs one read and creates no key', async () => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    await as(t.http, me).post('/auth/logout').expect(200);
    const keysBefore = await redis.dbSize();

    const calls = await commandsDuring(redis, async () => {
      const res = await as(t.http, me).get('/auth/profile').expect(401);
      expect(res.headers['set-cookie']).toBeUndefined();
    });

    expect(calls).toEqual({ hmget: 1 });
    expect(await redis.dbSize()).toBe(keysBefore);
  });

  it('a whole session lifecycle never sends KEYS or SCAN', async () => {
    const calls = await commandsDuring(redis, async () => {
      const admin2 = await login(t.http);
      const user = await newUser(t.http, admin2);
      const a = await loginAs(t.http, user, { deviceId: 'phone' });
      const b = await loginAs(t.http, user, { deviceId: 'laptop' });
      const c = await loginAs(t.http, user);
      await request(t.http).post('/auth/login').send({ username: user.username, password: 'wrong-password' });
      await as(t.http, a).get('/auth/profile').expect(200);
      await as(t.http, a).get('/auth/sessions').expect(200);
      await as(t.http, a).delete(`/auth/sessions/${b.body.session.id}`).expect(200);
      await as(t.http, c).delete('/auth/devices/phone').expect(200);
      const d = await loginAs(t.http, user);
      await as(t.http, d).delete('/auth/sessions').expect(200);
      await as(t.http, admin2).get('/admin/sessions/stats').expect(200);
      const page = await as(t.http, admin2).get('/admin/sessions?limit=1').expect(200);
      await as(t.http, admin2).get(`/admin/sessions?limit=1&cursor=${page.body.nextCursor}`).expect(200);
      await as(t.http, admin2).get(`/admin/sessions?userId=${user.id}`).expect(200);
      await as(t.http, admin2).get(`/admin/users/${user.id}/sessions`).expect(200);
      await as(t.http, admin2).delete(`/admin/sessions/${d.body.session.id}`).expect(200);
      const e = await loginAs(t.http, user);
      await as(t.http, admin2).delete(`/admin/users/${user.id}/sessions`).expect(200);
      await as(t.http, admin2).get('/admin/audit?limit=3').expect(200);
      await as(t.http, admin2).get('/admin/users').expect(200);
      await as(t.http, admin2)
        .patch(`/admin/users/${user.id}`)
        .send({ roles: ['user', 'auditor'] })
        .expect(200);
      await as(t.http, admin2).patch(`/admin/users/${user.id}`).send({ password: 'another-password' }).expect(200);
      await loginAs(t.http, { username: user.username, password: 'another-password' });
      await as(t.http, admin2).delete(`/admin/users/${user.id}`).expect(200);
      await as(t.http, e).get('/auth/profile').expect(401);
      t.clock.advance(3 * 60 * 60 * 1000);
      await t.app.get(SessionSweeper).sweep();
      await t.app.get(ActivityTracker).flushAll();
    });

    // The flow did reach Redis (scripts and reads), and never walked the keyspace.
    expect(total(calls)).toBeGreaterThan(50);
    expect(calls).toHaveProperty('hmget');
    expect(Object.keys(calls).filter((name) => /^(keys|scan|flushdb|flushall|randomkey)$/.test(name))).toEqual([]);
  });
});

describe('Redis commands with legacy session adoption on (redis)', () => {
  let counted: Counted;
  let redis: RedisClientType;
  let t: TestApp;
  let admin: LoggedIn;

  beforeAll(async () => {
    counted = await countedApp({ LEGACY_SESSION_COOKIE: 'connect.sid', LEGACY_SESSION_PREFIX: 'legacy:' });
    ({ redis, t, admin } = counted);
  });
  afterAll(() => stopCounted(counted));

  it.each([
    ['our cookie only', ''],
    // Validly signed: were it read, adoption would send a script for it.
    ['our cookie beside an old one', `; connect.sid=${encodeURIComponent(`s:${sign('old-session-id', TEST_SECRET)}`)}`],
  ])('a steady authenticated GET with %s still costs exactly one HMGET', async (_, extra) => {
    const user = await newUser(t.http, admin);
    const me = await loginAs(t.http, user);
    await t.app.get(ActivityTracker).flushAll();

    const calls = await commandsDuring(redis, async () => {
      for (let i = 0; i < 50; i++) {
        const res = await as(t.http, { ...me, cookie: me.cookie + extra })
          .get('/auth/profile')
          .expect(200);
        expect(res.headers['set-cookie']).toBeUndefined();
      }
    });

    expect(calls).toEqual({ hmget: 50 });
  });
});
