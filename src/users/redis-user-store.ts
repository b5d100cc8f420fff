import { Injectable } from '@nestjs/common';
import { KeyLayout } from '../redis/key-layout';
import { InjectRedis, RedisClient } from '../redis/redis-client';
import { runScript, script } from '../redis/redis-scripts';
import { NoReplicaWait, ReplicaWait } from '../redis/replica-wait';
import { User, UserChanges, UserPage, UserStore, usernameKey } from './user-store';

type Fields = Record<string, string>;

/** KEYS: user. ARGV: field/value... Writes only to an existing user, and bumps its version. */
const UPDATE_USER = script(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
redis.call('HINCRBY', KEYS[1], 'v', 1)
return 1
`);

/**
 * KEYS: user. ARGV: expected hash, replacement. Swaps the hash only while it is still the expected
 * one, and leaves `v` alone (a rehash is not a password change). Returns 1 when it swapped.
 */
const REPLACE_HASH = script(`
if redis.call('HGET', KEYS[1], 'hash') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'hash', ARGV[2])
return 1
`);

function toFields(u: User): string[] {
  return ['id', u.id, 'username', u.username, 'hash', u.passwordHash, 'roles', u.roles.join(','),
    'disabled', u.disabled ? '1' : '0', 'createdAt', String(u.createdAt), 'v', String(u.version)]; // prettier-ignore
}

function fromFields(f: Fields): User | null {
  if (!f.id) return null;
  return {
    id: f.id,
    username: f.username,
    passwordHash: f.hash,
    roles: f.roles ? f.roles.split(',') : [],
    disabled: f.disabled === '1',
    createdAt: Number(f.createdAt),
    version: Number(f.v),
  };
}

/**
 * Users in Redis: `{u:<id>}:user` (hash, beside that user's sessions), `{users}:names`
 * (lower-cased username -> id, the uniqueness claim), `{users}:all` (ids by creation time) and
 * `{users}:hash-profiles` (the timing profiles of imported hashes).
 *
 * A change of roles, password or the disabled flag, and a deletion, go out on the connection the
 * session endings wait for a replica on (ReplicaWait.ahead): UsersService ends the user's sessions
 * right after each, on the same hash tag, and that one wait covers the change too. A change lost
 * in a failover would bring back the old password, roles or the deleted user.
 */
@Injectable()
export class RedisUserStore extends UserStore {
  constructor(
    @InjectRedis() private readonly redis: RedisClient,
    private readonly keys: KeyLayout,
    private readonly replicas: ReplicaWait = new NoReplicaWait(redis),
  ) {
    super();
  }

  async create(user: User): Promise<boolean> {
    // Claim the name first: two instances creating the same name at once cannot both win.
    const claimed = await this.redis.hSetNX(this.keys.usernames(), usernameKey(user.username), user.id);
    if (!claimed) return false;
    await this.redis.hSet(this.keys.user(user.id), toFields(user));
    await this.redis.zAdd(this.keys.users(), { score: user.createdAt, value: user.id });
    return true;
  }

  async findById(id: string): Promise<User | null> {
    return fromFields(await this.redis.hGetAll(this.keys.user(id)));
  }

  async findByUsername(username: string): Promise<User | null> {
    const id = await this.redis.hGet(this.keys.usernames(), usernameKey(username));
    return id ? this.findById(id) : null;
  }

  async update(id: string, changes: UserChanges): Promise<User | null> {
    const fields: string[] = [];
    if (changes.passwordHash !== undefined) fields.push('hash', changes.passwordHash);
    if (changes.roles !== undefined) fields.push('roles', changes.roles.join(','));
    if (changes.disabled !== undefined) fields.push('disabled', changes.disabled ? '1' : '0');
    if (fields.length > 0) {
      const key = this.keys.user(id);
      const updated = await this.replicas.ahead(key, (redis) => runScript<number>(redis, UPDATE_USER, [key], fields));
      if (updated !== 1) return null;
    }
    return this.findById(id);
  }

  async replacePasswordHash(id: string, expected: string, replacement: string): Promise<boolean> {
    return (await runScript<number>(this.redis, REPLACE_HASH, [this.keys.user(id)], [expected, replacement])) === 1;
  }

  async delete(id: string): Promise<boolean> {
    const user = await this.findById(id);
    if (!user) return false;
    // The record goes first: a crash after it leaves a stale name claim, never a user without a name.
    const key = this.keys.user(id);
    await this.replicas.ahead(key, (redis) => redis.del(key));
    await this.redis.zRem(this.keys.users(), id);
    await this.redis.hDel(this.keys.usernames(), usernameKey(user.username));
    return true;
  }

  async list(limit: number, cursor: number): Promise<UserPage> {
    const ids = await this.redis.zRange(this.keys.users(), cursor, cursor + limit);
    const more = ids.length > limit;
    const users = await Promise.all(ids.slice(0, limit).map((id) => this.findById(id)));
    return {
      users: users.filter((u): u is User => u !== null),
      nextCursor: more ? String(cursor + limit) : null,
    };
  }

  count(): Promise<number> {
    return this.redis.zCard(this.keys.users());
  }

  async addHashProfiles(profiles: string[]): Promise<void> {
    if (profiles.length > 0) await this.redis.sAdd(this.keys.hashProfiles(), profiles);
  }

  hashProfiles(): Promise<string[]> {
    return this.redis.sMembers(this.keys.hashProfiles());
  }
}
