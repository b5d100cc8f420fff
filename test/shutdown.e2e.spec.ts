import { ADMIN, createTestApp, login, redisEnv, TEST_SECRET, TestApp, uniquePrefix } from './support/test-app';
import { as, handleOf, profileStatus, storedSession } from './support/sessions';
import {
  buildService,
  call,
  cookieOf,
  Reply,
  ServiceBuild,
  ServiceProcess,
  startService,
  stopAllServices,
} from './support/service-process';

/**
 * SIGTERM on a real service process (node dist/main.js) with logins in flight: readiness turns 503
 * (or the listener is already closed), no new connection is served, the in-flight logins finish and
 * their sessions reach Redis before its client is closed, and the process exits 0 without an error.
 */

const IN_FLIGHT = 4;
const EXIT_BOUND_MS = 15_000;

describe('graceful shutdown on SIGTERM, with logins in flight', () => {
  let build: ServiceBuild | undefined;
  let service: ServiceProcess;
  let checker: TestApp | undefined;
  const prefix = uniquePrefix();

  /** What the shutdown did, recorded once; each test below asserts one part of it. */
  let replies: Reply[] = [];
  const probes: { at: number; status: number; error?: string }[] = [];
  let exit: { code: number | null; signal: NodeJS.Signals | null } | 'timeout';
  let exitMs = 0;

  beforeAll(async () => {
    build = await buildService();
    console.log(`service build: ${build.how}`);
    service = await startService(
      build.mainJs,
      {
        ...redisEnv(),
        REDIS_KEY_PREFIX: prefix,
        SESSION_SECRET: TEST_SECRET,
        ADMIN_USERNAME: ADMIN.username,
        ADMIN_PASSWORD: ADMIN.password,
        // A slot per in-flight login: a login waits at most 5 s for a hashing slot, and behind three
        // others (one slot on 2 cores) a busy machine made it wait longer than that (503).
        PASSWORD_HASH_CONCURRENCY: String(IN_FLIGHT),
      },
      'service',
    );

    // Warm up (first argon2 hash, first script loads) so the logins below are ordinary ones.
    const warm = await call(service.url, 'POST', '/auth/login', { body: ADMIN });
    expect(warm.status).toBe(200);

    // Logins spend ~50-100 ms each in argon2 (all four at once): they are still running at SIGTERM.
    let sent = 0;
    let allSent!: () => void;
    const written = new Promise<void>((resolve) => (allSent = resolve));
    const inFlight = Array.from({ length: IN_FLIGHT }, (_, i) =>
      call(service.url, 'POST', '/auth/login', {
        body: { ...ADMIN, deviceId: `in-flight-${i}` },
        agent: false,
        timeoutMs: 10_000,
        onSent: () => {
          if (++sent === IN_FLIGHT) allSent();
        },
      }),
    );
    await written;
    // The signal must land once the service has read the logins off their sockets (a connection
    // still in the listen backlog, or accepted but unread, is not in flight: closing the listener
    // drops it). A request on a connection opened after theirs is answered only after the service
    // has accepted and read those: its reply, not a fixed wait a loaded machine can outlast, says so.
    const marker = await call(service.url, 'GET', '/health/live', { agent: false, timeoutMs: 10_000 });
    expect(marker.status).toBe(200);
    const signalledAt = Date.now();
    service.child.kill('SIGTERM');

    // New connections after the signal, until the process is gone.
    const probing = (async () => {
      while (service.running() && Date.now() - signalledAt < EXIT_BOUND_MS) {
        const reply = await call(service.url, 'GET', '/health/ready', { agent: false, timeoutMs: 2000 });
        probes.push({ at: Date.now() - signalledAt, status: reply.status, error: reply.error });
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();

    replies = await Promise.all(inFlight);
    let bound: NodeJS.Timeout | undefined;
    exit = await Promise.race([
      service.exited,
      new Promise<'timeout'>((resolve) => (bound = setTimeout(() => resolve('timeout'), EXIT_BOUND_MS))),
    ]);
    clearTimeout(bound);
    exitMs = Date.now() - signalledAt;
    await probing;
    console.log(
      `SIGTERM -> exit ${JSON.stringify(exit)} after ${exitMs} ms; in-flight logins ${replies
        .map((r) => `${r.status} in ${r.ms} ms`)
        .join(', ')}; probes after the signal: ${probes.map((p) => `${p.at}ms:${p.status || p.error}`).join(' ')}`,
    );
  }, 120_000);

  afterAll(async () => {
    await stopAllServices();
    await checker?.close();
    build?.remove();
  });

  it('completes every login that was in flight, and their sessions reached Redis before it was closed', async () => {
    expect(replies.map((r) => ({ status: r.status, error: r.error }))).toEqual(
      replies.map(() => ({ status: 200, error: undefined })),
    );
    const cookies = replies.map(cookieOf);
    // Another instance (in-process, same prefix and secret) accepts every cookie.
    checker = await createTestApp({ env: { REDIS_KEY_PREFIX: prefix } });
    for (const cookie of cookies) expect(await profileStatus(checker.http, cookie)).toBe(200);
  });

  it('serves no new connection once the signal is handled: /health/ready 503 or the connection refused', async () => {
    expect(probes.length).toBeGreaterThan(0);
    // Only the very first probe may have been answered before the signal was handled.
    expect(probes.slice(1).filter((p) => p.status !== 503 && p.status !== 0)).toEqual([]);
    expect(probes.filter((p) => p.status === 0 && !['ECONNREFUSED', 'ECONNRESET'].includes(p.error ?? ''))).toEqual([]);
    const after = await call(service.url, 'GET', '/health/ready', { agent: false, timeoutMs: 2000 });
    expect(after).toMatchObject({ status: 0, error: 'ECONNREFUSED' });
  });

  it('logs the in-flight logins as 200 and no error', () => {
    const logs = service.logs();
    expect(logs.filter((l) => l.level === 'error' || l.level === 'fatal' || 'raw' in l)).toEqual([]);
    expect(service.stderr).toEqual([]);
    expect(logs.filter((l) => l.context === 'HTTP' && l.path === '/auth/login' && l.status === 200)).toHaveLength(
      IN_FLIGHT + 1,
    );
  });

  it(`exits by itself with code 0 within ${EXIT_BOUND_MS / 1000} s`, () => {
    expect(exit).not.toBe('timeout');
    // A process that ends by re-raising SIGTERM on itself reports code null and signal SIGTERM.
    expect(exit).toEqual({ code: 0, signal: null });
  });
});

/**
 * SHUTDOWN_DRAIN: after SIGTERM, readiness is 503 at once while the service keeps serving (a load
 * balancer polling readiness stops sending first); the listener closes only when the drain is over.
 */
describe('SIGTERM with SHUTDOWN_DRAIN=2', () => {
  const DRAIN_MS = 2000;
  let build: ServiceBuild | undefined;
  let service: ServiceProcess;
  const seen: { at: number; ready: number; profile: number; errors: string[] }[] = [];
  let exitMs = 0;
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  beforeAll(async () => {
    build = await buildService();
    service = await startService(
      build.mainJs,
      {
        ...redisEnv(),
        REDIS_KEY_PREFIX: uniquePrefix(),
        SESSION_SECRET: TEST_SECRET,
        ADMIN_USERNAME: ADMIN.username,
        ADMIN_PASSWORD: ADMIN.password,
        SHUTDOWN_DRAIN: String(DRAIN_MS / 1000),
      },
      'drained',
    );
    const cookie = cookieOf(await call(service.url, 'POST', '/auth/login', { body: ADMIN }));
    expect((await call(service.url, 'GET', '/health/ready')).status).toBe(200);
    const signalledAt = Date.now();
    service.child.kill('SIGTERM');
    // New connections through the drain: readiness and an authenticated request, side by side.
    while (service.running() && Date.now() - signalledAt < EXIT_BOUND_MS) {
      const [ready, profile] = await Promise.all([
        call(service.url, 'GET', '/health/ready', { agent: false, timeoutMs: 2000 }),
        call(service.url, 'GET', '/auth/profile', { agent: false, timeoutMs: 2000, cookie }),
      ]);
      const errors = [ready.error, profile.error].filter((e): e is string => e !== undefined);
      seen.push({ at: Date.now() - signalledAt, ready: ready.status, profile: profile.status, errors });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    exit = await service.exited;
    exitMs = Date.now() - signalledAt;
  }, 60_000);

  afterAll(async () => {
    await stopAllServices();
    build?.remove();
  });

  it('answers readiness 503 and still serves requests until the drain is over, then closes and exits 0', () => {
    const served = seen.filter((s) => s.profile === 200);
    // Served for most of the drain (the first probe may land before the signal is handled).
    expect(served.length).toBeGreaterThan(5);
    expect(served[served.length - 1].at).toBeGreaterThanOrEqual(DRAIN_MS - 500);
    expect(seen.slice(1).filter((s) => s.profile === 200 && s.ready !== 503)).toEqual([]);
    // Once the listener closed: refused or reset, never an error answer. A probe pair can straddle
    // the close (readiness still answered 503, the profile's new connection reset as it closed).
    const closed = (s: (typeof seen)[number]) => s.errors.every((e) => e === 'ECONNREFUSED' || e === 'ECONNRESET');
    const refused = (s: (typeof seen)[number]) => s.profile === 0 && (s.ready === 0 || s.ready === 503) && closed(s);
    expect(seen.filter((s) => s.profile !== 200 && !refused(s))).toEqual([]);
    expect(exitMs).toBeGreaterThanOrEqual(DRAIN_MS);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(service.logs().some((l) => String(l.msg).includes('SHUTDOWN_DRAIN'))).toBe(true);
  });
});

/**
 * The activity tracker flushes in its onApplicationShutdown and RedisModule closes the client in
 * its own: this holds only while Nest runs the session module's hooks before the Redis module's.
 */
describe('app.close() with request counts not yet written', () => {
  const REQUESTS = 7;
  const env = { REDIS_KEY_PREFIX: uniquePrefix(), SESSION_TOUCH_INTERVAL: '60' };
  let t: TestApp | undefined;
  let checker: TestApp | undefined;

  afterEach(async () => {
    await t?.close();
    await checker?.close();
  });

  it('writes them to Redis before the Redis client closes', async () => {
    const app = await createTestApp({ env });
    t = app;
    const admin = await login(app.http);
    const handle = handleOf(admin.cookie);
    for (let i = 0; i < REQUESTS; i++) await as(app.http, admin).get('/auth/profile').expect(200);
    // Within SESSION_TOUCH_INTERVAL: counted in this process, not written yet.
    expect((await storedSession(app, handle))?.requestCount).toBe(1);

    t = undefined;
    await app.close();

    expect(app.logs.filter((line) => line.includes('Activity write failed'))).toEqual([]);
    checker = await createTestApp({ env });
    expect((await storedSession(checker, handle))?.requestCount).toBe(1 + REQUESTS);
  });
});
