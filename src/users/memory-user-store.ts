import { Injectable } from '@nestjs/common';
import { EmbeddedDb } from '../session/embedded-db';
import { User, UserChanges, UserPage, UserStore, usernameKey } from './user-store';

const copy = (u: User): User => ({ ...u, roles: [...u.roles] });

/** Users of the embedded store, in this process only. */
@Injectable()
export class MemoryUserStore extends UserStore {
  constructor(private readonly db: EmbeddedDb) {
    super();
  }

  create(user: User): Promise<boolean> {
    const name = usernameKey(user.username);
    if (this.db.usernames.has(name)) return Promise.resolve(false);
    this.db.usernames.set(name, user.id);
    this.db.users.set(user.id, copy(user));
    return Promise.resolve(true);
  }

  findById(id: string): Promise<User | null> {
    const user = this.db.users.get(id);
    return Promise.resolve(user ? copy(user) : null);
  }

  findByUsername(username: string): Promise<User | null> {
    const id = this.db.usernames.get(usernameKey(username));
    return id ? this.findById(id) : Promise.resolve(null);
  }

  update(id: string, changes: UserChanges): Promise<User | null> {
    const user = this.db.users.get(id);
    if (!user) return Promise.resolve(null);
    Object.assign(user, changes, changes.roles ? { roles: [...changes.roles] } : {});
    user.version += 1;
    return this.findById(id);
  }

  delete(id: string): Promise<boolean> {
    const user = this.db.users.get(id);
    if (!user) return Promise.resolve(false);
    this.db.users.delete(id);
    this.db.usernames.delete(usernameKey(user.username));
    return Promise.resolve(true);
  }

  list(limit: number, cursor: number): Promise<UserPage> {
    const all = [...this.db.users.values()].sort((a, b) => a.createdAt - b.createdAt);
    return Promise.resolve({
      users: all.slice(cursor, cursor + limit).map(copy),
      nextCursor: cursor + limit < all.length ? String(cursor + limit) : null,
    });
  }

  count(): Promise<number> {
    return Promise.resolve(this.db.users.size);
  }
}
