import { createHash } from 'node:crypto';
import { newUserId } from '../users/user-ids';
import { handleFromPublicId, handleFromSessionId, newSessionId, PUBLIC_SESSION_ID_PATTERN } from './session-ids';

describe('session ids', () => {
  const userId = newUserId();

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
      expect(handle?.publicId).toBe(`${userId}.${handle?.hash}`);
    });

    it('hash to a value that is never the id nor any part of it', () => {
      for (let i = 0; i < 50; i += 1) {
        const sid = newSessionId(userId);
        const { hash, publicId } = handleFromSessionId(sid)!;
        const secret = sid.split('.')[1];
        expect(hash).not.toBe(sid);
        expect(hash).not.toBe(secret);
        expect(secret).not.toContain(hash);
        expect(publicId).not.toBe(sid);
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
      expect(handle.publicId).toMatch(PUBLIC_SESSION_ID_PATTERN);
      expect(handleFromPublicId(handle.publicId)).toEqual(handle);
    });

    it('cannot be used as a cookie id, nor a cookie id as a public id', () => {
      const sid = newSessionId(userId);
      const { publicId } = handleFromSessionId(sid)!;
      expect(handleFromSessionId(publicId)).toBeNull();
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
});
