import { createHash } from 'node:crypto';
import {
  ACTIVITY_SHARDS,
  activityShardOf,
  handleFromPublicId,
  handleFromSessionId,
  isUserId,
  KeyLayout,
  newSessionId,
  newUserId,
  PUBLIC_SESSION_ID_PATTERN,
} from './session-keys';

describe('session keys', () => {
  const userId = newUserId();

  describe('user ids', () => {
    it('are 12 URL-safe characters and recognised as such', () => {
      expect(userId).toMatch(/^[A-Za-z0-9_-]{12}$/);
      expect(isUserId(userId)).toBe(true);
      expect(newUserId()).not.toBe(userId);
    });

    it.each(['', 'short', `${'a'.repeat(12)}x`, 'aaaaaaaaaaa.', 'aaaaaaaaaaa/', '{u:aaaaaaa}'])('reject %p', (id) => {
      expect(isUserId(id)).toBe(false);
    });
  });

  describe('cookie session ids', () => {
    it('are <userId>.<43 random URL-safe characters>, different every time', () => {
      const sid = newSessionId(userId);
      expect(sid).toMatch(new RegExp(`^${userId}\\.[A-Za-z0-9_-]{43}$`));
      expect(newSessionId(userId)).not.toBe(sid);
    });

    it('turn into a handle carrying the user id and a hash', () => {
      const sid = newSessionId(userId);
      const handle = handleFromSessionId(sid);
      expect(handle).not.toBeNull();
      expect(handle?.userId).toBe(userId);
      expect(handle?.hash).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(handle?.id).toBe(`${userId}.${handle?.hash}`);
    });

    it('hash to a value that is never the id nor any part of it', () => {
      for (let i = 0; i < 50; i += 1) {
        const sid = newSessionId(userId);
        const { hash, id } = handleFromSessionId(sid)!;
        const secret = sid.split('.')[1];
        expect(hash).not.toBe(sid);
        expect(hash).not.toBe(secret);
        expect(secret).not.toContain(hash);
        expect(id).not.toBe(sid);
        expect(sid).not.toContain(hash);
      }
    });

    it('hash as SHA-256 of the whole id, the same every time', () => {
      const sid = newSessionId(userId);
      const expected = createHash('sha256').update(sid).digest('base64url').slice(0, 22);
      expect(handleFromSessionId(sid)?.hash).toBe(expected);
      expect(handleFromSessionId(sid)).toEqual(handleFromSessionId(sid));
    });

    it('of the same user hash differently', () => {
      const hashes = new Set(Array.from({ length: 100 }, () => handleFromSessionId(newSessionId(userId))!.hash));
      expect(hashes.size).toBe(100);
    });

    it.each([
      ['an empty string', ''],
      ['a UUID (the anonymous id express-session gets)', '3b241101-e2bb-4255-8caf-4136c566a962'],
      ['a random part one too short', `${'a'.repeat(12)}.${'b'.repeat(42)}`],
      ['a random part one too long', `${'a'.repeat(12)}.${'b'.repeat(44)}`],
      ['a user id one too short', `${'a'.repeat(11)}.${'b'.repeat(43)}`],
      ['a third part', `${'a'.repeat(12)}.${'b'.repeat(43)}.c`],
      ['characters outside base64url', `${'a'.repeat(12)}.${'b'.repeat(42)}+`],
      ['a public session id', `${'a'.repeat(12)}.${'b'.repeat(22)}`],
    ])('reject %s', (_, sid) => {
      expect(handleFromSessionId(sid)).toBeNull();
    });
  });

  describe('public session ids', () => {
    it('match PUBLIC_SESSION_ID_PATTERN and parse back to the same handle', () => {
      const handle = handleFromSessionId(newSessionId(userId))!;
      expect(handle.id).toMatch(PUBLIC_SESSION_ID_PATTERN);
      expect(handleFromPublicId(handle.id)).toEqual(handle);
    });

    it('cannot be used as a cookie id, nor a cookie id as a public id', () => {
      const sid = newSessionId(userId);
      const { id } = handleFromSessionId(sid)!;
      expect(handleFromSessionId(id)).toBeNull();
      expect(handleFromPublicId(sid)).toBeNull();
      expect(PUBLIC_SESSION_ID_PATTERN.test(sid)).toBe(false);
    });

    it.each([
      '',
      'nodot',
      `${'a'.repeat(12)}.${'b'.repeat(21)}`,
      `${'a'.repeat(12)}.${'b'.repeat(23)}`,
      `a.${'b'.repeat(22)}`,
    ])('reject %p', (id) => {
      expect(handleFromPublicId(id)).toBeNull();
      expect(PUBLIC_SESSION_ID_PATTERN.test(id)).toBe(false);
    });
  });

  describe('KeyLayout', () => {
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
        const shard = activityShardOf(handleFromSessionId(newSessionId(userId))!.hash);
        expect(shard).toBeGreaterThanOrEqual(0);
        expect(shard).toBeLessThan(ACTIVITY_SHARDS);
        shards.add(shard);
      }
      expect(shards.size).toBe(ACTIVITY_SHARDS);
    });
  });
});
