export const ACTIVITY_SHARDS = 8;

/** Every key the service writes, in one place. `{u:<id>}` is the cluster hash tag of one user. */
export class KeyLayout {
  constructor(readonly prefix: string) {}

  /**
   * One hash per user holding all of that user's sessions: field = session hash, value = the packed
   * session (session-codec.ts), plus the field `~u` with the user's name and roles. One key per user
   * instead of one per session saves the per-key overhead, and a steady request reads it with one HMGET.
   */
  userSessions(userId: string): string {
    return `${this.prefix}{u:${userId}}:s`;
  }

  user(userId: string): string {
    return `${this.prefix}{u:${userId}}:user`;
  }

  /** Sessions of one role family in one shard, by last activity: `<userId>.<hash>` members. */
  activityShard(family: string, shard: number): string {
    return `${this.prefix}{activity:${family}:${shard}}`;
  }

  activity(roles: string[], hash: string): string {
    return this.activityShard(roleFamily(roles), activityShardOf(hash));
  }

  /**
   * Beside each activity shard (same slot): the sessions that will end at their absolute deadline
   * rather than by idleness, scored by that deadline, so their end is found without a scan.
   */
  capped(activityKey: string): string {
    return `${activityKey}:capped`;
  }

  /** The role families that have ever had a session (a handful: one per distinct set of roles). */
  activityFamilies(): string {
    return `${this.prefix}{activity}:families`;
  }

  audit(): string {
    return `${this.prefix}{audit}`;
  }

  /** Failed logins naming one username (hashed: any text a client sends stays out of key names). */
  loginFailuresByUser(usernameHash: string): string {
    return `${this.prefix}{rl:u:${usernameHash}}`;
  }

  loginFailuresByIp(ip: string): string {
    return `${this.prefix}{rl:ip:${ip}}`;
  }

  usernames(): string {
    return `${this.prefix}{users}:names`;
  }

  users(): string {
    return `${this.prefix}{users}:all`;
  }

  /** The admin console's history: one sample a minute (a sorted set scored by minute), `{stats}` slot. */
  statsHistory(): string {
    return `${this.prefix}{stats}:history`;
  }

  /** Logins succeeded and failed during one minute (a hash), beside the history. */
  statsLogins(minute: number): string {
    return `${this.prefix}{stats}:logins:${minute}`;
  }

  /** Taken by the one instance that samples that minute. */
  statsClaim(minute: number): string {
    return `${this.prefix}{stats}:claim:${minute}`;
  }

  /** The timing profiles of imported password hashes (a set of a few names such as `bcrypt:10`). */
  hashProfiles(): string {
    return `${this.prefix}{users}:hash-profiles`;
  }
}

const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Sessions are indexed by their user's exact set of roles, so each session sits in one index and
 * "sessions by role" is a sum of counts rather than a counter that could drift.
 */
export function roleFamily(roles: string[]): string {
  return roles.length === 0 ? '-' : [...roles].sort().join('+');
}

export function familyRoles(family: string): string[] {
  return family === '-' ? [] : family.split('+');
}

export function activityShardOf(hash: string): number {
  return ALPHABET.indexOf(hash[0]) % ACTIVITY_SHARDS;
}
