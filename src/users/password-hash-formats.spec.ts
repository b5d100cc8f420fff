import {
  checkableHash,
  forNativeBcrypt,
  HashParams,
  parseHash,
  parseProfile,
  profileName,
  refusalOf,
  slowestProfiles,
} from './password-hash-formats';

const SALT_AND_HASH = 'g6.5pZlNKElPcB5dUIUxweNsMoT0WCWHTY8bHrqCcoYuaRe/m0pZK';
const ARGON2_TAIL = '83iyXC7q7Vs/eJ4KOy1czQ$nE+4nUMNw9wi94sQXQk4c5pK+PpteuFi6dz90o8TI9o';

const argon2 = (
  m: number,
  t: number,
  p: number,
  algorithm: 'argon2id' | 'argon2i' = 'argon2id',
  version: 16 | 19 = 19,
): HashParams => ({
  algorithm,
  version,
  memoryCost: m,
  timeCost: t,
  parallelism: p,
});

describe('password hash formats', () => {
  it('reads bcrypt hashes of the three accepted minor versions', () => {
    for (const minor of ['a', 'b', 'y']) {
      expect(parseHash(`$2${minor}$10$${SALT_AND_HASH}`)).toEqual({ algorithm: 'bcrypt', cost: 10 });
    }
  });

  it('reads argon2 PHC strings with the parameters in either order, and without a version', () => {
    const expected = argon2(19456, 2, 1);
    expect(parseHash(`$argon2id$v=19$m=19456,p=1,t=2$${ARGON2_TAIL}`)).toEqual(expected);
    expect(parseHash(`$argon2id$v=19$m=19456,t=2,p=1$${ARGON2_TAIL}`)).toEqual(expected);
    expect(parseHash(`$argon2i$m=4096,t=3,p=1$${ARGON2_TAIL}`)).toEqual(argon2(4096, 3, 1, 'argon2i', 16));
  });

  it.each([
    ['empty', ''],
    ['bcrypt $2x$ (the buggy variant)', `$2x$10$${SALT_AND_HASH}`],
    ['bcrypt $2$', `$2$10$${SALT_AND_HASH}`],
    ['bcrypt one character short', `$2b$10$${SALT_AND_HASH.slice(1)}`],
    ['bcrypt one character long', `$2b$10$${SALT_AND_HASH}A`],
    ['bcrypt with a character outside its alphabet', `$2b$10$${SALT_AND_HASH.slice(1)}+`],
    ['bcrypt with a one-digit cost', `$2b$9$${SALT_AND_HASH}`],
    ['bcrypt with a trailing newline', `$2b$10$${SALT_AND_HASH}\n`],
    ['argon2d', `$argon2d$v=19$m=19456,t=2,p=1$${ARGON2_TAIL}`],
    ['argon2 version 18', `$argon2id$v=18$m=19456,t=2,p=1$${ARGON2_TAIL}`],
    ['argon2 with a parameter twice', `$argon2id$v=19$m=19456,m=2,p=1$${ARGON2_TAIL}`],
    ['argon2 with a leading zero', `$argon2id$v=19$m=019456,t=2,p=1$${ARGON2_TAIL}`],
    ['argon2 with keyid', `$argon2id$v=19$m=19456,t=2,p=1,keyid=abc$${ARGON2_TAIL}`],
    ['argon2 with padded base64', `$argon2id$v=19$m=19456,t=2,p=1$${ARGON2_TAIL}=`],
    ['argon2 with a 4n+1 salt', `$argon2id$v=19$m=19456,t=2,p=1$${'A'.repeat(21)}$${'B'.repeat(43)}`],
    ['argon2 with a salt too short', `$argon2id$v=19$m=19456,t=2,p=1$${'A'.repeat(10)}$${'B'.repeat(43)}`],
    ['a plain password', 'correct horse battery staple'],
    ['scrypt', '$scrypt$ln=16,r=8,p=1$aM15713r3Xsvxbi31lqr1Q$nFNh2CVHVjNldFVKDHDlm4CbdRSCdEBsjjJxD+iCs5E'],
  ])('refuses %s', (_, hash) => {
    expect(parseHash(hash)).toBeNull();
    expect(checkableHash(hash)).toBeNull();
  });

  it.each<[HashParams, string]>([
    [{ algorithm: 'bcrypt', cost: 3 }, 'invalid bcrypt cost (below 4)'],
    [{ algorithm: 'bcrypt', cost: 15 }, 'bcrypt cost above 14'],
    [argon2(262_145, 1, 1), 'argon2 memory above 256 MiB'],
    [argon2(19456, 17, 1), 'argon2 passes above 16'],
    [argon2(19456, 2, 9), 'argon2 parallelism above 8'],
    [argon2(262_144, 5, 1), 'argon2 memory × passes above 1 GiB'],
    [argon2(15, 2, 2), 'invalid argon2 parameters'],
    [argon2(19456, 0, 1), 'invalid argon2 parameters'],
  ])('refuses the costs of %j: %s', (params, reason) => {
    expect(refusalOf(params)).toBe(reason);
    expect(parseProfile(profileName(params))).toBeNull();
  });

  it('takes the bounds themselves', () => {
    for (const params of [
      { algorithm: 'bcrypt', cost: 4 } as HashParams,
      { algorithm: 'bcrypt', cost: 14 } as HashParams,
      argon2(262_144, 4, 1),
      argon2(8, 1, 1),
      argon2(65_536, 16, 8),
    ]) {
      expect(refusalOf(params)).toBeNull();
    }
  });

  it('names profiles and reads the names back', () => {
    const params: HashParams[] = [
      { algorithm: 'bcrypt', cost: 10 },
      argon2(19456, 2, 1),
      argon2(4096, 3, 1, 'argon2i', 16),
    ];
    expect(params.map(profileName)).toEqual(['bcrypt:10', 'argon2id:m=19456,t=2,p=1', 'argon2i:v=16,m=4096,t=3,p=1']);
    expect(params.map((p) => parseProfile(profileName(p)))).toEqual(params);
    expect(parseProfile('bcrypt:10 ')).toBeNull();
    expect(parseProfile('md5')).toBeNull();
  });

  it('keeps of many profiles only those that may be the slowest to check', () => {
    const slowest = slowestProfiles([
      { algorithm: 'bcrypt', cost: 10 },
      argon2(19456, 2, 1),
      { algorithm: 'bcrypt', cost: 12 },
      argon2(65536, 3, 4),
      argon2(65536, 3, 1),
      argon2(4096, 10, 1),
      argon2(65536, 3, 1, 'argon2i'),
      { algorithm: 'bcrypt', cost: 4 },
    ]);
    // 64 MiB × 3 with one lane beats the same with four lanes and 19 MiB × 2; nothing beats 4 MiB × 10.
    expect(slowest.map(profileName)).toEqual(['bcrypt:12', 'argon2id:m=65536,t=3,p=1', 'argon2id:m=4096,t=10,p=1']);
  });

  it('gives native bcrypt $2b$ for $2y$ and leaves every other hash alone', () => {
    expect(forNativeBcrypt(`$2y$10$${SALT_AND_HASH}`)).toBe(`$2b$10$${SALT_AND_HASH}`);
    expect(forNativeBcrypt(`$2a$10$${SALT_AND_HASH}`)).toBe(`$2a$10$${SALT_AND_HASH}`);
    expect(forNativeBcrypt(`$argon2id$v=19$m=19456,t=2,p=1$${ARGON2_TAIL}`)).toBe(
      `$argon2id$v=19$m=19456,t=2,p=1$${ARGON2_TAIL}`,
    );
  });
});
