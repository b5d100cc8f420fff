import { Injectable } from '@nestjs/common';
import { User, UserChanges, UserPage, UserStore, usernameKey } from './user-store';

/** Users of the embedded store, in this process only. */
@Injectable()
export class MemoryUserStore extends UserStore {
  private readonly byId = new Map<string, User>();
  private readonly byName = new Map<string, string>();

  create(user: User): Promise<boolean> {
    const name = usernameKey(user.username);
    if (this.byName.has(name)) return Promise.resolve(false);
    this.byName.set(name, user.id);
    this.byId.set(user.id, { ...user, roles: [...user.roles] });
    return Promise.resolve(true);
  }

  findById(id: string): Promise<User | null> {
    const user = this.byId.get(id);
    return Promise.resolve(user ? { ...user, roles: [...user.roles] } : null);
  }

  findByUsername(username: string): Promise<User | null> {
    const id = this.byName.get(usernameKey(username));
    return id ? this.findById(id) : Promise.resolve(null);
  }

  update(id: string, changes: UserChanges): Promise<User | null> {
    const user = this.byId.get(id);
    if (!user) return Promise.resolve(null);
    Object.assign(user, changes, changes.roles ? { roles: [...changes.roles] } : {});
    return this.findById(id);
  }

  delete(id: string): Promise<boolean> {
    const user = this.byId.get(id);
    if (!user) return Promise.resolve(false);
    this.byId.delete(id);
    this.byName.delete(usernameKey(user.username));
    return Promise.resolve(true);
  }

  list(limit: number, cursor: number): Promise<UserPage> {
    const all = [...this.byId.values()].sort((a, b) => a.createdAt - b.createdAt);
    const page = all.slice(cursor, cursor + limit).map((u) => ({ ...u, roles: [...u.roles] }));
    return Promise.resolve({ users: page, nextCursor: cursor + limit < all.length ? String(cursor + limit) : null });
  }

  count(): Promise<number> {
    return Promise.resolve(this.byId.size);
  }
}
