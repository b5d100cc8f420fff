import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { createClient, RedisClientType } from 'redis';
import { gitRevision, intEnv, RESULTS_DIR, ROOT } from './env';
import { BenchRedis, CommandCounts, commandDelta, commandStats, cpuMicros, startRedis } from './processes';
import { fmt, markdownTable, percentile, round, Table, textTable } from './report';

/**
 * `npm run bench:scale`: fills a redis-server of its own with sessions through the service's own
 * store classes (the built dist/, exactly as the service runs them), then times the operations whose
 * cost must not grow with the number of sessions, reads SLOWLOG over those calls and reports the
 * memory each session costs with every index included. Figures are reported beside their targets;
 * only a broken fill (a session not stored, a list or revocation of the wrong size) fails the run.
 */

const config = {
  users: intEnv('BENCH_SCALE_USERS', 10_000, 2),
  perUser: intEnv('BENCH_SCALE_PER_USER', 100),
  concurrency: intEnv('BENCH_SCALE_CONCURRENCY', 2_000),
  seed: intEnv('BENCH_SCALE_SEED', 1, 0),
  /** 1: Redis on the last CPU, the bench on the others, so neither preempts the other (needs taskset). */
  pin: intEnv('BENCH_SCALE_PIN', cpus().length > 1 ? 1 : 0, 0) === 1,
};
const TOTAL = config.users * config.perUser;
const PROGRESS_EVERY = 50_000;
const SLOW_US = 1_000;
/** The bench's own aim, so that a full run stays within minutes. */
const FILL_RATE_AIM = 20_000;

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
// The service's defaults (SESSION_IDLE_TIMEOUT, SESSION_ABSOLUTE_TIMEOUT, SESSION_TOUCH_INTERVAL).
const IDLE_MS = 2 * HOUR;
const ABSOLUTE_MS = 24 * HOUR;
const TOUCH_MS = MINUTE;
const PREFIX = 'sess:';
const ADMIN_EVERY = 100;
/** Any well-formed argon2id string: the bench never verifies a password. */
const DUMMY_HASH = '$argon2id$v=19$m=19456,t=2,p=1$c2NhbGUtYmVuY2gtc2FsdA$2mZ0wQ1y3Vd0fG4wq9YyS2o7m8t1b6Kc5Jx0r3uYv4E';

const calls = {
  list: 500,
  stats: 200,
  pageChains: 100,
  pageDepth: 5,
  revoke: Math.min(50, Math.floor((config.users - 1) / 3)),
};

// What the bench uses of the built service. dist/ is CommonJS without declarations, and bench/ is
// compiled on its own (rootDir bench/), so these mirror src/ rather than import its types.
interface SessionHandle {
  userId: string;
  hash: string;
  id: string;
}

interface SessionRecord {
  handle: SessionHandle;
  username: string;
  roles: string[];
  deviceId: string | null;
  userAgent: string;
  browser: string;
  os: string;
  ip: string;
  createdAt: number;
  lastActivityAt: number;
  absoluteExpiresAt: number;
  requestCount: number;
  authenticatedAt: number | null;
  suspicion: 'none' | 'flagged' | 'blocked';
  impersonatedBy: { id: string; username: string } | null;
}

interface SessionStats {
  total: number;
  activeLast5m: number;
  activeLast15m: number;
  byRole: Record<string, number>;
}

interface SessionStore {
  create(
    record: SessionRecord,
    options: { now: number; maxPerUser: number; userVersion: number },
  ): Promise<{ created: boolean; ended: SessionHandle[] }>;
  listForUser(userId: string, now: number): Promise<SessionRecord[]>;
  destroyForUser(userId: string, filter: { exceptHash?: string; deviceId?: string }): Promise<SessionHandle[]>;
  stats(now: number): Promise<SessionStats>;
  page(
    limit: number,
    cursor: string | undefined,
    now: number,
  ): Promise<{ sessions: SessionRecord[]; nextCursor: string | null }>;
}

interface User {
  id: string;
  username: string;
  passwordHash: string;
  roles: string[];
  disabled: boolean;
  createdAt: number;
  version: number;
}

interface UserStore {
  create(user: User): Promise<boolean>;
}

interface KeyLayout {
  userSessions(userId: string): string;
  user(userId: string): string;
  activityShard(family: string, shard: number): string;
  capped(activityKey: string): string;
  activityFamilies(): string;
  usernames(): string;
  users(): string;
}

interface Service {
  /** The service's own client factory: its timeouts, no offline queue. */
  redisClientProvider: { useFactory(config: unknown): Promise<RedisClientType> };
  RedisConfig: new (fields: { topology: { kind: 'standalone'; url: string }; keyPrefix: string }) => unknown;
  RedisSessionStore: new (redis: RedisClientType, keys: KeyLayout, config: unknown) => SessionStore;
  RedisUserStore: new (redis: RedisClientType, keys: KeyLayout) => UserStore;
  KeyLayout: new (prefix: string) => KeyLayout;
  SessionConfig: new (...args: unknown[]) => unknown;
  newUserId(): string;
  newSessionId(userId: string): string;
  handleFromSessionId(sid: string): SessionHandle | null;
  ACTIVITY_SHARDS: number;
  /** Script name by SHA-1, to name the EVALSHAs in SLOWLOG. */
  scripts: Map<string, string>;
}

function loadService(): Service {
  const load = createRequire(join(ROOT, 'dist', 'main.js'));
  try {
    const scripts = load('./session/session-scripts.js') as Record<string, { sha?: unknown }>;
    return {
      ...(load('./session/redis-session-store.js') as Pick<Service, 'RedisSessionStore'>),
      ...(load('./users/redis-user-store.js') as Pick<Service, 'RedisUserStore'>),
      ...(load('./redis/redis-client.js') as Pick<Service, 'redisClientProvider'>),
      ...(load('./config/config.js') as Pick<Service, 'SessionConfig' | 'RedisConfig'>),
      ...(load('./redis/key-layout.js') as Pick<Service, 'KeyLayout' | 'ACTIVITY_SHARDS'>),
      ...(load('./users/user-ids.js') as Pick<Service, 'newUserId'>),
      ...(load('./session/session-ids.js') as Pick<Service, 'newSessionId' | 'handleFromSessionId'>),
      scripts: new Map(
        Object.entries(scripts).flatMap(([name, s]) => (typeof s.sha === 'string' ? [[s.sha, name]] : [])),
      ),
    };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`cannot load the built service from dist/ (npm run build first): ${message}`, { cause: error });
  }
}

const log = (line: string): void => console.log(`[scale] ${line}`);

/** Sets the CPU affinity of every thread of a process; false when taskset is missing or refuses. */
function pin(pid: number, cpuList: string): boolean {
  try {
    execFileSync('taskset', ['--all-tasks', '--cpu-list', '--pid', cpuList, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const n0 = (value: number): string => fmt(value, 0);
const mb = (bytes: number): string => `${fmt(bytes / 2 ** 20, 1)} MiB`;

/** A small seeded generator, so that two runs build the same shape of data. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const random = mulberry32(config.seed);
const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)];

/** Real user agents of the kinds a web frontend sees, with what the detection library names them; stored as they come. */
const AGENTS = [
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', 'Chrome 120.0.0.0', 'Windows 10'],
  ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.0.0 Safari/537.36', 'Chrome 119.0.0.0', 'macOS 10.15.7'],
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0', 'Firefox 121.0', 'Windows 10'],
  ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15', 'Safari 17.2', 'macOS 10.15.7'],
  ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0', 'Microsoft Edge 120.0.0.0', 'Windows 10'],
  ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1', 'Safari 17.2', 'iOS 17.2'],
  ['Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36', 'Chrome 120.0.0.0', 'Android 10'],
  ['Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36', 'Chrome 120.0.0.0', 'Linux'],
  ['MyApp/3.1 (iOS 17.2; iPhone15,2)', '', 'iOS 17.2'],
] as const; // prettier-ignore

function agent(): { userAgent: string; browser: string; os: string } {
  const [userAgent, browser, os] = pick(AGENTS);
  return { userAgent, browser, os };
}

interface ScaleUser {
  id: string;
  username: string;
  roles: string[];
}

/** A session as a login would store it: active in the last hour, created earlier but under 23 h ago. */
function sessionRecord(service: Service, user: ScaleUser, startedAt: number): SessionRecord {
  const handle = service.handleFromSessionId(service.newSessionId(user.id));
  if (!handle) throw new Error('newSessionId gave an id handleFromSessionId refuses');
  const lastActivityAt = startedAt - Math.floor(random() * HOUR);
  const oldest = startedAt - ABSOLUTE_MS + HOUR;
  const createdAt = lastActivityAt - Math.floor(random() * (lastActivityAt - oldest));
  return {
    handle,
    username: user.username,
    roles: user.roles,
    deviceId: random() < 0.5 ? null : `dev-${randomBytes(6).toString('base64url')}`,
    ...agent(),
    ip: `203.0.113.${1 + Math.floor(random() * 254)}`,
    createdAt,
    lastActivityAt,
    absoluteExpiresAt: createdAt + ABSOLUTE_MS,
    requestCount: 1 + Math.floor(random() * 500),
    authenticatedAt: createdAt,
    suspicion: 'none',
    impersonatedBy: null,
  };
}

/** Runs `work(0..total-1)` with at most `concurrency` in flight; node-redis pipelines what they send. */
async function inPool(total: number, concurrency: number, work: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < total) await work(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, lane));
}

async function info(client: RedisClientType, section: string): Promise<Record<string, string>> {
  const fields: Record<string, string> = {};
  for (const line of (await client.info(section)).split(/\r?\n/)) {
    const at = line.indexOf(':');
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1);
  }
  return fields;
}

const usedMemory = async (client: RedisClientType): Promise<number> =>
  Number((await info(client, 'memory')).used_memory);

const totalCalls = (counts: CommandCounts): number => Object.values(counts).reduce((n, c) => n + c.calls, 0);

/** `{command: calls per unit}`, most frequent first. */
function perUnit(counts: CommandCounts, units: number): Record<string, number> {
  return Object.fromEntries(
    Object.entries(counts)
      .sort(([, a], [, b]) => b.calls - a.calls)
      .map(([command, c]) => [command, round(c.calls / units, 2)]),
  );
}

const describeCommands = (per: Record<string, number>): string =>
  Object.entries(per)
    .map(([command, n]) => (n > 0 ? `${command} ${n}` : `${command} <0.01`))
    .join(', ');

interface SlowEntry {
  id: number;
  durationUs: number;
  command: string;
  during?: string;
}

async function slowlog(client: RedisClientType, service: Service, count = 128): Promise<SlowEntry[]> {
  const raw = await client.sendCommand<[number, number, number, string[]][]>(['SLOWLOG', 'GET', String(count)]);
  return raw.map(([id, , durationUs, args]) => {
    const name = (args[0] ?? '?').toUpperCase();
    const detail = name === 'EVALSHA' ? (service.scripts.get(args[1]) ?? args[1]?.slice(0, 8)) : args[1];
    return { id: Number(id), durationUs: Number(durationUs), command: detail ? `${name} ${detail}` : name };
  });
}

async function memoryUsage(client: RedisClientType, key: string): Promise<number> {
  // SAMPLES 0: every element, so the large sorted sets are measured, not estimated.
  return (await client.sendCommand<number | null>(['MEMORY', 'USAGE', key, 'SAMPLES', '0'])) ?? 0;
}

interface Family {
  family: string;
  keys: number;
  bytes: number;
  /** Measured on a sample and multiplied out, or every key measured. */
  how: string;
}

async function sampledFamily(client: RedisClientType, family: string, sample: string[], keys: number): Promise<Family> {
  let sum = 0;
  for (const key of sample) sum += await memoryUsage(client, key);
  return { family, keys, bytes: (sum / sample.length) * keys, how: `mean of ${n0(sample.length)} keys × ${n0(keys)}` };
}

async function exactFamily(client: RedisClientType, family: string, keys: string[]): Promise<Family> {
  let sum = 0;
  for (const key of keys) sum += await memoryUsage(client, key);
  return { family, keys: keys.length, bytes: sum, how: 'every key' };
}

type VariantKey = 'service' | 'noTimeout';
const VARIANTS: Record<VariantKey, string> = {
  service: "service's client",
  noTimeout: 'bare client, no reply bound',
};
/** The bench's own commands, left out of SLOWLOG figures. */
const BENCH_COMMANDS = new Set(['SLOWLOG', 'INFO', 'MEMORY']);

interface Operation {
  variant: VariantKey;
  name: string;
  calls: number;
  samplesMs: number[];
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  targetMs: number;
  commandsPerCall: number;
  commands: Record<string, number>;
  redisCpuUsPerCall: number;
  /** Node's garbage collection while the calls ran: the bench's process is the service's client here. */
  gc: { pauses: number; totalMs: number; maxMs: number };
  /** The calls that no GC pause overlapped. */
  withoutGc: { calls: number; p50Ms: number; p99Ms: number };
  slow: SlowEntry[];
}

/** Collects Node GC pauses between start() and stop(). */
/** Collects Node GC pauses (start and duration, performance.now() time) between start() and stop(). */
function gcPauses(): { start(): void; stop(): { start: number; duration: number }[] } {
  let pauses: { start: number; duration: number }[] = [];
  const keep = (entries: PerformanceEntry[]): void => {
    for (const e of entries) pauses.push({ start: e.startTime, duration: e.duration });
  };
  const observer = new PerformanceObserver((list) => keep(list.getEntries()));
  return {
    start: () => {
      pauses = [];
      observer.observe({ entryTypes: ['gc'] });
    },
    stop: () => {
      keep(observer.takeRecords());
      observer.disconnect();
      return pauses;
    },
  };
}

/** The fill's garbage is the bench's, not the service's: collect it before timing (needs --expose-gc). */
function collectGarbage(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  return gc !== undefined;
}

async function main(): Promise<void> {
  const logDir = mkdtempSync(join(tmpdir(), 'session-scale-'));
  let redis: BenchRedis | null = null;
  let storeClient: RedisClientType | null = null;
  let extraClient: RedisClientType | null = null;
  let failed: boolean;
  const stopAll = async (): Promise<void> => {
    await storeClient?.close().catch(() => undefined);
    await extraClient?.close().catch(() => undefined);
    storeClient = null;
    extraClient = null;
    await redis?.stop();
    redis = null;
  };
  const interrupt = (): void => {
    log('interrupted: stopping the redis-server the bench started');
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  try {
    const service = loadService();
    const { users: userCount, perUser, concurrency } = config;
    log(`${n0(TOTAL)} sessions over ${n0(userCount)} users (${perUser} each), ${n0(concurrency)} creates in flight`);
    log(`logs in ${logDir}`);
    const loadBefore = loadavg()[0];
    if (loadBefore > 0.5) log(`warning: load average ${loadBefore.toFixed(2)} before the run`);

    const server = await startRedis('redis-scale', logDir, [
      '--slowlog-log-slower-than',
      String(SLOW_US),
      '--slowlog-max-len',
      '1024',
    ]);
    redis = server;
    const admin = server.client;
    const last = cpus().length - 1;
    const pinned =
      config.pin && pin(server.process.pid, String(last)) && pin(process.pid, last === 1 ? '0' : `0-${last - 1}`)
        ? `redis-server on CPU ${last}, the bench on ${last === 1 ? 'CPU 0' : `CPUs 0-${last - 1}`}`
        : null;
    if (pinned) log(`pinned: ${pinned}`);
    const serverInfo = await info(admin, 'server');
    log(`redis-server ${serverInfo.redis_version} on ${server.url} (pid ${server.process.pid})`);

    // The store's connection is made by the service's own factory: the same 1 s bound on replies
    // and no offline queue, so per-command client costs are those the service pays.
    const client = await service.redisClientProvider.useFactory(
      new service.RedisConfig({ topology: { kind: 'standalone', url: server.url }, keyPrefix: PREFIX }),
    );
    storeClient = client;

    const keys = new service.KeyLayout(PREFIX);
    const sessionConfig = new service.SessionConfig({
      secrets: [randomBytes(32).toString('hex')],
      secretGenerated: false,
      cookieName: 'sid',
      cookieSecure: false,
      cookieSameSite: 'lax',
      idleTimeoutMs: IDLE_MS,
      absoluteTimeoutMs: ABSOLUTE_MS,
      touchIntervalMs: TOUCH_MS,
      maxSessionsPerUser: 0,
    });
    const store = new service.RedisSessionStore(client, keys, sessionConfig);
    const userStore = new service.RedisUserStore(client, keys);

    const memoryEmpty = await usedMemory(admin);
    const startedAt = Date.now();
    const users: ScaleUser[] = Array.from({ length: userCount }, (_, i) => ({
      id: service.newUserId(),
      username: `scale-user-${String(i).padStart(7, '0')}`,
      roles: i % ADMIN_EVERY === 0 ? ['admin', 'user'] : ['user'],
    }));
    const usersStart = performance.now();
    let usersRefused = 0;
    await inPool(userCount, concurrency, async (i) => {
      const u = users[i];
      const created = await userStore.create({
        ...u,
        passwordHash: DUMMY_HASH,
        disabled: false,
        createdAt: startedAt - (userCount - i) * SECOND,
        version: 1,
      });
      if (!created) usersRefused += 1;
    });
    if (usersRefused > 0) throw new Error(`${usersRefused} users were refused`);
    const memoryUsers = await usedMemory(admin);
    log(
      `${n0(userCount)} users in ${((performance.now() - usersStart) / 1000).toFixed(1)} s, ` +
        `${fmt((memoryUsers - memoryEmpty) / userCount, 0)} bytes each (used_memory)`,
    );

    // Fill: user i % users, so every user gains sessions throughout and no user's creates pile up.
    const fillStats = await commandStats(admin);
    const fillRedisCpu = cpuMicros(server.process.pid);
    const fillNodeCpu = process.cpuUsage();
    const fillStart = performance.now();
    let done = 0;
    let refused = 0;
    let endedOthers = 0;
    let mark = { at: fillStart, done: 0 };
    /** Sessions/s per progress step: users hold more sessions as the fill goes on. */
    const progress: { done: number; perSecond: number }[] = [];
    await inPool(TOTAL, concurrency, async (i) => {
      const record = sessionRecord(service, users[i % userCount], startedAt);
      const result = await store.create(record, { now: Date.now(), maxPerUser: 0, userVersion: 1 });
      if (!result.created) refused += 1;
      endedOthers += result.ended.length;
      done += 1;
      if (done % PROGRESS_EVERY === 0 || done === TOTAL) {
        const now = performance.now();
        const rate = (done - mark.done) / ((now - mark.at) / 1000);
        mark = { at: now, done };
        progress.push({ done, perSecond: Math.round(rate) });
        log(
          `${n0(done).padStart(9)} / ${n0(TOTAL)} sessions, ${n0(rate)}/s (overall ` +
            `${n0(done / ((now - fillStart) / 1000))}/s), ${((now - fillStart) / 1000).toFixed(1)} s`,
        );
      }
    });
    const fillS = (performance.now() - fillStart) / 1000;
    const nodeCpu = process.cpuUsage(fillNodeCpu);
    const fillCommands = commandDelta(fillStats, await commandStats(admin));
    const fill = {
      seconds: round(fillS, 1),
      perSecond: Math.round(TOTAL / fillS),
      refused,
      endedOthers,
      redisCommandsPerSession: round(totalCalls(fillCommands) / TOTAL, 2),
      commandsPerSession: perUnit(fillCommands, TOTAL),
      redisUsecByCommand: Object.fromEntries(
        Object.entries(fillCommands)
          .sort(([, a], [, b]) => b.usec - a.usec)
          .map(([command, c]) => [command, c.usec]),
      ),
      redisCpuUsPerSession: round((cpuMicros(server.process.pid) - fillRedisCpu) / TOTAL, 1),
      nodeCpuUsPerSession: round((nodeCpu.user + nodeCpu.system) / TOTAL, 1),
      progress,
    };
    log(
      `filled in ${fill.seconds} s: ${n0(fill.perSecond)} sessions/s; per session ${fill.redisCommandsPerSession} ` +
        `Redis commands (${describeCommands(fill.commandsPerSession)}), Redis CPU ${fill.redisCpuUsPerSession} µs, ` +
        `bench+store CPU ${fill.nodeCpuUsPerSession} µs`,
    );
    if (fillS > 180) log(`note: the fill took over 3 minutes (${n0(fill.perSecond)} sessions/s)`);
    if (refused > 0 || endedOthers > 0) {
      throw new Error(`fill broken: ${refused} creates refused, ${endedOthers} sessions ended by other creates`);
    }

    // Memory, before anything is revoked.
    const memoryFilled = await usedMemory(admin);
    const keyspace = (await info(admin, 'keyspace')).db0 ?? '';
    const families = (await admin.sMembers(keys.activityFamilies())).sort();
    const shardKeys = families.flatMap((f) =>
      Array.from({ length: service.ACTIVITY_SHARDS }, (_, s) => keys.activityShard(f, s)),
    );
    let cappedEntries = 0;
    for (const key of shardKeys) cappedEntries += await admin.zCard(keys.capped(key));
    const sampleUsers = users.filter((_, i) => i % Math.max(1, Math.floor(userCount / 500)) === 0);
    const sessionFamilies = [
      await sampledFamily(
        admin,
        "`{u:<id>}:s` sessions hash (all of a user's sessions)",
        sampleUsers.map((u) => keys.userSessions(u.id)),
        userCount,
      ),
      await exactFamily(admin, '`{activity:<roles>:<0-7>}` activity shards', shardKeys),
      await exactFamily(
        admin,
        '`{activity:<roles>:<0-7>}:capped` absolute-deadline sets',
        shardKeys.map((k) => keys.capped(k)),
      ),
      await exactFamily(admin, '`{activity}:families`', [keys.activityFamilies()]),
    ];
    const userFamilies = [
      await sampledFamily(
        admin,
        '`{u:<id>}:user` user hash',
        sampleUsers.map((u) => keys.user(u.id)),
        userCount,
      ),
      await exactFamily(admin, '`{users}:names`, `{users}:all`', [keys.usernames(), keys.users()]),
    ];
    const sessionsBytes = memoryFilled - memoryUsers;
    const measuredBytes = sessionFamilies.reduce((n, f) => n + f.bytes, 0);
    const memory = {
      usedMemory: { empty: memoryEmpty, afterUsers: memoryUsers, afterSessions: memoryFilled },
      perSession: round(sessionsBytes / TOTAL, 1),
      perUser: round((memoryUsers - memoryEmpty) / userCount, 1),
      keyspace,
      cappedEntries,
      sessionFamilies: sessionFamilies.map((f) => ({ ...f, perSession: round(f.bytes / TOTAL, 1) })),
      /** What used_memory grew by beyond MEMORY USAGE of the keys: the keyspace's and expires' tables. */
      outsideKeys: {
        bytes: sessionsBytes - measuredBytes,
        perSession: round((sessionsBytes - measuredBytes) / TOTAL, 1),
      },
      userFamilies: userFamilies.map((f) => ({ ...f, perUser: round(f.bytes / userCount, 1) })),
    };
    log(
      `used_memory ${mb(memoryEmpty)} empty, ${mb(memoryUsers)} with users, ${mb(memoryFilled)} with sessions: ` +
        `${memory.perSession} bytes per session with every index`,
    );

    // Timed calls: distinct users for revocation (per variant), the others for listing.
    const order = users.map((u) => ({ u, r: random() })).sort((a, b) => a.r - b.r);
    const warmUser = order[0].u;
    const revokeUsers = {
      service: order.slice(1, 1 + calls.revoke).map((o) => o.u),
      noTimeout: order.slice(1 + calls.revoke, 1 + 2 * calls.revoke).map((o) => o.u),
    };
    const listUsers = order.slice(1 + 2 * calls.revoke).map((o) => o.u);
    const listPool = listUsers.length > 0 ? listUsers : users;

    // Diagnostic: the same store on a bare node-redis client, without the bound the service puts on
    // every reply, to show what that bound costs.
    const bareClient: RedisClientType = createClient({
      url: server.url,
      disableOfflineQueue: true,
      commandOptions: { timeout: 0 },
    });
    bareClient.on('error', (error: unknown) => log(`diagnostic client error: ${String(error)}`));
    await bareClient.connect();
    extraClient = bareClient;
    const variants: { key: VariantKey; store: SessionStore }[] = [
      { key: 'service', store },
      { key: 'noTimeout', store: new service.RedisSessionStore(bareClient, keys, sessionConfig) },
    ];

    for (const { store: s } of variants) {
      for (let i = 0; i < 20; i++) {
        await s.listForUser(pick(listPool).id, Date.now());
        await s.stats(Date.now());
        const first = await s.page(50, undefined, Date.now());
        if (first.nextCursor) await s.page(50, first.nextCursor, Date.now());
      }
    }
    await store.destroyForUser(warmUser.id, {});
    let revokedUsers = 1;
    // Up to here SLOWLOG holds the fill, the memory sampling and the warm-up; the bench's own commands are left out.
    const fillSlow = (await slowlog(admin, service, 1024)).filter((e) => !BENCH_COMMANDS.has(e.command.split(' ')[0]));
    const slowDuringFill = fillSlow.length;
    const fillSlowest = fillSlow.sort((a, b) => b.durationUs - a.durationUs).slice(0, 5);
    // In-flight command timeouts of the fill end within the client's 1 s; then the fill's garbage goes.
    await new Promise((r) => setTimeout(r, 1500));
    const collectedBeforeTiming = collectGarbage();
    await admin.sendCommand(['SLOWLOG', 'RESET']);

    const operations: Operation[] = [];
    const gc = gcPauses();
    let lastSlowId = -1;
    const timed = async (
      variant: VariantKey,
      name: string,
      count: number,
      targetMs: number,
      call: (i: number) => Promise<void>,
    ): Promise<void> => {
      const before = await commandStats(admin);
      const cpuBefore = cpuMicros(server.process.pid);
      const samplesMs: number[] = [];
      const spans: [number, number][] = [];
      gc.start();
      for (let i = 0; i < count; i++) {
        const t0 = performance.now();
        await call(i);
        const t1 = performance.now();
        samplesMs.push(t1 - t0);
        spans.push([t0, t1]);
      }
      const pauses = gc.stop();
      const gcDuring = {
        pauses: pauses.length,
        totalMs: round(
          pauses.reduce((n, p) => n + p.duration, 0),
          1,
        ),
        maxMs: round(Math.max(0, ...pauses.map((p) => p.duration))),
      };
      // The calls no GC pause overlapped: what the store and Redis cost without the caller's GC.
      const clean = samplesMs.filter((_, i) =>
        pauses.every((p) => p.start + p.duration <= spans[i][0] || p.start >= spans[i][1]),
      );
      const cpu = cpuMicros(server.process.pid) - cpuBefore;
      const commands = commandDelta(before, await commandStats(admin));
      const slow = (await slowlog(admin, service, 1024))
        .filter((e) => e.id > lastSlowId)
        .map((e) => ({ ...e, during: `${name}${variant === 'service' ? '' : ' (diagnostic client)'}` }));
      lastSlowId = Math.max(lastSlowId, ...slow.map((e) => e.id));
      const op: Operation = {
        variant,
        name,
        calls: count,
        samplesMs: samplesMs.map((ms) => round(ms, 3)),
        p50Ms: percentile(samplesMs, 50),
        p99Ms: percentile(samplesMs, 99),
        maxMs: Math.max(...samplesMs),
        targetMs,
        commandsPerCall: round(totalCalls(commands) / count, 2),
        commands: perUnit(commands, count),
        redisCpuUsPerCall: round(cpu / count, 1),
        gc: gcDuring,
        withoutGc: { calls: clean.length, p50Ms: percentile(clean, 50), p99Ms: percentile(clean, 99) },
        slow: slow.filter((e) => !BENCH_COMMANDS.has(e.command.split(' ')[0])),
      };
      operations.push(op);
      log(
        `${VARIANTS[variant]}: ${name}: p50 ${op.p50Ms.toFixed(2)} ms, p99 ${op.p99Ms.toFixed(2)} ms, ` +
          `max ${op.maxMs.toFixed(2)} ms over ${count} calls; ${op.commandsPerCall} Redis commands and ` +
          `${op.redisCpuUsPerCall} µs Redis CPU per call; ${op.slow.length} in SLOWLOG; ` +
          `Node GC ${gcDuring.pauses} pauses, ${gcDuring.totalMs} ms`,
      );
    };

    const checks: { name: string; pass: boolean; detail: string }[] = [];
    for (const { key, store: s } of variants) {
      const listed: number[] = [];
      await timed(key, `own sessions (listForUser, ${perUser} each)`, calls.list, 5, async () => {
        listed.push((await s.listForUser(pick(listPool).id, Date.now())).length);
      });
      const statsSeen: SessionStats[] = [];
      await timed(key, 'admin stats (stats)', calls.stats, 5, async () => {
        statsSeen.push(await s.stats(Date.now()));
      });
      const firstCursors: (string | null)[] = [];
      const pageSizes: number[] = [];
      await timed(key, 'admin page of 50, first page (page)', calls.pageChains, 10, async () => {
        const page = await s.page(50, undefined, Date.now());
        pageSizes.push(page.sessions.length);
        firstCursors.push(page.nextCursor);
      });
      const deeper = calls.pageDepth - 1;
      let cursor: string | null = null;
      await timed(
        key,
        `admin page of 50, pages 2–${calls.pageDepth} by cursor`,
        calls.pageChains * deeper,
        10,
        async (i) => {
          if (i % deeper === 0) cursor = firstCursors[i / deeper];
          if (cursor === null) return;
          const page = await s.page(50, cursor, Date.now());
          pageSizes.push(page.sessions.length);
          cursor = page.nextCursor;
        },
      );
      const revoked: number[] = [];
      await timed(key, `revoke all ${perUser} sessions of a user (destroyForUser)`, calls.revoke, 20, async (i) => {
        revoked.push((await s.destroyForUser(revokeUsers[key][i].id, {})).length);
      });

      const lastStats = statsSeen.at(-1);
      const expectedTotal = TOTAL - perUser * revokedUsers;
      revokedUsers += revoked.length;
      const label = VARIANTS[key];
      checks.push(
        {
          name: `${label}: every list held the user's ${perUser} sessions`,
          pass: listed.every((n) => n === perUser),
          detail: `sizes ${Math.min(...listed)}–${Math.max(...listed)}`,
        },
        {
          name: `${label}: stats count every live session (${n0(expectedTotal)})`,
          pass: lastStats?.total === expectedTotal,
          detail: lastStats ? `total ${lastStats.total}, byRole ${JSON.stringify(lastStats.byRole)}` : 'no stats',
        },
        {
          name: `${label}: every admin page held 50 sessions`,
          pass: pageSizes.length === calls.pageChains * calls.pageDepth && pageSizes.every((n) => n === 50),
          detail: `${pageSizes.length} pages, sizes ${Math.min(...pageSizes)}–${Math.max(...pageSizes)}`,
        },
        {
          name: `${label}: every revocation ended ${perUser} sessions`,
          pass: revoked.every((n) => n === perUser),
          detail: `ended ${Math.min(...revoked)}–${Math.max(...revoked)}`,
        },
      );
    }

    const shipped = operations.filter((op) => op.variant === 'service');
    const diagnostic = operations.filter((op) => op.variant === 'noTimeout');
    const slow = shipped.flatMap((op) => op.slow);
    const slowTotal = slow.length;
    const slowDiagnostic = diagnostic.flatMap((op) => op.slow);
    failed = checks.some((c) => !c.pass);

    const meta = {
      date: new Date().toISOString(),
      command: 'npm run bench:scale',
      revision: gitRevision(),
      node: process.version,
      redis: serverInfo.redis_version,
      cpus: `${cpus().length} x ${cpus()[0]?.model ?? 'unknown'}`,
      users: userCount,
      perUser,
      sessions: TOTAL,
      admins: users.filter((u) => u.roles.includes('admin')).length,
      concurrency,
      seed: config.seed,
      gcBeforeTiming: collectedBeforeTiming,
      pinned,
      idleTimeoutS: IDLE_MS / SECOND,
      absoluteTimeoutS: ABSOLUTE_MS / SECOND,
      loadAverage: { before: round(loadBefore, 2), after: round(loadavg()[0], 2) },
    };

    const verdict = (ok: boolean): string => (ok ? 'meets' : 'misses');
    const latency: Table = {
      header: [
        'operation',
        'calls',
        'p50 ms',
        'p99 ms',
        'max ms',
        'target (p99)',
        '',
        'Redis cmds/call',
        'Redis CPU µs/call',
        'Node GC ms (pauses)',
        'p99 ms of calls no GC hit (calls)',
      ],
      rows: shipped.map((op) => [
        op.name,
        n0(op.calls),
        fmt(op.p50Ms, 2),
        fmt(op.p99Ms, 2),
        fmt(op.maxMs, 2),
        `< ${op.targetMs} ms`,
        verdict(op.p99Ms < op.targetMs),
        fmt(op.commandsPerCall, 1),
        fmt(op.redisCpuUsPerCall, 0),
        `${fmt(op.gc.totalMs, 0)} (${op.gc.pauses})`,
        `${fmt(op.withoutGc.p99Ms, 2)} (${op.withoutGc.calls})`,
      ]),
      right: [false, true, true, true, true, true, false, true, true, true, true],
    };
    const other: Table = {
      header: ['figure', 'measured', 'target', ''],
      rows: [
        ['SLOWLOG entries above 1 ms during the timed calls', n0(slowTotal), '0', verdict(slowTotal === 0)],
        [
          'Redis used_memory per session, every index included',
          `${fmt(memory.perSession, 0)} B`,
          '≤ 369 B',
          verdict(memory.perSession <= 369),
        ],
        [
          'fill through RedisSessionStore.create',
          `${n0(fill.perSecond)} sessions/s`,
          '> 20,000/s (bench aim)',
          verdict(fill.perSecond > FILL_RATE_AIM),
        ],
      ],
      right: [false, true, true, false],
    };
    const diagnosticTable: Table = {
      header: [
        'same calls, bare client without a reply bound',
        'p50 ms',
        'p99 ms',
        'max ms',
        'Node GC ms (pauses)',
        'p99 ms of calls no GC hit',
        'p50 / p99 vs shipped',
      ],
      rows: diagnostic.map((op) => {
        const twin = shipped.find((t) => t.name === op.name);
        return [
          op.name,
          fmt(op.p50Ms, 2),
          fmt(op.p99Ms, 2),
          fmt(op.maxMs, 2),
          `${fmt(op.gc.totalMs, 0)} (${op.gc.pauses})`,
          fmt(op.withoutGc.p99Ms, 2),
          twin ? `${fmt(op.p50Ms / twin.p50Ms, 2)}× / ${fmt(op.p99Ms / twin.p99Ms, 2)}×` : '–',
        ];
      }),
      right: [false, true, true, true, true, true, true],
    };
    const memoryTable: Table = {
      header: ['key family (per session)', 'keys', 'MEMORY USAGE', 'measured', 'bytes/session'],
      rows: [
        ...memory.sessionFamilies.map((f) => [f.family, n0(f.keys), mb(f.bytes), f.how, fmt(f.perSession, 1)]),
        [
          'main and expires hash tables (growth not in MEMORY USAGE)',
          '',
          mb(memory.outsideKeys.bytes),
          'difference',
          fmt(memory.outsideKeys.perSession, 1),
        ],
        ['used_memory growth over the session fill', '', mb(sessionsBytes), 'INFO memory', fmt(memory.perSession, 1)],
      ],
      right: [false, true, true, false, true],
    };
    const userTable: Table = {
      header: ['key family (users)', 'keys', 'MEMORY USAGE', 'measured', 'bytes/user'],
      rows: [
        ...memory.userFamilies.map((f) => [f.family, n0(f.keys), mb(f.bytes), f.how, fmt(f.perUser, 1)]),
        [
          'used_memory growth over the user fill',
          '',
          mb(memoryUsers - memoryEmpty),
          'INFO memory',
          fmt(memory.perUser, 1),
        ],
      ],
      right: [false, true, true, false, true],
    };
    const slowLines = (entries: SlowEntry[]): string[] => {
      const groups = new Map<string, number[]>();
      for (const e of entries) {
        const key = `${e.command} during ${e.during}`;
        groups.set(key, [...(groups.get(key) ?? []), e.durationUs]);
      }
      if (groups.size === 0) return ['none'];
      return [...groups].map(
        ([key, us]) =>
          `${key}: ${us.length} × ${n0(Math.min(...us))}–${n0(Math.max(...us))} µs (median ${n0(percentile(us, 50))})`,
      );
    };
    const commandLines = [
      `fill, per session: ${describeCommands(fill.commandsPerSession)}`,
      ...shipped.map((op) => `${op.name}, per call: ${describeCommands(op.commands)}`),
    ];
    const checkLines = checks.map((c) => `${c.pass ? 'PASS' : 'FAIL'} ${c.name} (${c.detail})`);
    const cappedShare = `${fmt((100 * cappedEntries) / TOTAL, 1)}%`;
    const intro =
      `${n0(TOTAL)} sessions over ${n0(userCount)} users (${perUser} each, ${meta.admins} admins), created through ` +
      `\`RedisSessionStore.create\` of the built service, ${n0(concurrency)} in flight: ${fill.seconds} s, ` +
      `${n0(fill.perSecond)} sessions/s. Sessions active in the last hour, created up to 23 h before; half carry a ` +
      `device id; ${cappedShare} end at their absolute deadline before their idle one (the capped sets). ` +
      `Each call timed alone from Node through the store on the service's own Redis client (its factory: every reply ` +
      `bounded to 1 s, no offline queue); with ${calls.revoke} revocations p99 is close to their max. ` +
      `Redis ${meta.redis}, default encodings, \`--save '' --appendonly no --slowlog-log-slower-than ${SLOW_US}\`, ` +
      `on the same ${meta.cpus} as the bench${pinned ? ` (${pinned})` : ''}; 1-minute load average ` +
      `${meta.loadAverage.before} before the run, ` +
      `${meta.loadAverage.after} after. Redis CPU per call is /proc utime+stime over the calls (10 ms ticks).`;
    const rateAt = (i: number): string => n0(fill.progress.at(i)?.perSecond ?? NaN);
    const busy = (usPerSession: number): string => `${fmt((usPerSession * fill.perSecond) / 1e4, 0)}%`;
    const fillNote =
      `Fill cost per create: ${fill.redisCpuUsPerSession} µs of Redis CPU (Redis busy ` +
      `${busy(fill.redisCpuUsPerSession)} of one core over the fill) and ${fill.nodeCpuUsPerSession} µs in the ` +
      `bench's Node process (${busy(fill.nodeCpuUsPerSession)}); ${fill.redisCommandsPerSession} Redis commands. ` +
      `The login script reads the user's other sessions (one HGETALL of the user's hash, decoded in Lua) whenever ` +
      `the new session has a device id, so such a create costs O(the user's sessions): ` +
      `${fill.commandsPerSession.hgetall ?? 0} HGETALLs per create on average here. Every user gains sessions throughout the fill (session i goes to user i mod users), so the ` +
      `rate falls as users fill up: ${rateAt(0)} sessions/s over the first ${n0(fill.progress[0]?.done ?? 0)}, ${rateAt(-1)} over the last.`;
    console.log('');
    console.log(intro);
    for (const t of [latency, other]) console.log(`\n${textTable(t)}`);
    console.log(`\n${fillNote}`);
    for (const t of [diagnosticTable, memoryTable, userTable]) console.log(`\n${textTable(t)}`);
    console.log('\nSLOWLOG (> 1 ms) during the timed calls:');
    for (const line of slowLines(slow)) console.log(`  ${line}`);
    console.log('SLOWLOG during the diagnostic calls:');
    for (const line of slowLines(slowDiagnostic)) console.log(`  ${line}`);
    console.log('\nRedis commands (INFO commandstats; a script counts as its EVALSHA plus every command it runs):');
    for (const line of commandLines) console.log(`  ${line}`);
    console.log('');
    for (const line of checkLines) console.log(line);

    mkdirSync(RESULTS_DIR, { recursive: true });
    const json = {
      meta,
      fill,
      memory,
      operations,
      slowlog: {
        thresholdUs: SLOW_US,
        duringTimedCalls: slowTotal,
        entries: slow,
        diagnosticEntries: slowDiagnostic,
        duringFill: slowDuringFill,
        fillSlowest,
      },
      checks,
    };
    writeFileSync(join(RESULTS_DIR, 'scale.json'), `${JSON.stringify(json, null, 2)}\n`);
    const md = [
      `Measured with \`${meta.command}\` on ${meta.date.slice(0, 10)} (revision ${meta.revision}), Node ` +
        `${meta.node}. ${intro}`,
      '',
      markdownTable(latency),
      '',
      markdownTable(other),
      '',
      fillNote,
      '',
      'SLOWLOG above 1 ms during the timed calls (bench commands left out):',
      '',
      ...slowLines(slow).map((l) => `- ${l}`),
      '',
      `During the fill and warm-up (not timed; SLOWLOG keeps 1,024): ${n0(slowDuringFill)} entries` +
        (fillSlowest.length
          ? ` (slowest: ${fillSlowest.map((e) => `${e.command} ${n0(e.durationUs)} µs`).join(', ')}).`
          : '.'),
      '',
      'Diagnostic: the same calls through the same store on a bare node-redis client, without the 1 s bound ' +
        'the service puts on every reply (what that bound costs; the Node GC column is the pause time while ' +
        'the calls ran):',
      '',
      markdownTable(diagnosticTable),
      '',
      `Memory: \`used_memory\` grew ${mb(sessionsBytes)} over the session fill (users were created before it). ` +
        'Split by `MEMORY USAGE … SAMPLES 0`:',
      '',
      markdownTable(memoryTable),
      '',
      markdownTable(userTable),
      '',
      'Redis commands (INFO commandstats; a script counts as its EVALSHA plus every command it runs):',
      '',
      ...commandLines.map((l) => `- ${l}`),
      '',
      ...checkLines.map((l) => `- ${l}`),
      '',
    ].join('\n');
    writeFileSync(join(RESULTS_DIR, 'scale.md'), md);
    log(`wrote ${relative(process.cwd(), join(RESULTS_DIR, 'scale.json'))} and scale.md`);
  } catch (error) {
    failed = true;
    console.error(error instanceof Error ? (error.stack ?? error.message) : error);
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
