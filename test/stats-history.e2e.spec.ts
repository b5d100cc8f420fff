import request from 'supertest';
import { StatsHistory } from '../src/stats/stats-history.service';
import { as, loginAs, newUser, TestUser } from './support/sessions';
import { createTestApp, inspectRedis, LoggedIn, login, STORE_KINDS, TestApp } from './support/test-app';

const MINUTE = 60_000;

interface History {
  intervalSeconds: number;
  samples: { at: string; liveSessions: number; loginsSucceeded: number; loginsFailed: number }[];
}

async function history(t: TestApp, admin: LoggedIn): Promise<History> {
  return (await as(t.http, admin).get('/admin/sessions/stats/history').expect(200)).body as History;
}

/** Moves the app's clock to one second into the next minute and returns that minute's start. */
function toNextMinute(t: TestApp): number {
  const now = t.clock.now();
  t.clock.advance(MINUTE - (now % MINUTE) + 1000);
  return t.clock.now() - 1000;
}

const sampler = (t: TestApp): StatsHistory => t.app.get(StatsHistory);

describe.each(STORE_KINDS)('GET /admin/sessions/stats/history (%s store)', (store) => {
  let t: TestApp;
  let admin: LoggedIn;
  let user: TestUser;

  beforeEach(async () => {
    t = await createTestApp({ store });
    admin = await login(t.http);
    user = await newUser(t.http, admin);
    // Start the test on a minute of its own: the set-up's logins stay in the minutes before it.
    toNextMinute(t);
    await sampler(t).sampleEndedMinute();
  });
  afterEach(() => t.close());

  it('one sample for a minute that ended: live sessions then, logins succeeded and failed during it', async () => {
    const minute = t.clock.now() - (t.clock.now() % MINUTE);
    await loginAs(t.http, user, { deviceId: 'laptop' });
    await loginAs(t.http, user, { deviceId: 'phone' });
    await request(t.http).post('/auth/login').send({ username: user.username, password: 'wrong-password' }).expect(401);
    await request(t.http).post('/auth/login').send({ username: 'nobody-here', password: 'wrong-password' }).expect(401);
    await request(t.http).post('/auth/login').send({ username: user.username }).expect(400);

    toNextMinute(t);
    expect(await sampler(t).sampleEndedMinute()).toBe(true);
    // That minute is done: a second look (this instance or another) writes nothing.
    expect(await sampler(t).sampleEndedMinute()).toBe(false);

    const body = await history(t, admin);
    expect(body.intervalSeconds).toBe(60);
    const sample = body.samples.find((s) => s.at === new Date(minute).toISOString());
    // The admin's session and the user's two; a 400 is not a login attempt.
    expect(sample).toEqual({
      at: new Date(minute).toISOString(),
      liveSessions: 3,
      loginsSucceeded: 2,
      loginsFailed: 2,
    });
    expect(body.samples[body.samples.length - 1]).toEqual(sample);
  });

  it('a minute nobody sampled is a gap, not a zero; samples come oldest first', async () => {
    const first = t.clock.now() - (t.clock.now() % MINUTE);
    toNextMinute(t);
    await sampler(t).sampleEndedMinute();
    // The service "sleeps" through two minutes, then samples the minute that just ended.
    toNextMinute(t);
    toNextMinute(t);
    const last = toNextMinute(t) - MINUTE;
    await sampler(t).sampleEndedMinute();

    const ats = (await history(t, admin)).samples.map((s) => Date.parse(s.at));
    expect(ats).toContain(first);
    expect(ats).toContain(last);
    expect(ats).not.toContain(first + MINUTE);
    expect(ats).not.toContain(first + 2 * MINUTE);
    expect([...ats].sort((a, b) => a - b)).toEqual(ats);
  });

  it('keeps the last hour only: 60 samples at most, the oldest dropped', async () => {
    for (let i = 0; i < 65; i++) {
      toNextMinute(t);
      await sampler(t).sampleEndedMinute();
    }
    const now = t.clock.now();
    const samples = (await history(t, admin)).samples;
    expect(samples).toHaveLength(60);
    const ats = samples.map((s) => Date.parse(s.at));
    expect(ats[0]).toBe(now - (now % MINUTE) - 60 * MINUTE);
    expect(ats[59]).toBe(now - (now % MINUTE) - MINUTE);
  });

  it('is for admins: 403 for a user, 401 without a session', async () => {
    const asUser = await loginAs(t.http, user);
    await as(t.http, asUser).get('/admin/sessions/stats/history').expect(403);
    await request(t.http).get('/admin/sessions/stats/history').expect(401);
  });
});

describe('stats history shared by two instances on one Redis (redis)', () => {
  let a: TestApp;
  let b: TestApp;

  beforeAll(async () => {
    a = await createTestApp();
    b = await createTestApp({ env: { REDIS_KEY_PREFIX: a.prefix } });
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('adds up both instances’ logins, and exactly one of them writes each minute', async () => {
    const adminOnA = await login(a.http);
    const user = await newUser(a.http, adminOnA);
    // Both clocks on the same fresh minute (each test app has a clock of its own).
    const minute = toNextMinute(a);
    b.clock.advance(a.clock.now() - b.clock.now());
    await loginAs(a.http, user, { deviceId: 'a' });
    await loginAs(b.http, user, { deviceId: 'b' });
    await request(b.http).post('/auth/login').send({ username: user.username, password: 'wrong-password' }).expect(401);

    toNextMinute(a);
    b.clock.advance(a.clock.now() - b.clock.now());
    const wrote = await Promise.all([sampler(a).sampleEndedMinute(), sampler(b).sampleEndedMinute()]);
    expect(wrote.filter(Boolean)).toHaveLength(1);

    const fromB = await history(b, await login(b.http));
    const sample = fromB.samples.find((s) => s.at === new Date(minute).toISOString());
    expect(sample).toMatchObject({ loginsSucceeded: 2, loginsFailed: 1 });

    // The history is one sorted set under the prefix's {stats} tag, with one entry for that minute.
    const redis = await inspectRedis();
    try {
      const members = await redis.zRangeByScore(`${a.prefix}{stats}:history`, minute / MINUTE, minute / MINUTE);
      expect(members).toHaveLength(1);
    } finally {
      await redis.close();
    }
  });
});
