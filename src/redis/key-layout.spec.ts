import { createHash } from 'node:crypto';
import { ACTIVITY_SHARDS, activityShardOf, KeyLayout } from './key-layout';

// A session hash has the shape session-ids.ts gives it: SHA-256, base64url, 22 characters.
const sessionHash = (n: number): string => createHash('sha256').update(String(n)).digest('base64url').slice(0, 22);

describe('KeyLayout', () => {
  const userId = 'Ab3_-xYz0123';
  const keys = new KeyLayout('pfx:');

  it('puts every key of one user under the prefix and that user’s hash tag', () => {
    for (const key of [keys.userSessions(userId), keys.user(userId)]) {
      expect(key.startsWith(`pfx:{u:${userId}}`)).toBe(true);
    }
    expect(keys.userSessions(userId)).not.toBe(keys.user(userId));
    // Not the per-user sorted set of the previous layout: old data under that name cannot clash.
    expect(keys.userSessions(userId)).not.toBe(`pfx:{u:${userId}}:sessions`);
  });

  it('spreads activity over ACTIVITY_SHARDS shards', () => {
    const shards = new Set<number>();
    for (let i = 0; i < 500; i += 1) {
      const shard = activityShardOf(sessionHash(i));
      expect(shard).toBeGreaterThanOrEqual(0);
      expect(shard).toBeLessThan(ACTIVITY_SHARDS);
      shards.add(shard);
    }
    expect(shards.size).toBe(ACTIVITY_SHARDS);
  });
});
