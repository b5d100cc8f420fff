import 'reflect-metadata';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { TestingModuleBuilder } from '@nestjs/testing';
import type { RedisClientType } from 'redis';
import request from 'supertest';
import { SessionConfig } from '../../src/config/config';
import { ACTIVITY_SHARDS, KeyLayout, roleFamily } from '../../src/redis/key-layout';
import { storeProvider } from '../../src/redis/store-provider';
import { MemorySessionStore } from '../../src/session/memory-session-store';
import { RedisSessionStore } from '../../src/session/redis-session-store';
import { handleFromSessionId, SessionHandle } from '../../src/session/session-ids';
import { SessionStore } from '../../src/session/session-store';
import { createUser, LoggedIn, login, TestApp } from './test-app';

/** The raw session id inside a `sid=s%3A<id>.<signature>` cookie: what Redis must never hold. */
export function sessionIdOf(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
  if (!value.startsWith('s:')) throw new Error(`not a signed session cookie: ${cookie}`);
  return value.slice(2, value.lastIndexOf('.'));
}

export function handleOf(cookie: string): SessionHandle {
  const handle = handleFromSessionId(sessionIdOf(cookie));
  if (!handle) throw new Error(`not a session id of a user: ${cookie}`);
  return handle;
}

/** Requests made with one session: its cookie, and its CSRF token on state-changing calls. */
export function as(http: Server, who: Pick<LoggedIn, 'cookie' | 'csrfToken'>) {
  return {
    get: (path: string) => request(http).get(path).set('Cookie', who.cookie),
    post: (path: string) => request(http).post(path).set('Cookie', who.cookie).set('X-CSRF-Token', who.csrfToken),
    patch: (path: string) => request(http).patch(path).set('Cookie', who.cookie).set('X-CSRF-Token', who.csrfToken),
    delete: (path: string) => request(http).delete(path).set('Cookie', who.cookie).set('X-CSRF-Token', who.csrfToken),
  };
}

/** The status GET /auth/profile answers for a cookie: 200 while its session lives, 401 after. */
export async function profileStatus(http: Server, cookie: string): Promise<number> {
  return (await request(http).get('/auth/profile').set('Cookie', cookie)).status;
}

export interface TestUser {
  id: string;
  username: string;
  password: string;
  roles: string[];
}

/** A fresh user (unique name) created through the admin API. */
export async function newUser(http: Server, admin: LoggedIn, roles: string[] = ['user']): Promise<TestUser> {
  const user = { username: `u-${randomBytes(5).toString('hex')}`, password: `pw-${randomBytes(8).toString('hex')}` };
  const id = await createUser(http, admin, { ...user, roles });
  return { id, ...user, roles };
}

export function loginAs(
  http: Server,
  user: Pick<TestUser, 'username' | 'password'>,
  extra: { deviceId?: string; userAgent?: string } = {},
): Promise<LoggedIn> {
  return login(
    http,
    { username: user.username, password: user.password, ...(extra.deviceId ? { deviceId: extra.deviceId } : {}) },
    extra.userAgent ? { 'User-Agent': extra.userAgent } : {},
  );
}

/** One activity write the tracker started: what it asked for and whether the store took it. */
export interface ActivityWrite {
  id: string;
  at: number;
  count: number;
  result: Promise<boolean>;
}

class RecordingRedisStore extends RedisSessionStore {
  readonly writes: ActivityWrite[] = [];

  override recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean> {
    const result = super.recordActivity(handle, at, count);
    this.writes.push({ id: handle.publicId, at, count, result });
    return result;
  }
}

class RecordingMemoryStore extends MemorySessionStore {
  readonly writes: ActivityWrite[] = [];

  override recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean> {
    const result = super.recordActivity(handle, at, count);
    this.writes.push({ id: handle.publicId, at, count, result });
    return result;
  }
}

/**
 * createTestApp `override`: the real store of the configured kind, which also logs every activity
 * write. The tracker starts a write synchronously at the end of the request that triggers it, so
 * the log is complete once that response has arrived, and `result` lets a test wait for the write.
 */
export function recordActivityWrites(builder: TestingModuleBuilder): TestingModuleBuilder {
  const { inject, useFactory } = storeProvider(SessionStore, {
    inject: [SessionConfig],
    redis: (client, keys, config) => new RecordingRedisStore(client, keys, config),
    memory: (db, config) => new RecordingMemoryStore(db, config),
  });
  return builder.overrideProvider(SessionStore).useFactory({ inject, factory: useFactory });
}

/** The activity writes of one session (all sessions without `id`) made by the app so far. */
export function activityWrites(t: TestApp, id?: string): ActivityWrite[] {
  const store = t.app.get(SessionStore);
  if (!(store instanceof RecordingRedisStore || store instanceof RecordingMemoryStore)) {
    throw new Error('build the app with override: recordActivityWrites');
  }
  return id === undefined ? store.writes : store.writes.filter((w) => w.id === id);
}

/** The session as stored (not as this instance's tracker counts it), or null when it has ended. */
export async function storedSession(t: TestApp, handle: SessionHandle) {
  return t.app.get(SessionStore).get(handle, t.clock.now());
}

/** Members of the global activity index (all shards of the role family) that belong to one user. */
export async function activityMembers(
  redis: RedisClientType,
  prefix: string,
  roles: string[],
  userId: string,
): Promise<string[]> {
  const keys = new KeyLayout(prefix);
  const shards = await Promise.all(
    Array.from({ length: ACTIVITY_SHARDS }, (_, shard) =>
      redis.zRange(keys.activityShard(roleFamily(roles), shard), 0, -1),
    ),
  );
  return shards.flat().filter((member) => member.startsWith(`${userId}.`));
}

/** A browser during an impersonation: the impersonation session, and the admin's kept to return to. */
export interface Impersonating extends LoggedIn {
  /** `<name>-return=<the admin's cookie value>`. */
  returnCookie: string;
}

/** `name=value` of the cookie `name` a response set (not a clearing one); undefined when none. */
export function setCookieNamed(res: request.Response, name: string): string | undefined {
  const list = (res.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
  const found = list.find((c) => c.startsWith(`${name}=`) && !c.includes('Expires=Thu, 01 Jan 1970'));
  return found?.split(';')[0];
}

/** POST /admin/users/{userId}/impersonate as `admin`: the cookies and token the browser then holds. */
export async function startImpersonation(http: Server, admin: LoggedIn, userId: string): Promise<Impersonating> {
  const res = await as(http, admin).post(`/admin/users/${userId}/impersonate`).expect(200);
  const name = admin.cookie.slice(0, admin.cookie.indexOf('='));
  const body = res.body as LoggedIn['body'];
  return {
    cookie: setCookieNamed(res, name)!,
    returnCookie: setCookieNamed(res, `${name}-return`)!,
    csrfToken: body.csrfToken,
    body,
  };
}
