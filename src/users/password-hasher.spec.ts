import { PasswordHasher } from './password-hasher';

describe('PasswordHasher', () => {
  const hasher = new PasswordHasher();
  let hash: string;

  beforeAll(async () => {
    await hasher.onModuleInit();
    hash = await hasher.hash('correct horse battery staple');
  });

  it('hashes with argon2id and a fresh salt each time', async () => {
    expect(hash).toMatch(/^\$argon2id\$/);
    expect(hash).not.toContain('correct horse');
    expect(await hasher.hash('correct horse battery staple')).not.toBe(hash);
  });

  it('verifies the right password', async () => {
    expect(await hasher.verify(hash, 'correct horse battery staple')).toBe(true);
  });

  it('refuses a wrong password', async () => {
    expect(await hasher.verify(hash, 'correct horse battery stapler')).toBe(false);
    expect(await hasher.verify(hash, '')).toBe(false);
  });

  it('answers false, not an error, for a hash that is not argon2', async () => {
    expect(await hasher.verify('not-a-hash', 'correct horse battery staple')).toBe(false);
  });

  it('burns a verification for an unknown user and answers false', async () => {
    await expect(hasher.burn('correct horse battery staple')).resolves.toBe(false);
  });

  it('answers every one of several verifications started at once correctly', async () => {
    const passwords = ['correct horse battery staple', 'wrong', 'correct horse battery staple', 'also wrong'];
    const results = await Promise.all([...passwords, ...passwords.slice(0, 2)].map((p) => hasher.verify(hash, p)));
    expect(results).toEqual([true, false, true, false, true, false]);
  });
});
