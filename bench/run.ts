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
  checkTargets,
  fmtSpread,
  markdownTable,
  Measured,
  percentile,
  Ratios,
  ratiosTable,
  round,
  sameRoundRatios,
  StormRound,
  StormSummary,
  stormTable,
  Summary,
  summarize,
  summarizeStorm,
  Table,
  TARGET_LABELS,
  TargetCheck,
  targetChecksTable,
  TargetKey,
  targetsTable,
  textTable,
} from './report';

/**
 * `npm run bench`: the built service (production mode, as shipped) against three baselines under the
 * same load, in interleaved rounds, then a login storm against the service; all of it once per Node
 * runtime (BENCH_RUNTIMES, default 24 then 20), the service and the baselines running under that
 * runtime. Each Redis-backed target has a redis-server of its own, so INFO commandstats deltas belong
 * to one target.
 */

const PROFILE = '/auth/profile';
/** Forward auth for gateways, answered ahead of express and Nest: measured beside the profile. */
const VERIFY = '/auth/verify';
const COOKIE = '__Host-sid';
// Every request arrives as if through a TLS-terminating proxy: secure cookies are then set and sent.
const FORWARDED = { 'X-Forwarded-Proto': 'https' };

const config = {
  rounds: intEnv('BENCH_ROUNDS', 7),
  durationS: intEnv('BENCH_DURATION', 6),
  connections: intEnv('BENCH_CONNECTIONS', 50),
  warmupS: intEnv('BENCH_WARMUP', 3, 0),
  stormRounds: intEnv('BENCH_STORM_ROUNDS', 7, 0),
  stormDurationS: intEnv('BENCH_STORM_DURATION', intEnv('BENCH_DURATION', 6)),
  stormConcurrency: intEnv('BENCH_STORM_CONCURRENCY', 8),
  /** Pause between two measured runs, so that one target's tail (GC, closing sockets) ends first. */
  settleMs: intEnv('BENCH_SETTLE_MS', 500, 0),
  runtimes: (process.env.BENCH_RUNTIMES ?? '24,20')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
  tool: chooseTool(),
};

/** A Node.js the targets run under. */
interface Runtime {
  /** What BENCH_RUNTIMES named: a major version. */
  name: string;
  version: string;
  node: string;
}

/** The Node binary of a major version: this process's own when it matches, else scripts/node-runtime.sh's. */
function resolveRuntime(major: string): Runtime {
  if (!/^\d+$/.test(major)) throw new Error(`BENCH_RUNTIMES holds major versions such as 24,20, not "${major}"`);
  let node = process.execPath;
  if (process.versions.node.split('.')[0] !== major) {
    const bin = execFileSync('bash', [join(ROOT, 'scripts', 'node-runtime.sh'), major], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    node = join(bin, 'node');
  }
  const version = execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
  if (!version.startsWith(`v${major}.`)) throw new Error(`${node} is ${version}, not Node ${major}`);
  return { name: major, version, node };
}

/** Extra node flags from the environment; `{runtime}` becomes e.g. `node24` (per-runtime profile folders). */
function nodeArgs(variable: string, runtime: Runtime, target: TargetKey): string[] {
  return (process.env[variable] ?? '')
    .split(' ')
    .filter(Boolean)
    .map((a) => a.replaceAll('{runtime}', `node${runtime.name}`).replaceAll('{target}', target));
}

interface Target {
  key: TargetKey;
  baseUrl: string;
  /** The route the load runs request (the profile, or /auth/verify). */
  path: string;
  process: Managed;
  redis: BenchRedis | null;
  /** Headers of an authenticated request. */
  headers: Record<string, string>;
  /** Requests the target served with that cookie (load runs and probes). */
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

async function startService(redis: BenchRedis, logDir: string, runtime: Runtime): Promise<ServiceTarget> {
  const port = await freePort();
  const secret = randomBytes(32).toString('hex');
  const admin = { username: 'bench-admin', password: randomBytes(16).toString('hex') };
  const args = [...nodeArgs('BENCH_SERVICE_NODE_ARGS', runtime, 'service'), join(ROOT, 'dist', 'main.js')];
  const managed = startProcess(`service-node${runtime.name}`, runtime.node, args, {
    cwd: ROOT,
    logDir,
    env: nodeEnv({
      PORT: String(port),
      REDIS_URL: redis.url,
      SESSION_SECRET: secret,
      ADMIN_USERNAME: admin.username,
      ADMIN_PASSWORD: admin.password,
      TRUST_PROXY: 'true',
      // Production drains 5 s before closing, and the bench kills what has not exited 5 s after
      // asking: no drain, so a service run with --cpu-prof exits by itself and writes its profile.
      SHUTDOWN_DRAIN: '0',
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
    path: PROFILE,
    process: managed,
    redis,
    headers: { ...FORWARDED, Cookie: cookie },
    served: 0,
    secret,
    admin,
    csrfToken,
  };
}

/** A baseline with no session and no Redis (`baselines/<script>.ts`): ready when its route answers 200. */
async function startBare(
  key: 'bareNest' | 'bareHttp',
  script: string,
  path: string,
  logDir: string,
  runtime: Runtime,
): Promise<Target> {
  const port = await freePort();
  const args = [...nodeArgs('BENCH_BASELINE_NODE_ARGS', runtime, key), join(__dirname, 'baselines', `${script}.js`)];
  const managed = startProcess(`${script}-node${runtime.name}`, runtime.node, args, {
    cwd: ROOT,
    logDir,
    env: nodeEnv({ PORT: String(port) }),
  });
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitFor(managed, async () => ((await request(`${baseUrl}${path}`)).status === 200 ? true : null));
  return {
    key,
    baseUrl,
    path,
    process: managed,
    redis: null,
    headers: { ...FORWARDED },
    served: 0,
  };
}

async function startExpressSession(redis: BenchRedis, logDir: string, runtime: Runtime): Promise<Target> {
  const port = await freePort();
  const managed = startProcess(
    `express-session-node${runtime.name}`,
    runtime.node,
    [
      ...nodeArgs('BENCH_BASELINE_NODE_ARGS', runtime, 'expressSession'),
      join(__dirname, 'baselines', 'express-session-redis.js'),
    ],
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
    path: PROFILE,
    process: managed,
    redis,
    headers: { ...FORWARDED, Cookie: cookie },
    served: 0,
  };
}

/**
 * GET /auth/verify on the service's own process and Redis, with a session of its own (so that each
 * session's requestCount can be checked against the requests of one target).
 */
async function verifyTarget(service: ServiceTarget): Promise<Target> {
  const res = await request(`${service.baseUrl}/auth/login`, {
    method: 'POST',
    json: service.admin,
    headers: FORWARDED,
  });
  const cookie = res.status === 200 ? cookieFrom(res, COOKIE) : null;
  if (!cookie) throw new Error(`could not log in for the verify target: ${res.status} ${res.body}`);
  const headers = { ...FORWARDED, Cookie: cookie };
  const check = await request(`${service.baseUrl}${VERIFY}`, { headers });
  if (check.status !== 200) throw new Error(`GET ${VERIFY} answered ${check.status}, not 200`);
  return { ...service, key: 'verify', path: VERIFY, headers, served: 1 };
}

/** One load run of the target's route with the target's CPU and Redis counters read around it. */
async function measure(target: Target, durationS: number): Promise<Measured> {
  if (config.settleMs > 0) await sleep(config.settleMs);
  const redisBefore = target.redis ? await commandStats(target.redis.client) : null;
  const redisCpuBefore = target.redis ? cpuMicros(target.redis.process.pid) : 0;
  const cpuBefore = cpuMicros(target.process.pid);
  const load = await runLoad(config.tool, {
    url: `${target.baseUrl}${target.path}`,
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
    const res = await request(`${target.baseUrl}${target.path}`, { headers: target.headers });
    target.served += 1;
    seen.push(`${res.status}${res.headers['set-cookie'] ? ' +Set-Cookie' : ''}`);
  }
  const pass = seen.every((s) => s === '200');
  return {
    name: `${target.key}: steady authenticated GET ${target.path} has no Set-Cookie`,
    pass,
    detail: `5 requests answered: ${[...new Set(seen)].join(', ')}`,
  };
}

/** Headers whose values differ from one request or one session to the next. */
const VARYING_HEADERS = new Set(['date', 'x-request-id', 'x-user-id', 'x-session-id']);

/**
 * Baseline c answers with the headers the service's verify 200 has (names, and values where they do
 * not vary), so that it costs what the service's answer costs to write and send.
 */
async function checkSameHeaders(verify: Target, bareHttp: Target): Promise<Check> {
  const shown = async (target: Target): Promise<string[]> => {
    const res = await request(`${target.baseUrl}${target.path}`, { headers: target.headers });
    target.served += 1;
    return Object.entries(res.headers)
      .map(([name, value]) => (VARYING_HEADERS.has(name) ? name : `${name}: ${String(value)}`))
      .sort();
  };
  const expected = await shown(verify);
  const actual = await shown(bareHttp);
  const missing = expected.filter((h) => !actual.includes(h));
  const extra = actual.filter((h) => !expected.includes(h));
  return {
    name: `bareHttp: GET ${VERIFY} answers with the headers of the service's verify 200`,
    pass: missing.length + extra.length === 0,
    detail:
      missing.length + extra.length === 0
        ? `${expected.length} headers`
        : `missing: ${missing.join(', ') || 'none'}; extra: ${extra.join(', ') || 'none'}`,
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
    [VERIFY, {}],
    [VERIFY, { Cookie: forgedCookie(service.secret) }],
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
  if (target.key === 'service' || target.key === 'verify') {
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

/** Everything measured under one runtime. */
interface Phase {
  runtime: Runtime;
  elapsedS: number;
  /** 1-minute load average when the phase began and ended. */
  loadAverage: { before: number; after: number };
  summary: Record<TargetKey, Summary>;
  ratios: {
    serviceVsBareNest: Ratios;
    serviceVsExpressSession: Ratios;
    verifyVsBareNest: Ratios;
    /** Information, not targets: how near verify comes to bare node:http, and what NestJS adds to it. */
    verifyVsBareHttp: Ratios;
    bareHttpVsBareNest: Ratios;
  };
  targets: TargetCheck[];
  storm: StormSummary | null;
  checks: Check[];
  info: Record<string, unknown>;
  /** The order the targets ran in, per round (rotated each round). */
  order: TargetKey[][];
  rounds: Record<TargetKey, Measured[]>;
  stormRounds: (StormRound & { first: 'quiet' | 'storm' })[];
}

/** The same `rounds` targets in turn, starting one later each round, so that position bias cancels out. */
function rotated<T>(items: T[], round: number): T[] {
  return items.map((_, i) => items[(i + round) % items.length]);
}

/** Starts the targets under `runtime`, measures them, stops them. Processes go into `started` for Ctrl-C. */
async function runPhase(runtime: Runtime, logDir: string, started: { stop(): Promise<void> }[]): Promise<Phase> {
  const t0 = performance.now();
  const { rounds, durationS, warmupS } = config;
  const tag = `node${runtime.name}`;
  const plog = (line: string): void => log(`[${tag}] ${line}`);
  const loadBefore = loadavg()[0];
  plog(`Node ${runtime.version} (${runtime.node}), load average ${loadBefore.toFixed(2)}`);

  const serviceRedis = await startRedis(`redis-service-${tag}`, logDir);
  started.push(serviceRedis);
  const baselineRedis = await startRedis(`redis-express-session-${tag}`, logDir);
  started.push(baselineRedis);

  const service = await startService(serviceRedis, logDir, runtime);
  started.push(service.process);
  plog(`service ready on ${service.baseUrl} (pid ${service.process.pid}, Redis ${serviceRedis.url})`);
  const bareNest = await startBare('bareNest', 'bare-nest', PROFILE, logDir, runtime);
  started.push(bareNest.process);
  plog(`baseline a (bare NestJS) ready on ${bareNest.baseUrl} (pid ${bareNest.process.pid})`);
  const expressSession = await startExpressSession(baselineRedis, logDir, runtime);
  started.push(expressSession.process);
  plog(
    `baseline b (express-session) ready on ${expressSession.baseUrl} ` +
      `(pid ${expressSession.process.pid}, Redis ${baselineRedis.url})`,
  );
  const bareHttp = await startBare('bareHttp', 'bare-node-http', VERIFY, logDir, runtime);
  started.push(bareHttp.process);
  plog(`baseline c (bare node:http) ready on ${bareHttp.baseUrl} (pid ${bareHttp.process.pid})`);
  const verify = await verifyTarget(service);
  const targets: Target[] = [service, verify, bareNest, expressSession, bareHttp];

  const checks: Check[] = [await checkAnonymous(service), await checkSameHeaders(verify, bareHttp)];
  const stormUsers: Credentials[] = [];
  if (config.stormRounds > 0) {
    for (let i = 0; i < config.stormConcurrency; i++) stormUsers.push(await createStormUser(service, i));
  }

  if (warmupS > 0) {
    for (const target of targets) {
      const m = await measure(target, warmupS);
      plog(`warm-up ${target.key}: ${describe(m)}`);
    }
  }
  checks.push(await checkSteadyCookie(service));
  checks.push(await checkSteadyCookie(verify));
  const baselineCookie = await checkSteadyCookie(expressSession);
  const info: Record<string, unknown> = {
    expressSessionSetsCookieOnEveryResponse: !baselineCookie.pass,
    expressSessionSteadyResponses: baselineCookie.detail,
  };

  const results: Record<TargetKey, Measured[]> = {
    service: [],
    verify: [],
    bareNest: [],
    expressSession: [],
    bareHttp: [],
  };
  const order: TargetKey[][] = [];
  for (let r = 0; r < rounds; r++) {
    const inTurn = rotated(targets, r);
    order.push(inTurn.map((t) => t.key));
    for (const target of inTurn) {
      const m = await measure(target, durationS);
      results[target.key].push(m);
      plog(`round ${r + 1}/${rounds} ${target.key.padEnd(14)} ${describe(m)}`);
    }
  }

  // Quiet run and storm run back to back; which comes first alternates, as the targets' order does.
  const stormRounds: Phase['stormRounds'] = [];
  for (let r = 1; r <= config.stormRounds; r++) {
    const first = r % 2 === 1 ? 'quiet' : 'storm';
    const stormRun = async (): Promise<{ storm: Measured; logins: StormRound['logins'] }> => {
      const { result, logins } = await loginStorm(service, stormUsers, () => measure(service, config.stormDurationS));
      return { storm: result, logins };
    };
    let quiet: Measured;
    let stormed: { storm: Measured; logins: StormRound['logins'] };
    if (first === 'quiet') {
      quiet = await measure(service, config.stormDurationS);
      stormed = await stormRun();
    } else {
      stormed = await stormRun();
      quiet = await measure(service, config.stormDurationS);
    }
    const { storm, logins } = stormed;
    stormRounds.push({ quiet, storm, logins, first });
    plog(`storm ${r}/${config.stormRounds} quiet: ${describe(quiet)}`);
    plog(
      `storm ${r}/${config.stormRounds} storm: ${describe(storm)}; logins ${logins.ok} ok ` +
        `(${logins.perSecond.toFixed(1)}/s, p50 ${logins.p50Ms.toFixed(0)} ms, p99 ${logins.p99Ms.toFixed(0)} ms), ` +
        `${logins.failed} failed${logins.failed ? ` ${JSON.stringify(logins.failures)}` : ''}`,
    );
  }

  info.requestCounts = {
    service: await countCheck(service),
    verify: await countCheck(verify),
    expressSession: await countCheck(expressSession),
  };

  const summary = {
    service: summarize(results.service),
    verify: summarize(results.verify),
    bareNest: summarize(results.bareNest),
    expressSession: summarize(results.expressSession),
    bareHttp: summarize(results.bareHttp),
  };
  const ratios = {
    serviceVsBareNest: sameRoundRatios(results.service, results.bareNest),
    serviceVsExpressSession: sameRoundRatios(results.service, results.expressSession),
    verifyVsBareNest: sameRoundRatios(results.verify, results.bareNest),
    verifyVsBareHttp: sameRoundRatios(results.verify, results.bareHttp),
    bareHttpVsBareNest: sameRoundRatios(results.bareHttp, results.bareNest),
  };
  for (const [key, s] of Object.entries(summary)) {
    if (s.badStatus + s.socketErrors > 0) {
      checks.push({
        name: `${key}: every measured response was 2xx`,
        pass: false,
        detail: `${s.badStatus} bad status, ${s.socketErrors} socket errors`,
      });
    }
  }
  const stormBad = stormRounds.reduce((n, r) => n + r.quiet.badStatus + r.quiet.socketErrors, 0);
  const stormBadDuring = stormRounds.reduce((n, r) => n + r.storm.badStatus + r.storm.socketErrors, 0);
  if (stormBad + stormBadDuring > 0) {
    checks.push({
      name: 'service: every profile response of the storm rounds was 2xx',
      pass: false,
      detail: `${stormBad} failed in quiet runs, ${stormBadDuring} during storms`,
    });
  }
  const storm = stormRounds.length ? summarizeStorm(stormRounds, config.stormConcurrency) : null;

  await Promise.all(started.splice(0).map((s) => s.stop()));
  return {
    runtime,
    elapsedS: round((performance.now() - t0) / 1000, 1),
    loadAverage: { before: round(loadBefore, 2), after: round(loadavg()[0], 2) },
    summary,
    ratios,
    targets: checkTargets(
      { bareNest: ratios.serviceVsBareNest, expressSession: ratios.serviceVsExpressSession },
      ratios.verifyVsBareNest,
    ),
    storm,
    checks,
    info,
    order,
    rounds: results,
    stormRounds,
  };
}

function phaseTables(phase: Phase): { targets: Table; ratios: Table; goals: Table; storm: Table | null } {
  return {
    targets: targetsTable(phase.summary),
    ratios: ratiosTable([
      { name: 'service / baseline a (bare NestJS)', value: phase.ratios.serviceVsBareNest },
      { name: 'service / baseline b (express-session)', value: phase.ratios.serviceVsExpressSession },
      { name: `service GET ${VERIFY} / baseline a (bare NestJS)`, value: phase.ratios.verifyVsBareNest },
      { name: `service GET ${VERIFY} / baseline c (bare node:http)`, value: phase.ratios.verifyVsBareHttp },
      { name: 'baseline c (bare node:http) / baseline a (bare NestJS)', value: phase.ratios.bareHttpVsBareNest },
    ]),
    goals: targetChecksTable(phase.targets),
    storm: phase.storm ? stormTable(phase.storm) : null,
  };
}

function phaseLines(phase: Phase): string[] {
  const counts = phase.info.requestCounts as Record<string, Record<string, number>>;
  return [
    ...phase.checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'} ${c.name} (${c.detail})`),
    `info expressSession: steady authenticated GET ${PROFILE}: ${String(phase.info.expressSessionSteadyResponses)}`,
    ...Object.entries(counts).map(
      ([key, c]) =>
        `info ${key}: requestCount ${c.requestCountInSession} in the session after ` +
        `${c.requestsSent} requests served (bench estimate)`,
    ),
  ];
}

/** Targets per runtime side by side: `PASS 0.98 (0.91–1.02)`. */
function overviewTable(phases: Phase[]): Table {
  const names = phases[0]?.targets.map((t) => t.name) ?? [];
  return {
    header: ['target', ...phases.map((p) => `Node ${p.runtime.version}`)],
    rows: names.map((name, i) => [
      name,
      ...phases.map((p) => `${p.targets[i].pass ? 'PASS' : 'FAIL'} ${fmtSpread(p.targets[i].value)}`),
    ]),
    right: [false, ...phases.map(() => false)],
  };
}

async function main(): Promise<void> {
  const logDir = mkdtempSync(join(tmpdir(), 'session-bench-'));
  const started: { stop(): Promise<void> }[] = [];
  let failed = false;
  const stopAll = async (): Promise<void> => {
    await Promise.all(started.splice(0).map((s) => s.stop()));
  };
  const interrupt = (): void => {
    log('interrupted: stopping everything the bench started');
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  const t0 = performance.now();

  const phases: Phase[] = [];
  const errors: { runtime: string; error: string }[] = [];
  try {
    const { rounds, durationS, connections, warmupS } = config;
    if (config.runtimes.length === 0) throw new Error('BENCH_RUNTIMES names no runtime');
    config.runtimes.forEach((major) => {
      if (!/^\d+$/.test(major)) throw new Error(`BENCH_RUNTIMES holds major versions such as 24,20, not "${major}"`);
    });
    log(
      `${config.tool}, ${connections} connections, per runtime (${config.runtimes.join(', ')}): ` +
        `${rounds} rounds x 5 targets x ${durationS} s, warm-up ${warmupS} s, storm ${config.stormRounds} x ` +
        `(quiet + storm) x ${config.stormDurationS} s with ${config.stormConcurrency} logins at once`,
    );
    log(`logs in ${logDir}`);
    const loadBefore = loadavg()[0];
    if (loadBefore > 0.5) {
      log(`warning: load average ${loadBefore.toFixed(2)} before the run: other work on this machine skews figures`);
    }
    for (const major of config.runtimes) {
      try {
        phases.push(await runPhase(resolveRuntime(major), logDir, started));
      } catch (error) {
        // The bench broke under this runtime: say so, stop its processes, go on with the next one.
        failed = true;
        const message = error instanceof Error ? error.message : String(error);
        errors.push({ runtime: major, error: message });
        console.error(`[bench] [node${major}] failed: ${message}`);
        await stopAll();
      }
    }
    if (phases.some((p) => p.checks.some((c) => !c.pass))) failed = true;

    const meta = {
      date: new Date().toISOString(),
      command: 'npm run bench',
      revision: gitRevision(),
      harnessNode: process.version,
      runtimes: phases.map((p) => p.runtime.version),
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
      loadGenerator: toolVersion(config.tool),
      route: `GET ${PROFILE}, GET ${VERIFY}`,
      rounds,
      durationS,
      connections,
      warmupS,
      settleMs: config.settleMs,
      stormRounds: config.stormRounds,
      stormDurationS: config.stormDurationS,
      stormConcurrency: config.stormConcurrency,
      /** 1-minute load average before and after: anything well above 0 before means a shared machine. */
      loadAverage: { before: round(loadBefore, 2), after: round(loadavg()[0], 2) },
      elapsedS: round((performance.now() - t0) / 1000, 1),
    };

    const header =
      `GET ${PROFILE} (and GET ${VERIFY} on the service and baseline c), ${connections} connections, ${meta.loadGenerator}, ${rounds} interleaved rounds x ${durationS} s ` +
      `per target (order rotated each round), ${meta.cpus}; medians, and min–max over the rounds of the same-round ratios`;
    console.log(`\n${header}`);
    const md: string[] = [
      `Measured with \`${meta.command}\` on ${meta.date.slice(0, 10)} (revision ${meta.revision}): ` +
        `GET ${PROFILE} with the session cookie (and GET ${VERIFY} on the service and baseline c), ${connections} connections, ${meta.loadGenerator}, ` +
        `${rounds} interleaved rounds of ${durationS} s per target, the order rotated each round, under each of ` +
        `${meta.runtimes.map((v) => `Node ${v}`).join(' and ')} in turn; ${meta.cpus}. Each ratio is computed ` +
        'within a round (targets measured back to back), then its median and its min–max over the rounds are ' +
        `shown. Load generator, targets and Redis share the machine (1-minute load average ${meta.loadAverage.before} ` +
        "before the run). CPU figures are the target process's own (/proc utime+stime, all threads); Redis " +
        'commands come from INFO commandstats of a redis-server per target.',
    ];
    if (phases.length > 0) {
      const overview = overviewTable(phases);
      console.log(`\nTargets (median of the same-round ratios, min–max in brackets):\n${textTable(overview)}`);
      md.push('', 'Targets (median of the same-round ratios, min–max over the rounds in brackets):', '');
      md.push(markdownTable(overview));
    }
    for (const phase of phases) {
      const t = phaseTables(phase);
      const title = `Node ${phase.runtime.version} (${phase.elapsedS} s, load average ${phase.loadAverage.before} -> ${phase.loadAverage.after})`;
      console.log(`\n=== ${title}\n`);
      for (const table of [t.targets, t.ratios, t.goals, ...(t.storm ? [t.storm] : [])]) {
        console.log(`${textTable(table)}\n`);
      }
      for (const line of phaseLines(phase)) console.log(line);
      md.push(
        '',
        `### ${title}`,
        '',
        markdownTable(t.targets),
        '',
        markdownTable(t.ratios),
        '',
        markdownTable(t.goals),
      );
      if (t.storm && phase.storm) {
        md.push(
          '',
          `Login storm: ${phase.storm.concurrency} clients logging in back to back (argon2id) while the same profile ` +
            `load runs; ${phase.storm.rounds} quiet/storm pairs of ${config.stormDurationS} s, which one runs first ` +
            'alternating; the ratios are per pair.',
          '',
          markdownTable(t.storm),
        );
      }
      md.push('', ...phaseLines(phase).map((l) => `- ${l}`));
    }
    for (const e of errors) {
      console.log(`\nFAIL the bench broke under Node ${e.runtime}: ${e.error}`);
      md.push('', `- FAIL the bench broke under Node ${e.runtime}: ${e.error.split('\n')[0]}`);
    }
    md.push('');
    console.log(`\nwhole run: ${meta.elapsedS} s`);

    mkdirSync(RESULTS_DIR, { recursive: true });
    // Per runtime: summaries, the same-round ratios (median, min, max, every round's value), targets, storm, rounds.
    const json = { meta, labels: TARGET_LABELS, errors, runtimes: phases };
    writeFileSync(join(RESULTS_DIR, 'latest.json'), `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(join(RESULTS_DIR, 'latest.md'), md.join('\n'));
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
