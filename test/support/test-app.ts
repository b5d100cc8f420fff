import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { ModuleMetadata } from '@nestjs/common';
import { Test, TestingModuleBuilder } from '@nestjs/testing';
import type { NestExpressApplication } from '@nestjs/platform-express';
import request from 'supertest';
import { createClient, createCluster, createSentinel, RedisClientType, RedisClusterType } from 'redis';
import { AppModule } from '../../src/app.module';
import { Clock } from '../../src/common/clock';
import { Env } from '../../src/config/env';
import { configureApp } from '../../src/configure-app';
import { JsonLogger } from '../../src/common/logger';
import { FakeClock } from './fake-clock';

export const ADMIN = { username: 'admin', password: 'admin-password-1' };
export const TEST_SECRET = 'test-secret-that-is-long-enough-0123456789';

export type StoreKind = 'redis' | 'embedded';
export type Topology = 'standalone' | 'cluster' | 'sentinel';

export function topology(): Topology {
  return (process.env.TEST_TOPOLOGY ?? 'standalone') as Topology;
}

/** Both stores on the standalone run; on the cluster and sentinel runs only Redis is under test. */
export const STORE_KINDS: StoreKind[] = topology() === 'standalone' ? ['redis', 'embedded'] : ['redis'];

/** The app's Redis variables for the topology this run started (REDIS_URL, or cluster / sentinel lists). */
export function redisEnv(): Env {
  const raw = process.env.TEST_REDIS_ENV;
  if (!raw) throw new Error('TEST_REDIS_ENV is not set: run through jest (test/support/global-setup.ts)');
  return JSON.parse(raw) as Env;
}

/** The standalone Redis of this run (only on the standalone run). */
export function redisUrl(): string {
  const url = process.env.TEST_REDIS_URL;
  if (!url) throw new Error('TEST_REDIS_URL is set only on the standalone run');
  return url;
}

/** A key prefix of this test's own, so tests never touch each other's keys or a shared Redis's data. */
export function uniquePrefix(): string {
  return `t${randomBytes(5).toString('hex')}:`;
}

export interface TestApp {
  app: NestExpressApplication;
  http: Server;
  clock: FakeClock;
  /** Every log line the app wrote (JSON), for tests that read the logs. */
  logs: string[];
  prefix: string;
  env: Env;
  close(): Promise<void>;
}

export interface TestAppOptions {
  store?: StoreKind;
  env?: Env;
  /** Extra modules, e.g. a test-only controller. */
  imports?: NonNullable<ModuleMetadata['imports']>;
  override?: (builder: TestingModuleBuilder) => TestingModuleBuilder;
}

/** Builds the service exactly as main.ts does (same module, same configureApp), on a fake clock. */
export async function createTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const store = options.store ?? 'redis';
  const prefix = options.env?.REDIS_KEY_PREFIX ?? uniquePrefix();
  const env: Env = {
    NODE_ENV: 'test',
    SESSION_SECRET: TEST_SECRET,
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    ...(store === 'redis' ? redisEnv() : {}),
    REDIS_KEY_PREFIX: prefix,
    // Tests fail logins on purpose; the limiter's own tests set a low value.
    LOGIN_MAX_FAILURES: '1000',
    ...options.env,
  };
  const clock = new FakeClock();
  let builder = Test.createTestingModule({ imports: [AppModule.forRoot(env), ...(options.imports ?? [])] })
    .overrideProvider(Clock)
    .useValue(clock);
  if (options.override) builder = options.override(builder);
  const moduleRef = await builder.compile();
  const logs: string[] = [];
  const logger = new JsonLogger({ sink: (line) => logs.push(line) });
  const app = moduleRef.createNestApplication<NestExpressApplication>({ bodyParser: false, logger });
  await configureApp(app, logger);
  await app.init();
  return { app, http: app.getHttpServer(), clock, logs, prefix, env, close: () => app.close() };
}

export interface LoggedIn {
  cookie: string;
  csrfToken: string;
  body: {
    user: { id: string; username: string; roles: string[] };
    session: { id: string; deviceId: string | null; createdAt: string; expiresAt: string };
    csrfToken: string;
  };
}

/** The `name=value` part of the session cookie set by a response. */
export function sessionCookie(setCookie: string[] | string | undefined): string {
  const list = Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : [];
  const cookie = list.find((c) => !c.includes('Expires=Thu, 01 Jan 1970'));
  if (!cookie) throw new Error('no session cookie was set');
  return cookie.split(';')[0];
}

export async function login(
  http: Server,
  credentials: { username: string; password: string; deviceId?: string } = ADMIN,
  headers: Record<string, string> = {},
): Promise<LoggedIn> {
  const res = await request(http).post('/auth/login').set(headers).send(credentials).expect(200);
  const body = res.body as LoggedIn['body'];
  return { cookie: sessionCookie(res.headers['set-cookie']), csrfToken: body.csrfToken, body };
}

/** Creates a user through the admin API (as the bootstrap admin) and returns its id. */
export async function createUser(
  http: Server,
  admin: LoggedIn,
  user: { username: string; password: string; roles?: string[] },
): Promise<string> {
  const res = await request(http)
    .post('/admin/users')
    .set('Cookie', admin.cookie)
    .set('X-CSRF-Token', admin.csrfToken)
    .send(user)
    .expect(201);
  return (res.body as { id: string }).id;
}

/** A client on the test Redis (any topology), for looking at what the service wrote. */
export async function inspectRedis(): Promise<RedisClientType> {
  const env = redisEnv();
  const hostPorts = (list: string) =>
    list.split(',').map((entry) => ({
      host: entry.slice(0, entry.lastIndexOf(':')),
      port: Number(entry.slice(entry.lastIndexOf(':') + 1)),
    }));
  // Cluster and sentinel clients carry the same commands; the cast lets tests use one type.
  const client = (env.REDIS_CLUSTER_NODES
    ? createCluster({ rootNodes: hostPorts(env.REDIS_CLUSTER_NODES).map((socket) => ({ socket })) })
    : env.REDIS_SENTINELS
      ? createSentinel({ name: env.REDIS_SENTINEL_NAME ?? '', sentinelRootNodes: hostPorts(env.REDIS_SENTINELS) })
      : createClient({ url: env.REDIS_URL })) as unknown as RedisClientType;
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function* prefixKeys(client: RedisClientType, prefix: string): AsyncGenerator<string> {
  const cluster = client as unknown as Partial<RedisClusterType>;
  const sources: RedisClientType[] = cluster.masters
    ? await Promise.all(cluster.masters.map((m) => cluster.nodeClient!(m) as unknown as Promise<RedisClientType>))
    : [client];
  for (const source of sources) {
    for await (const keys of source.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) yield* keys;
  }
}

/** Every key under the prefix with its whole content as text (maintenance-style SCAN, tests only). */
export async function dumpPrefix(client: RedisClientType, prefix: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const key of prefixKeys(client, prefix)) {
    const type = await client.type(key);
    let value: unknown;
    // Field order is the hash's internal layout (it changes with the encoding and rehashing), not data.
    if (type === 'hash') value = Object.fromEntries(Object.entries(await client.hGetAll(key)).sort());
    else if (type === 'zset') value = await client.zRangeWithScores(key, 0, -1);
    else if (type === 'string') value = await client.get(key);
    else if (type === 'stream') value = await client.xRange(key, '-', '+');
    else if (type === 'set') value = (await client.sMembers(key)).sort();
    else if (type === 'list') value = await client.lRange(key, 0, -1);
    out.set(key, JSON.stringify(value));
  }
  return out;
}
