import { ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { createClient } from 'redis';
import { startRedisServer } from './support/redis-server';
import {
  RedisClusterTopology,
  RedisSentinelTopology,
  startRedisCluster,
  startRedisSentinel,
} from './support/redis-topologies';
import { ADMIN, createTestApp, TestApp } from './support/test-app';
import { call, cookieOf, Reply } from './support/service-process';

/**
 * Redis failures under a running service (built in-process exactly as main.ts builds it, listening
 * on a loopback port): Redis stopped under load and restarted, append-only persistence across a
 * restart and a crash, a Sentinel failover and a Redis Cluster failover. Every Redis here is this
 * file's own; every wait is bounded.
 */

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * A 503 must come within this of its request's start. With Redis down a command fails at once; at
 * worst a request waits out the 1 s command deadline on each of its (at most two) Redis calls. This
 * is over twice that worst case, so load cannot eat the margin, and still far below "waits until
 * Redis is back". Requests are given twice as long before the client gives up, so that a slow 503
 * fails this check rather than looking like no answer.
 */
const FAST_503_MS = 5000;
const REQUEST_TIMEOUT_MS = 2 * FAST_503_MS;
/** During a failover a command may also wait for the new master (~2 s at most, see redis-client.ts). */
const FAILOVER_503_MS = 8000;
const RECOVERY_BOUND_MS = 15_000;
const FAILOVER_BOUND_MS = 30_000;

// ------------------------------------------------------------------------------------------------
// A standalone redis-server with AOF that can be stopped and started again on the same port and dir
// ------------------------------------------------------------------------------------------------

interface RestartableRedis {
  url: string;
  port: number;
  /** Stops the server (SIGTERM: clean shutdown; SIGKILL: a crash) and waits until it has exited. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** Starts a new redis-server on the same port and dir (so it loads the same AOF) and waits for PONG. */
  start(): Promise<void>;
  /** Kills the server if it runs and removes its dir. */
  close(): Promise<void>;
}

const liveRedis = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of liveRedis) child.kill('SIGKILL');
});

async function waitForPong(url: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 500 } });
    client.on('error', () => undefined);
    try {
      await client.connect();
      const pong = await client.ping();
      await client.close();
      if (pong === 'PONG') return;
    } catch {
      client.destroy();
    }
    if (Date.now() > deadline) throw new Error(`redis-server at ${url} did not answer within ${timeoutMs} ms`);
    await sleep(50);
  }
}

function exitOf(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

async function startRestartableRedis(): Promise<RestartableRedis> {
  const persistence = ['--appendonly', 'yes', '--appendfsync', 'always'];
  const first = await startRedisServer(persistence);
  const { url, port, dir } = first;
  // The same arguments startRedisServer used; ours come last and win.
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir];
  let child = first.process;
  liveRedis.add(child);
  return {
    url,
    port,
    async stop(signal = 'SIGTERM') {
      await exitOf(child, signal);
      liveRedis.delete(child);
    },
    async start() {
      if (child.exitCode === null && child.signalCode === null) throw new Error('redis-server is still running');
      child = spawn('redis-server', [...args, ...persistence], { stdio: 'ignore' });
      liveRedis.add(child);
      await waitForPong(url);
    },
    async close() {
      await exitOf(child, 'SIGKILL');
      liveRedis.delete(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------------------------------------
// The service under test
// ------------------------------------------------------------------------------------------------

interface Running {
  t: TestApp;
  base: string;
  agent: http.Agent;
  close(): Promise<void>;
}

async function serve(env: Record<string, string | undefined>): Promise<Running> {
  // REDIS_URL: undefined drops the run's own Redis, so only this file's topology is configured.
  const t = await createTestApp({ env: { REDIS_URL: undefined, ...env } });
  await new Promise<void>((resolve) => t.http.listen(0, '127.0.0.1', resolve));
  const { port } = t.http.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  return {
    t,
    base: `http://127.0.0.1:${port}`,
    agent,
    close: async () => {
      agent.destroy();
      await t.close();
    },
  };
}

interface Session {
  cookie: string;
  csrfToken: string;
  id: string;
  userId: string;
}

async function loginVia(
  base: string,
  credentials: { username: string; password: string; deviceId?: string },
): Promise<Session> {
  const reply = await call(base, 'POST', '/auth/login', { body: credentials });
  expect({ status: reply.status, body: reply.body }).toMatchObject({ status: 200 });
  const body = reply.body as { csrfToken: string; session: { id: string }; user: { id: string } };
  return { cookie: cookieOf(reply), csrfToken: body.csrfToken, id: body.session.id, userId: body.user.id };
}

const profile = (s: Running, session: Session, timeoutMs = 10_000) =>
  call(s.base, 'GET', '/auth/profile', { cookie: session.cookie, agent: s.agent, timeoutMs });

const sessionIdIn = (reply: Reply) => (reply.body as { session?: { id?: string } } | undefined)?.session?.id;

/** Polls `read` until `done`, every `everyMs`; returns every reply seen and when the last one came. */
async function pollUntil(
  read: () => Promise<Reply>,
  done: (reply: Reply) => boolean,
  boundMs: number,
  everyMs = 100,
): Promise<{ replies: Reply[]; last: Reply; elapsedMs: number }> {
  const started = Date.now();
  const replies: Reply[] = [];
  for (;;) {
    const reply = await read();
    replies.push(reply);
    if (done(reply) || Date.now() - started > boundMs) return { replies, last: reply, elapsedMs: Date.now() - started };
    await sleep(everyMs);
  }
}

function histogram(statuses: number[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of statuses) counts[String(s)] = (counts[String(s)] ?? 0) + 1;
  return counts;
}

/** Log lines of the global exception filter: a 500 or an unexpected error while Redis was away. */
const unexpectedErrors = (t: TestApp) =>
  t.logs.filter((line) => {
    const entry = JSON.parse(line) as { context?: string; status?: number };
    return entry.context === 'Errors' || entry.status === 500;
  });

// An unhandled rejection anywhere (node-redis, the store, a floating promise) must fail the test. Jest 30
// already fails the running test on one by itself; this listener also catches any that reach the process.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(() => {
  expect(unhandled.map((r) => (r instanceof Error ? r.stack : String(r)))).toEqual([]);
  unhandled.length = 0;
});

// ------------------------------------------------------------------------------------------------

describe('standalone Redis with append-only persistence, stopped and restarted', () => {
  let redis: RestartableRedis | undefined;
  let s: Running | undefined;

  beforeAll(async () => {
    redis = await startRestartableRedis();
    s = await serve({ REDIS_URL: redis.url });
  }, 30_000);

  afterAll(async () => {
    await s?.close();
    await redis?.close();
  });

  it('under load: 503 within a bound while Redis is down, ready 503 / live 200, no crash, serves again by itself', async () => {
    const svc = s!;
    const session = await loginVia(svc.base, ADMIN);

    interface Sample {
      start: number;
      end: number;
      status: number;
      ms: number;
      error?: string;
    }
    const samples: Sample[] = [];
    let loading = true;
    const loop = async () => {
      while (loading) {
        const start = Date.now();
        const reply = await profile(svc, session, REQUEST_TIMEOUT_MS);
        samples.push({ start, end: Date.now(), status: reply.status, ms: reply.ms, error: reply.error });
        await sleep(10);
      }
    };
    const loops = Array.from({ length: 20 }, loop);
    try {
      await sleep(500);
      const stopAt = Date.now();
      await redis!.stop('SIGTERM');

      // While Redis is down: readiness fails, liveness does not, both answer within the bound.
      await sleep(200);
      const ready = await call(svc.base, 'GET', '/health/ready', { timeoutMs: REQUEST_TIMEOUT_MS });
      const live = await call(svc.base, 'GET', '/health/live', { timeoutMs: REQUEST_TIMEOUT_MS });
      expect({ ready: ready.status, live: live.status }).toEqual({ ready: 503, live: 200 });
      expect(ready.ms).toBeLessThan(FAST_503_MS);
      expect(live.ms).toBeLessThan(FAST_503_MS);

      // Keep Redis away for ~2 s under load, then bring it back on the same port and AOF.
      await sleep(Math.max(0, 2000 - (Date.now() - stopAt)));
      const restartAt = Date.now();
      await redis!.start();
      const back = await pollUntil(
        () => profile(svc, session, 5000),
        (r) => r.status === 200,
        RECOVERY_BOUND_MS,
        50,
      );
      const recoveredAt = Date.now();
      const recoveryMs = recoveredAt - restartAt;
      expect(back.last.status).toBe(200);
      expect(sessionIdIn(back.last)).toBe(session.id);
      await sleep(300);
      loading = false;
      await Promise.all(loops);

      const before = samples.filter((x) => x.end < stopAt);
      const during = samples.filter((x) => x.end >= stopAt && x.start < recoveredAt);
      const after = samples.filter((x) => x.start > recoveredAt);
      const slowest503 = Math.max(0, ...samples.filter((x) => x.status === 503).map((x) => x.ms));
      console.log(
        `standalone Redis stopped under load (20 loops): before ${JSON.stringify(histogram(before.map((x) => x.status)))}, ` +
          `during ${JSON.stringify(histogram(during.map((x) => x.status)))}, after ${JSON.stringify(histogram(after.map((x) => x.status)))}; ` +
          `slowest 503 ${slowest503} ms; Redis restart -> first 200: ${recoveryMs} ms (stopped ${restartAt - stopAt} ms)`,
      );

      expect(before.length).toBeGreaterThan(0);
      expect(before.filter((x) => x.status !== 200)).toEqual([]);
      expect(during.filter((x) => x.status !== 200 && x.status !== 503)).toEqual([]);
      expect(during.filter((x) => x.status === 503).length).toBeGreaterThan(0);
      expect(samples.filter((x) => x.status === 503 && x.ms >= FAST_503_MS)).toEqual([]);
      expect(after.length).toBeGreaterThan(0);
      expect(after.filter((x) => x.status !== 200)).toEqual([]);

      const readyAgain = await pollUntil(
        () => call(svc.base, 'GET', '/health/ready'),
        (r) => r.status === 200,
        RECOVERY_BOUND_MS,
      );
      expect(readyAgain.last.status).toBe(200);
      expect(unexpectedErrors(svc.t)).toEqual([]);
    } finally {
      loading = false;
      await Promise.all(loops);
    }
  }, 45_000);

  async function persistsAcross(signal: NodeJS.Signals) {
    const svc = s!;
    const admin = await loginVia(svc.base, ADMIN);
    const user = { username: `aof-${signal.toLowerCase()}-${Date.now().toString(36)}`, password: 'aof-password-1' };
    const created = await call(svc.base, 'POST', '/admin/users', {
      cookie: admin.cookie,
      csrfToken: admin.csrfToken,
      body: user,
    });
    expect(created.status).toBe(201);
    const kept = await loginVia(svc.base, { ...user, deviceId: 'kept' });
    const ended = await loginVia(svc.base, { ...user, deviceId: 'ended' });
    const logout = await call(svc.base, 'POST', '/auth/logout', { cookie: ended.cookie, csrfToken: ended.csrfToken });
    expect(logout.status).toBe(200);
    expect((await profile(svc, kept)).status).toBe(200);

    const restartAt = Date.now();
    await redis!.stop(signal);
    await redis!.start();
    const back = await pollUntil(
      () => profile(svc, kept, 5000),
      (r) => r.status !== 503,
      RECOVERY_BOUND_MS,
      50,
    );
    console.log(
      `AOF, Redis ${signal} + restart -> first answer ${back.last.status} after ${Date.now() - restartAt} ms`,
    );

    // The session and the user written before the restart are there; the ended session stays ended.
    expect(back.last.status).toBe(200);
    expect(sessionIdIn(back.last)).toBe(kept.id);
    expect((await profile(svc, admin)).status).toBe(200);
    expect((await profile(svc, ended)).status).toBe(401);
    const again = await loginVia(svc.base, { ...user, deviceId: 'after-restart' });
    const own = await call(svc.base, 'GET', '/auth/sessions', { cookie: again.cookie });
    expect(((own.body as { sessions: { id: string }[] }).sessions ?? []).map((x) => x.id).sort()).toEqual(
      [kept.id, again.id].sort(),
    );
    // Scripts work again after the restart emptied Redis' script cache (EVALSHA -> NOSCRIPT -> EVAL).
    const out = await call(svc.base, 'POST', '/auth/logout', { cookie: kept.cookie, csrfToken: kept.csrfToken });
    expect(out.status).toBe(200);
    expect((await profile(svc, kept)).status).toBe(401);
    expect(unexpectedErrors(svc.t)).toEqual([]);
  }

  it('sessions and users written before a clean Redis restart (SIGTERM) still work after it', async () => {
    await persistsAcross('SIGTERM');
  }, 30_000);

  it('sessions and users written before a Redis crash (SIGKILL, appendfsync always) still work after it', async () => {
    await persistsAcross('SIGKILL');
  }, 30_000);
});

// ------------------------------------------------------------------------------------------------

/** Polls a session's profile through a failover; every reply is kept for the assertions. */
async function followFailover(svc: Running, session: Session) {
  return pollUntil(
    () => profile(svc, session),
    (r) => r.status === 200,
    FAILOVER_BOUND_MS,
    100,
  );
}

function expectOnly200Or503(replies: Reply[]) {
  // 401 would mean the session was lost; 500 or no answer would be a failure not mapped to 503.
  expect(replies.filter((r) => r.status !== 200 && r.status !== 503).map((r) => [r.status, r.error, r.body])).toEqual(
    [],
  );
  expect(replies.filter((r) => r.status === 503 && r.ms >= FAILOVER_503_MS).map((r) => r.ms)).toEqual([]);
}

describe('Sentinel: the master is killed', () => {
  let topo: RedisSentinelTopology | undefined;
  let s: Running | undefined;

  beforeAll(async () => {
    topo = await startRedisSentinel();
    s = await serve({
      REDIS_SENTINELS: topo.sentinels.map((n) => `${n.host}:${n.port}`).join(','),
      REDIS_SENTINEL_NAME: topo.masterName,
    });
  }, 40_000);

  afterAll(async () => {
    await s?.close();
    await topo?.stop();
  });

  it('follows the promoted replica without a restart; a session written a second before is still valid', async () => {
    const svc = s!;
    const session = await loginVia(svc.base, { ...ADMIN, deviceId: 'before-failover' });
    expect((await profile(svc, session)).status).toBe(200);
    await sleep(1000);

    const killedAt = Date.now();
    const killed = await topo!.killMaster();
    const run = await followFailover(svc, session);
    const failoverMs = Date.now() - killedAt;
    console.log(
      `Sentinel: master ${killed} killed -> first 200 for the earlier session after ${failoverMs} ms ` +
        `(${JSON.stringify(histogram(run.replies.map((r) => r.status)))}, slowest reply ${Math.max(...run.replies.map((r) => r.ms))} ms)`,
    );
    expectOnly200Or503(run.replies);
    expect(run.last.status).toBe(200);
    expect(sessionIdIn(run.last)).toBe(session.id);
    expect((await topo!.currentMaster()).port).toBe(topo!.replicaPort);

    // Writes go to the new master: a new login, its use, and a logout.
    const fresh = await loginVia(svc.base, { ...ADMIN, deviceId: 'after-failover' });
    expect((await profile(svc, fresh)).status).toBe(200);
    const out = await call(svc.base, 'POST', '/auth/logout', { cookie: fresh.cookie, csrfToken: fresh.csrfToken });
    expect(out.status).toBe(200);
    expect((await profile(svc, fresh)).status).toBe(401);
    expect((await profile(svc, session)).status).toBe(200);
    expect(
      (
        await pollUntil(
          () => call(svc.base, 'GET', '/health/ready'),
          (r) => r.status === 200,
          10_000,
        )
      ).last.status,
    ).toBe(200);
    expect(unexpectedErrors(svc.t)).toEqual([]);
  }, 60_000);
});

// ------------------------------------------------------------------------------------------------

describe('Redis Cluster: the master of a session is killed', () => {
  let topo: RedisClusterTopology | undefined;
  let s: Running | undefined;

  beforeAll(async () => {
    topo = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    s = await serve({ REDIS_CLUSTER_NODES: topo.nodes.map((n) => `${n.host}:${n.port}`).join(',') });
  }, 40_000);

  afterAll(async () => {
    await s?.close();
    await topo?.stop();
  });

  it('its replica takes over and the service keeps serving that session without a restart', async () => {
    const svc = s!;
    const session = await loginVia(svc.base, { ...ADMIN, deviceId: 'before-failover' });
    expect((await profile(svc, session)).status).toBe(200);
    // Every key of the user carries the hash tag {u:<userId>}, so they all live on this master.
    const master = await topo!.masterOf(`{u:${session.userId}}`);
    await sleep(1000);

    const killedAt = Date.now();
    await topo!.stopNode(master, 'SIGKILL');
    const run = await followFailover(svc, session);
    const failoverMs = Date.now() - killedAt;
    console.log(
      `Cluster: master ${master} of {u:${session.userId}} killed -> first 200 for that session after ${failoverMs} ms ` +
        `(${JSON.stringify(histogram(run.replies.map((r) => r.status)))}, slowest reply ${Math.max(...run.replies.map((r) => r.ms))} ms)`,
    );
    expectOnly200Or503(run.replies);
    expect(run.last.status).toBe(200);
    expect(sessionIdIn(run.last)).toBe(session.id);
    const newMaster = await topo!.masterOf(`{u:${session.userId}}`);
    expect(newMaster).not.toBe(master);

    // Writes on that slot go to the promoted replica: a new login of the same user, and a logout.
    const fresh = await loginVia(svc.base, { ...ADMIN, deviceId: 'after-failover' });
    expect((await profile(svc, fresh)).status).toBe(200);
    const out = await call(svc.base, 'POST', '/auth/logout', { cookie: fresh.cookie, csrfToken: fresh.csrfToken });
    expect(out.status).toBe(200);
    expect((await profile(svc, fresh)).status).toBe(401);
    expect((await profile(svc, session)).status).toBe(200);
    expect(unexpectedErrors(svc.t)).toEqual([]);
  }, 60_000);
});
