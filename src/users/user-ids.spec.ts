import { isUserId, newUserId } from './user-ids';

describe('user ids', () => {
  const userId = newUserId();

  it('are 12 URL-safe characters and recognised as such', () => {
    expect(userId).toMatch(/^[A-Za-z0-9_-]{12}$/);
    expect(isUserId(userId)).toBe(true);
    expect(newUserId()).not.toBe(userId);
  });

  it.each(['', 'short', `${'a'.repeat(12)}x`, 'aaaaaaaaaaa.', 'aaaaaaaaaaa/', '{u:aaaaaaa}'])('reject %p', (id) => {
    expect(isUserId(id)).toBe(false);
  });
});
