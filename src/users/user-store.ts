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
  /**
   * Puts `replacement` in place of the password hash only while the stored one is still `expected`,
   * and leaves the version alone: a rehash of the same password ends no session. False when the
   * hash has changed meanwhile (a password change wins) or the user is gone.
   */
  abstract replacePasswordHash(id: string, expected: string, replacement: string): Promise<boolean>;
  abstract delete(id: string): Promise<boolean>;
  /** Users in creation order. */
  abstract list(limit: number, cursor: number): Promise<UserPage>;
  abstract count(): Promise<number>;
  /**
   * The timing profiles (password-hash-formats.ts) of hashes ever imported, so that every instance
   * learns how slow a check can be before anyone logs in. Never pruned: that would take a walk over
   * every user, and an extra profile costs only time on failed logins.
   */
  abstract addHashProfiles(profiles: string[]): Promise<void>;
  abstract hashProfiles(): Promise<string[]>;
}

export function usernameKey(username: string): string {
  return username.normalize('NFKC').toLowerCase();
}
