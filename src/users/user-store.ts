export interface User {
  id: string;
  username: string;
  passwordHash: string;
  roles: string[];
  disabled: boolean;
  createdAt: number;
  /** Goes up with every change that ends the user's sessions; a login in flight checks it. */
  version: number;
}

export type UserChanges = Partial<Pick<User, 'passwordHash' | 'roles' | 'disabled'>>;

export interface UserPage {
  users: User[];
  nextCursor: string | null;
}

/** Where users live: the same Redis as the sessions, or the embedded store in development. */
export abstract class UserStore {
  /** Stores a new user; false when the username (case-insensitive) is taken. */
  abstract create(user: User): Promise<boolean>;
  abstract findById(id: string): Promise<User | null>;
  abstract findByUsername(username: string): Promise<User | null>;
  /** Applies changes to an existing user and bumps its version; null when there is no such user. */
  abstract update(id: string, changes: UserChanges): Promise<User | null>;
  abstract delete(id: string): Promise<boolean>;
  /** Users in creation order. */
  abstract list(limit: number, cursor: number): Promise<UserPage>;
  abstract count(): Promise<number>;
}

export function usernameKey(username: string): string {
  return username.normalize('NFKC').toLowerCase();
}
