import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { performance } from 'node:perf_hooks';
import { gitRevision, intEnv, RESULTS_DIR, ROOT } from './env';
import { cookieFrom, parseJson, request } from './http';
import { chooseTool, LoadTool, runLoad } from './load';
import {
  BenchRedis,
  commandDelta,
  commandStats,
  cpuMicros,
  exited,
  freePort,
  Managed,
  startProcess,
  startRedis,
} from './processes';
import {
  Check,
  markdownTable,
  Measured,
  percentile,
  ratiosTable,
  round,
  sameRoundRatios,
  StormRound,
  stormTable,
  summarize,
  summarizeStorm,
  TARGET_LABELS,
  TargetKey,
  targetsTable,
  textTable,
} from './report';

/**
 * `npm run bench`: the built service (production mode, as shipped) against two baselines under the
 * same load, in interleaved rounds, then a login storm against the service. Each Redis-backed
 * target has a redis-server of its own, so INFO commandstats deltas belong to one target.
 */

const PROFILE = '/auth/profile';
const COOKIE = '__Host-sid';
// Every request arrives as if through a TLS-terminating proxy: secure cookies are then set and sent.
const FORWARDED = { 'X-Forwarded-Proto': 'https' };

const config = {
  rounds: intEnv('BENCH_ROUNDS', 5),
  durationS: intEnv('BENCH_DURATION', 5),
  connections: intEnv('BENCH_CONNECTIONS', 50),
  warmupS: intEnv('BENCH_WARMUP', 3, 0),
  stormRounds: intEnv('BENCH_STORM_ROUNDS', 3, 0),
  stormConcurrency: intEnv('BENCH_STORM_CONCURRENCY', 8),
  tool: chooseTool(),
};

interface Target {
  key: TargetKey;
  baseUrl: string;
  process: Managed;
  redis: BenchRedis | null;
  /** Headers of an authenticated profile request. */
  headers: Record<string, string>;
  /** Profile requests the target served with that cookie (load runs and probes). */
  served: number;
}

const log = (line: string): void => console.log(`[bench] ${line}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `attempt` until it returns a value; fails at once if the process has exited. */
async function waitFor<T>(managed: Managed, attempt: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited(managed)) throw new Error(`${managed.name} exited during start-up:\n${managed.logTail()}`);
    const value = await attempt().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline)
      throw new Error(`${managed.name} was not ready after ${timeoutMs} ms:\n${managed.logTail()}`);
    await sleep(100);
  }
}

function nodeEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  // Only what the targets need: nothing from the caller's environment changes their configuration.
  return { PATH: process.env.PATH, HOME: process.env.HOME, NODE_ENV: 'production', HOST: '127.0.0.1', ...extra };
}

interface Credentials {
  username: string;
  password: string;
}

interface ServiceTarget extends Target {
  secret: string;
  admin: Credentials;
  csrfToken: string;
}

async function startService(redis: BenchRedis, logDir: string): Promise<ServiceTarget> {
  const port = await freePort();
  const secret = randomBytes(32).toString('hex');
  const admin = { username: 'bench-admin', password: randomBytes(16).toString('hex') };
  const nodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const managed = startProcess('service', process.execPath, [...nodeArgs, join(ROOT, 'dist', 'main.js')], {
    cwd: ROOT,
    logDir,
    env: nodeEnv({
      PORT: String(port),
      REDIS_URL: redis.url,
      SESSION_SECRET: secret,
      ADMIN_USERNAME: admin.username,
      ADMIN_PASSWORD: admin.password,
      TRUST_PROXY: 'true',
    }),
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  // No health endpoint yet: ready is when the first admin can log in.
  const { cookie, csrfToken } = await waitFor(managed, async () => {
    const res = await request(`${baseUrl}/auth/login`, { method: 'POST', json: admin, headers: FORWARDED });
    const cookie = res.status === 200 ? cookieFrom(res, COOKIE) : null;
    return cookie ? { cookie, csrfToken: parseJson<{ csrfToken: string }>(res).csrfToken } : null;
  });
  return {
    key: 'service',
    baseUrl,
    process: managed,
    redis,
    headers: { ...FORWARDED, Cookie: cookie },
    served: 0,
    secret,
    admin,
    csrfToken,
  };
}

async function startBareNest(logDir: string): Promise<Target> {
  const port = await freePort();
  const managed = startProcess('bare-nest', process.execPath, [join(__dirname, 'baselines', 'bare-nest.js')], {
    cwd: ROOT,
    logDir,
    env: nodeEnv({ PORT: String(port) }),
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor(managed, async () => ((await request(`${baseUrl}${PROFILE}`)).status === 200 ? true : null));
  return { key: 'bareNest', baseUrl, process: managed, redis: null, headers: { ...FORWARDED }, served: 0 };
}

async function startExpressSession(redis: BenchRedis, logDir: string): Promise<Target> {
  const port = await freePort();
  const managed = startProcess(
    'express-session',
    process.execPath,
    [join(__dirname, 'baselines', 'express-session-redis.js')],
    {
      cwd: ROOT,
      logDir,
      env: nodeEnv({ PORT: String(port), REDIS_URL: redis.url, SESSION_SECRET: randomBytes(32).toString('hex') }),
    },
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const cookie = await waitFor(managed, async () => {
    const res = await request(`${baseUrl}/auth/login`, {
      method: 'POST',
      json: { username: 'bench-admin' },
      headers: FORWARDED,
    });
    return res.status === 200 ? cookieFrom(res, COOKIE) : null;
  });
  return {
    key: 'expressSession',
    baseUrl,
    process: managed,
    redis,
    headers: { ...FORWARDED, Cookie: cookie },
    served: 0,
  };
}

/** One load run of GET /auth/profile with the target's CPU and Redis counters read around it. */
async function measure(target: Target, durationS: number): Promise<Measured> {
  const redisBefore = target.redis ? await commandStats(target.redis.client) : null;
  const redisCpuBefore = target.redis ? cpuMicros(target.redis.process.pid) : 0;
  const cpuBefore = cpuMicros(target.process.pid);
  const load = await runLoad(config.tool, {
    url: `${target.baseUrl}${PROFILE}`,
    connections: config.connections,
    durationS,
    headers: target.headers,
  });
  const cpuAfter = cpuMicros(target.process.pid);
  const redisCpuAfter = target.redis ? cpuMicros(target.redis.process.pid) : 0;
  const redisAfter = target.redis ? await commandStats(target.redis.client) : null;
  target.served += load.served;
  const perRequest = (value: number): number => (load.served > 0 ? value / load.served : NaN);
  const redisCommands = redisBefore && redisAfter ? commandDelta(redisBefore, redisAfter) : null;
  const redisCalls = redisCommands ? Object.values(redisCommands).reduce((n, c) => n + c.calls, 0) : 0;
  return {
    ...load,
    nodeCpuUsPerReq: perRequest(cpuAfter - cpuBefore),
    redisCmdsPerReq: redisCommands ? perRequest(redisCalls) : null,
    redisCpuUsPerReq: target.redis ? perRequest(redisCpuAfter - redisCpuBefore) : null,
    redisCommands,
  };
}

function describe(m: Measured): string {
  const parts = [
    `${Math.round(m.rps)} req/s`,
    `p50 ${m.p50Ms.toFixed(2)} ms`,
    `p99 ${m.p99Ms.toFixed(2)} ms`,
    `Node CPU ${Math.round(m.nodeCpuUsPerReq)} µs/req`,
  ];
  if (m.redisCmdsPerReq !== null) parts.push(`Redis ${m.redisCmdsPerReq.toFixed(2)} cmds/req`);
  if (m.badStatus + m.socketErrors > 0) parts.push(`!! ${m.badStatus} bad status, ${m.socketErrors} socket errors`);
  return parts.join(', ');
}

/**
 * Logins in back-to-back loops, one loop per user, for as long as `during` runs. One user per loop:
 * the login limiter counts a username's attempts in flight before their passwords are checked, so
 * more concurrent logins of one username than LOGIN_MAX_FAILURES would get 429 by design.
 */
async function loginStorm<T>(
  service: ServiceTarget,
  users: Credentials[],
  during: () => Promise<T>,
): Promise<{ result: T; logins: StormRound['logins'] }> {
  const agent = new Agent({ keepAlive: true, maxSockets: users.length });
  const latencies: number[] = [];
  let ok = 0;
  let failed = 0;
  const failures: Record<string, number> = {};
  const fail = (why: string): void => {
    failed += 1;
    failures[why] = (failures[why] ?? 0) + 1;
  };
  let stopped = false;
  const started = performance.now();
  const loops = users.map(async (user) => {
    while (!stopped) {
      const t0 = performance.now();
      try {
        const res = await request(`${service.baseUrl}/auth/login`, {
          method: 'POST',
          json: user,
          headers: FORWARDED,
          agent,
          timeoutMs: 30_000,
        });
        latencies.push(performance.now() - t0);
        if (res.status === 200) ok += 1;
        else fail(String(res.status));
      } catch {
        fail('error');
      }
    }
  });
  try {
    const result = await during();
    return {
      result,
      logins: {
        ok,
        failed,
        failures,
        perSecond: ok / ((performance.now() - started) / 1000),
        p50Ms: percentile(latencies, 50),
        p99Ms: percentile(latencies, 99),
      },
    };
  } finally {
    stopped = true;
    await Promise.all(loops);
    agent.destroy();
  }
}

async function createStormUser(service: ServiceTarget, index: number): Promise<Credentials> {
  const user = { username: `bench-storm-${index}`, password: randomBytes(16).toString('hex') };
  const res = await request(`${service.baseUrl}/admin/users`, {
    method: 'POST',
    json: { ...user, roles: ['user'] },
    headers: { ...service.headers, 'X-CSRF-Token': service.csrfToken },
  });
  if (res.status !== 201) throw new Error(`could not create the storm user: ${res.status} ${res.body}`);
  return user;
}

/** The steady authenticated response of the service sets no cookie (and baseline b's does, for contrast). */
async function checkSteadyCookie(target: Target): Promise<Check> {
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) {
    const res = await request(`${target.baseUrl}${PROFILE}`, { headers: target.headers });
    target.served += 1;
    seen.push(`${res.status}${res.headers['set-cookie'] ? ' +Set-Cookie' : ''}`);
  }
  const pass = seen.every((s) => s === '200');
  return {
    name: `${target.key}: steady authenticated GET ${PROFILE} has no Set-Cookie`,
    pass,
    detail: `5 requests answered: ${[...new Set(seen)].join(', ')}`,
  };
}

/** A signed cookie value for a session id the service never issued (express-session's format). */
function forgedCookie(secret: string): string {
  const sid = `${randomBytes(9).toString('base64url')}.${randomBytes(32).toString('base64url')}`;
  const signature = createHmac('sha256', secret).update(sid).digest('base64').replace(/=+$/, '');
  return `${COOKIE}=${encodeURIComponent(`s:${sid}.${signature}`)}`;
}

/** Anonymous requests (no cookie, a bad cookie, a validly signed unknown one) create no Redis key. */
async function checkAnonymous(service: ServiceTarget): Promise<Check> {
  const redis = service.redis as BenchRedis;
  // DBSIZE outside the two INFO snapshots, so that the delta holds only what the requests caused.
  const keysBefore = await redis.client.dbSize();
  const statsBefore = await commandStats(redis.client);
  const probes: [string, Record<string, string>][] = [
    [PROFILE, {}],
    ['/auth/csrf', {}],
    ['/auth/sessions', {}],
    ['/admin/sessions/stats', {}],
    ['/no-such-route', {}],
    [PROFILE, { Cookie: `${COOKIE}=s%3Anot-a-session.bad-signature` }],
    [PROFILE, { Cookie: forgedCookie(service.secret) }],
  ];
  const statuses: number[] = [];
  for (const [path, headers] of probes) {
    statuses.push((await request(`${service.baseUrl}${path}`, { headers: { ...FORWARDED, ...headers } })).status);
  }
  const commands = commandDelta(statsBefore, await commandStats(redis.client));
  const keysAfter = await redis.client.dbSize();
  const calls = Object.entries(commands).map(([c, { calls }]) => `${c}×${calls}`);
  return {
    name: 'service: anonymous requests create no Redis key',
    pass: keysAfter === keysBefore && statuses.every((s) => s >= 400 && s < 500),
    detail:
      `${probes.length} requests answered ${statuses.join(', ')}; keys ${keysBefore} -> ${keysAfter}; ` +
      `Redis commands: ${calls.length ? calls.join(', ') : 'none'}`,
  };
}

/** How many of the requests served are in the session's requestCount (lost updates show here). */
async function countCheck(target: Target): Promise<Record<string, number>> {
  if (target.key === 'service') {
    // The service writes counts at most once per touch interval; what it holds in memory is in the answer too.
    await sleep(100);
  }
  const res = await request(`${target.baseUrl}${PROFILE}`, { headers: target.headers });
  target.served += 1;
  const count = parseJson<{ session: { requestCount: number } }>(res).session.requestCount;
  return { requestsSent: target.served, requestCountInSession: count, share: round(count / target.served, 4) };
}

function toolVersion(tool: LoadTool): string {
  if (tool === 'autocannon') {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8')) as {
      version: string;
    };
    return `autocannon ${pkg.version}`;
  }
  try {
    execFileSync('wrk', ['-v'], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const out = String((error as { stdout?: string }).stdout ?? '');
    return out.split('\n')[0].split(' Copyright')[0].trim() || 'wrk';
  }
  return 'wrk';
}

async function main(): Promise<void> {
  const logDir = mkdtempSync(join(tmpdir(), 'session-bench-'));
  const started: { stop(): Promise<void> }[] = [];
  let failed: boolean;
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
  };
  const interrupt = (): void => {
    log('interrupted: stopping everything the bench started');
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  try {
    const { rounds, durationS, connections, warmupS } = config;
    log(
      `${config.tool}, ${connections} connections, ${rounds} rounds x 3 targets x ${durationS} s, ` +
        `warm-up ${warmupS} s, storm ${config.stormRounds} x (quiet + storm) with ${config.stormConcurrency} logins at once`,
    );
    log(`logs in ${logDir}`);
    const loadBefore = loadavg()[0];
    if (loadBefore > 0.5) {
      log(`warning: load average ${loadBefore.toFixed(2)} before the run: other work on this machine skews figures`);
    }

    const serviceRedis = await startRedis('redis-service', logDir);
    started.push(serviceRedis);
    const baselineRedis = await startRedis('redis-express-session', logDir);
    started.push(baselineRedis);

    const service = await startService(serviceRedis, logDir);
    started.push(service.process);
    log(`service ready on ${service.baseUrl} (pid ${service.process.pid}, Redis ${serviceRedis.url})`);
    const bareNest = await startBareNest(logDir);
    started.push(bareNest.process);
    log(`baseline a (bare NestJS) ready on ${bareNest.baseUrl} (pid ${bareNest.process.pid})`);
    const expressSession = await startExpressSession(baselineRedis, logDir);
    started.push(expressSession.process);
    log(
      `baseline b (express-session) ready on ${expressSession.baseUrl} ` +
        `(pid ${expressSession.process.pid}, Redis ${baselineRedis.url})`,
    );
    const targets: Target[] = [service, bareNest, expressSession];

    const checks: Check[] = [await checkAnonymous(service)];
    const stormUsers: Credentials[] = [];
    if (config.stormRounds > 0) {
      for (let i = 0; i < config.stormConcurrency; i++) stormUsers.push(await createStormUser(service, i));
    }

    if (warmupS > 0) {
      for (const target of targets) {
        const m = await measure(target, warmupS);
        log(`warm-up ${target.key}: ${describe(m)}`);
      }
    }
    checks.push(await checkSteadyCookie(service));
    const baselineCookie = await checkSteadyCookie(expressSession);
    const info: Record<string, unknown> = {
      expressSessionSetsCookieOnEveryResponse: !baselineCookie.pass,
      expressSessionSteadyResponses: baselineCookie.detail,
    };

    const results: Record<TargetKey, Measured[]> = { service: [], bareNest: [], expressSession: [] };
    for (let r = 1; r <= rounds; r++) {
      for (const target of targets) {
        const m = await measure(target, durationS);
        results[target.key].push(m);
        log(`round ${r}/${rounds} ${target.key.padEnd(14)} ${describe(m)}`);
      }
    }

    const stormRounds: StormRound[] = [];
    for (let r = 1; r <= config.stormRounds; r++) {
      const quiet = await measure(service, durationS);
      log(`storm ${r}/${config.stormRounds} quiet: ${describe(quiet)}`);
      const { result: storm, logins } = await loginStorm(service, stormUsers, () => measure(service, durationS));
      stormRounds.push({ quiet, storm, logins });
      log(
        `storm ${r}/${config.stormRounds} storm: ${describe(storm)}; logins ${logins.ok} ok ` +
          `(${logins.perSecond.toFixed(1)}/s, p50 ${logins.p50Ms.toFixed(0)} ms, p99 ${logins.p99Ms.toFixed(0)} ms), ` +
          `${logins.failed} failed${logins.failed ? ` ${JSON.stringify(logins.failures)}` : ''}`,
      );
    }

    info.requestCounts = {
      service: await countCheck(service),
      expressSession: await countCheck(expressSession),
    };

    const summaries = {
      service: summarize(results.service),
      bareNest: summarize(results.bareNest),
      expressSession: summarize(results.expressSession),
    };
    const ratios = {
      serviceVsBareNest: sameRoundRatios(results.service, results.bareNest),
      serviceVsExpressSession: sameRoundRatios(results.service, results.expressSession),
    };
    const storm = stormRounds.length ? summarizeStorm(stormRounds, config.stormConcurrency) : null;
    for (const [key, s] of Object.entries(summaries)) {
      if (s.badStatus + s.socketErrors > 0) {
        checks.push({
          name: `${key}: every measured response was 2xx`,
          pass: false,
          detail: `${s.badStatus} bad status, ${s.socketErrors} socket errors`,
        });
      }
    }
    failed = checks.some((c) => !c.pass);

    const meta = {
      date: new Date().toISOString(),
      command: 'npm run bench',
      revision: gitRevision(),
      node: process.version,
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
      loadGenerator: toolVersion(config.tool),
      route: `GET ${PROFILE}`,
      rounds,
      durationS,
      connections,
      warmupS,
      stormRounds: config.stormRounds,
      stormConcurrency: config.stormConcurrency,
      /** 1-minute load average before and after: anything well above 0 before means a shared machine. */
      loadAverage: { before: round(loadBefore, 2), after: round(loadavg()[0], 2) },
    };

    const tables = [
      targetsTable(summaries),
      ratiosTable([
        { name: 'service / baseline a (bare NestJS)', value: ratios.serviceVsBareNest },
        { name: 'service / baseline b (express-session)', value: ratios.serviceVsExpressSession },
      ]),
      ...(storm ? [stormTable(storm)] : []),
    ];
    const checkLines = checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'} ${c.name} (${c.detail})`);
    const counts = info.requestCounts as Record<string, Record<string, number>>;
    const countLines = [
      `info expressSession: steady authenticated GET ${PROFILE}: ${baselineCookie.detail}`,
      ...Object.entries(counts).map(
        ([key, c]) =>
          `info ${key}: requestCount ${c.requestCountInSession} in the session after ` +
          `${c.requestsSent} requests served (bench estimate)`,
      ),
    ];

    console.log('');
    console.log(
      `GET ${PROFILE}, ${connections} connections, median of ${rounds} interleaved rounds x ${durationS} s, ${meta.loadGenerator}, ` +
        `Node ${process.version}, ${meta.cpus}`,
    );
    for (const t of tables) console.log(`\n${textTable(t)}`);
    console.log('');
    for (const line of [...checkLines, ...countLines]) console.log(line);

    mkdirSync(RESULTS_DIR, { recursive: true });
    const json = {
      meta,
      labels: TARGET_LABELS,
      summary: summaries,
      ratios,
      storm,
      checks,
      info,
      rounds: results,
      stormRounds,
    };
    writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    const md = [
      `Measured with \`${meta.command}\` on ${meta.date.slice(0, 10)} (revision ${meta.revision}): ` +
        `GET ${PROFILE} with the session cookie, ${connections} connections, ${meta.loadGenerator}, ` +
        `median of ${rounds} interleaved rounds of ${durationS} s; Node ${process.version}, ${meta.cpus}. ` +
        `Load generator, targets and Redis share the machine (1-minute load average ${meta.loadAverage.before} ` +
        "before the run). CPU figures are the target process's own (/proc utime+stime, all threads); Redis " +
        'commands come from INFO commandstats of a redis-server per target.',
      '',
      markdownTable(tables[0]),
      '',
      markdownTable(tables[1]),
      ...(storm
        ? [
            '',
            `Login storm: ${storm.concurrency} clients logging in back to back (argon2id) while the same profile load runs; ` +
              `median of ${storm.rounds} quiet/storm pairs.`,
            '',
            markdownTable(tables[2]),
          ]
        : []),
      '',
      ...checkLines.map((l) => `- ${l}`),
      ...countLines.map((l) => `- ${l}`),
      '',
    ].join('\n');
    writeFileSync(join(RESULTS_DIR, 'latest.md'), md);
    log(`wrote ${relative(process.cwd(), join(RESULTS_DIR, 'latest.json'))} and latest.md`);
  } catch (error) {
    failed = true;
    console.error(error instanceof Error ? error.message : error);
  } finally {
    await stopAll();
  }
  if (failed) {
    log(`failed: logs kept in ${logDir}`);
    process.exitCode = 1;
  } else {
    rmSync(logDir, { recursive: true, force: true });
  }
}

void main();
