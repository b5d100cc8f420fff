import { Injectable } from '@nestjs/common';
import { EmbeddedDb, EmbeddedTable } from '../redis/embedded-db';
import { User, UserChanges, UserPage, UserStore, usernameKey } from './user-store';

const copy = (u: User): User => ({ ...u, roles: [...u.roles] });

/** By user id. The session store reads it too, at login (session/memory-session-store.ts). */
const USERS = new EmbeddedTable<string, User>('users');
/** usernameKey(username) -> user id. */
const USERNAMES = new EmbeddedTable<string, string>('usernames');
/** The timing profiles of imported hashes (the value means nothing). */
const HASH_PROFILES = new EmbeddedTable<string, true>('hash-profiles');

/** Users of the embedded store, in this process only. */
@Injectable()
export class MemoryUserStore extends UserStore {
  private readonly users: Map<string, User>;
  private readonly usernames: Map<string, string>;
  private readonly profiles: Map<string, true>;

  constructor(db: EmbeddedDb) {
    super();
    this.users = db.table(USERS);
    this.usernames = db.table(USERNAMES);
    this.profiles = db.table(HASH_PROFILES);
  }

  create(user: User): Promise<boolean> {
    const name = usernameKey(user.username);
    if (this.usernames.has(name)) return Promise.resolve(false);
    this.usernames.set(name, user.id);
    this.users.set(user.id, copy(user));
    return Promise.resolve(true);
  }

  findById(id: string): Promise<User | null> {
    const user = this.users.get(id);
    return Promise.resolve(user ? copy(user) : null);
  }

  findByUsername(username: string): Promise<User | null> {
    const id = this.usernames.get(usernameKey(username));
    return id ? this.findById(id) : Promise.resolve(null);
  }

  update(id: string, changes: UserChanges): Promise<User | null> {
    const user = this.users.get(id);
    if (!user) return Promise.resolve(null);
    Object.assign(user, changes, changes.roles ? { roles: [...changes.roles] } : {});
    user.version += 1;
    return this.findById(id);
  }

  replacePasswordHash(id: string, expected: string, replacement: string): Promise<boolean> {
    const user = this.users.get(id);
    if (!user || user.passwordHash !== expected) return Promise.resolve(false);
    user.passwordHash = replacement;
    return Promise.resolve(true);
  }

  delete(id: string): Promise<boolean> {
    const user = this.users.get(id);
    if (!user) return Promise.resolve(false);
    this.users.delete(id);
    this.usernames.delete(usernameKey(user.username));
    return Promise.resolve(true);
  }

  list(limit: number, cursor: number): Promise<UserPage> {
    const all = [...this.users.values()].sort((a, b) => a.createdAt - b.createdAt);
    return Promise.resolve({
      users: all.slice(cursor, cursor + limit).map(copy),
      nextCursor: cursor + limit < all.length ? String(cursor + limit) : null,
    });
  }

  count(): Promise<number> {
    return Promise.resolve(this.users.size);
  }

  addHashProfiles(profiles: string[]): Promise<void> {
    for (const profile of profiles) this.profiles.set(profile, true);
    return Promise.resolve();
  }

  hashProfiles(): Promise<string[]> {
    return Promise.resolve([...this.profiles.keys()]);
  }
}
