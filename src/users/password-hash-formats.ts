/**
 * The password hashes this service can check: its own argon2id, and the bcrypt and argon2 hashes an
 * import may bring from another system. What a check costs depends only on these parameters, so
 * they also name a hash's timing profile (password-hasher.ts).
 */
export type HashParams =
  | { algorithm: 'bcrypt'; cost: number }
  | {
      algorithm: 'argon2id' | 'argon2i';
      version: 16 | 19;
      memoryCost: number;
      timeCost: number;
      parallelism: number;
    };

type BcryptParams = Extract<HashParams, { algorithm: 'bcrypt' }>;
type Argon2Params = Extract<HashParams, { algorithm: 'argon2id' | 'argon2i' }>;

/** `$2a$`, `$2b$` or `$2y$`, a two-digit cost, then 22 characters of salt and 31 of hash. */
const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;

/**
 * The PHC string format as argon2's reference tools write it: the version may be absent (then 1.0,
 * i.e. 16), the three parameters come in any order (node-argon2 sorts them, libsodium does not),
 * numbers have no leading zeros, salt (8-64 bytes) and hash (16-128 bytes) are unpadded base64.
 * Nothing else is allowed: no `keyid` or `data`, which this service could not honour.
 */
const ARGON2 =
  /^\$(argon2id|argon2i)\$(?:v=(16|19)\$)?((?:[mtp]=(?:0|[1-9]\d{0,9}),){2}[mtp]=(?:0|[1-9]\d{0,9}))\$([A-Za-z0-9+/]{11,86})\$([A-Za-z0-9+/]{22,171})$/;

/** Beyond these a single login would be a CPU (bcrypt, argon2 passes) or memory (argon2) DoS. */
export const MAX_BCRYPT_COST = 14;
export const MAX_ARGON2_MEMORY_KIB = 256 * 1024;
export const MAX_ARGON2_PASSES = 16;
export const MAX_ARGON2_LANES = 8;
/** Memory × passes: the work of one argon2 check, about what a bcrypt check at cost 14 costs. */
export const MAX_ARGON2_WORK_KIB = 4 * MAX_ARGON2_MEMORY_KIB;

/** The parameters of a hash of one of the accepted formats, or null for anything else. */
export function parseHash(hash: string): HashParams | null {
  const bcrypt = BCRYPT.exec(hash);
  if (bcrypt) return { algorithm: 'bcrypt', cost: Number(bcrypt[1]) };
  const argon2 = ARGON2.exec(hash);
  if (!argon2) return null;
  const [, algorithm, version, list, salt, digest] = argon2;
  // Unpadded base64 never has a length of 4n + 1.
  if (salt.length % 4 === 1 || digest.length % 4 === 1) return null;
  const params = new Map(list.split(',').map((pair) => [pair[0], Number(pair.slice(2))]));
  if (params.size !== 3) return null;
  return {
    algorithm: algorithm as 'argon2id' | 'argon2i',
    version: version === '19' ? 19 : 16,
    memoryCost: params.get('m')!,
    timeCost: params.get('t')!,
    parallelism: params.get('p')!,
  };
}

/**
 * Why this service will not take a hash with these parameters, or null when it will: the
 * algorithm's own minimums, and the bounds above which one login would cost too much.
 */
export function refusalOf(params: HashParams): string | null {
  if (params.algorithm === 'bcrypt') {
    if (params.cost < 4) return 'invalid bcrypt cost (below 4)';
    if (params.cost > MAX_BCRYPT_COST) return `bcrypt cost above ${MAX_BCRYPT_COST}`;
    return null;
  }
  const { memoryCost: m, timeCost: t, parallelism: p } = params;
  if (t < 1 || p < 1 || m < 8 * p) return 'invalid argon2 parameters';
  if (m > MAX_ARGON2_MEMORY_KIB) return 'argon2 memory above 256 MiB';
  if (t > MAX_ARGON2_PASSES) return `argon2 passes above ${MAX_ARGON2_PASSES}`;
  if (p > MAX_ARGON2_LANES) return `argon2 parallelism above ${MAX_ARGON2_LANES}`;
  if (m * t > MAX_ARGON2_WORK_KIB) return 'argon2 memory × passes above 1 GiB';
  return null;
}

/** The parameters of a hash this service will check, or null (unknown format, or refused). */
export function checkableHash(hash: string): HashParams | null {
  const params = parseHash(hash);
  return params && !refusalOf(params) ? params : null;
}

/** `bcrypt:10`, `argon2id:m=19456,t=2,p=1` (`v=16,` first for a version 1.0 hash). */
export function profileName(params: HashParams): string {
  if (params.algorithm === 'bcrypt') return `bcrypt:${params.cost}`;
  const { algorithm, version, memoryCost: m, timeCost: t, parallelism: p } = params;
  return `${algorithm}:${version === 16 ? 'v=16,' : ''}m=${m},t=${t},p=${p}`;
}

const PROFILE = /^(?:bcrypt:(\d\d?)|(argon2id|argon2i):(v=16,)?m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3}))$/;

/** The parameters a profile name stands for, or null when it is not one this service would check. */
export function parseProfile(name: string): HashParams | null {
  const match = PROFILE.exec(name);
  if (!match) return null;
  const [, cost, algorithm, v16, m, t, p] = match;
  const params: HashParams = cost
    ? { algorithm: 'bcrypt', cost: Number(cost) }
    : {
        algorithm: algorithm as 'argon2id' | 'argon2i',
        version: v16 ? 16 : 19,
        memoryCost: Number(m),
        timeCost: Number(t),
        parallelism: Number(p),
      };
  return refusalOf(params) ? null : params;
}

/**
 * The profiles among these that may be the slowest to check: the highest bcrypt cost, and every
 * argon2 profile that no other beats on memory, passes and lanes at once (more lanes run in
 * parallel, so fewer is slower). Only the slowest matters for padding, and with the bounds above
 * there are at most a few dozen such argon2 profiles however many an import brings.
 */
export function slowestProfiles(all: HashParams[]): HashParams[] {
  const slowest: HashParams[] = [];
  const bcrypt = all.filter((p): p is BcryptParams => p.algorithm === 'bcrypt');
  if (bcrypt.length > 0) slowest.push(bcrypt.reduce((a, b) => (b.cost > a.cost ? b : a)));
  const argon2 = all.filter((p): p is Argon2Params => p.algorithm !== 'bcrypt');
  const beats = (a: Argon2Params, b: Argon2Params) =>
    a.memoryCost >= b.memoryCost && a.timeCost >= b.timeCost && a.parallelism <= b.parallelism;
  argon2.forEach((candidate, i) => {
    // Of two with equal parameters, the first stays.
    const beaten = argon2.some((other, j) => j !== i && beats(other, candidate) && (!beats(candidate, other) || j < i));
    if (!beaten) slowest.push(candidate);
  });
  return slowest;
}

/** Native bcrypt knows `$2y$` (PHP's name for the same algorithm) only as `$2b$`. */
export function forNativeBcrypt(hash: string): string {
  return hash.startsWith('$2y$') ? `$2b$${hash.slice(4)}` : hash;
}
