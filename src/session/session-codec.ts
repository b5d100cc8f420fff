import { SessionHandle } from './session-ids';
import { Impersonator, SessionRecord, Suspicion } from './session-store';
import { cleanUserAgent, compactUserAgent, expandUserAgent } from './user-agent';

/**
 * How a session is packed into one field value of its user's sessions hash. One short string per
 * session instead of a hash of ten fields is most of what keeps a session under 370 bytes in Redis.
 *
 * Value: `a␟n␟c␟d␟device␟browser␟os␟ip␟ua␟t␟s␟i`, where ␟ is U+001F (no field can hold it: device ids
 * are validated, user agents are stripped of control characters) and the numbers are base 36:
 * a = lastActivityAt, n = requestCount, c = createdAt, d = absoluteExpiresAt - createdAt, ua = the
 * user agent compacted (user-agent.ts), t = authenticatedAt ('' = never: an adopted session),
 * s = suspicion ('' none, 'f' flagged, 'b' blocked), i = the impersonating admin as `<id>:<username>`
 * ('' for the user's own session). The
 * activity script rewrites only a and n, so they come first. Values written before the user agent
 * was kept have 8 fields and read with ua = ''; values without t read with t = createdAt (they began
 * with a login); values without s read as not suspicious, values without i as the user's own. The user's name and roles are stored once per user, in the
 * field META_FIELD (`username␟role,role`), and read with the session by the same HMGET.
 */
export const SEP = '\x1f';
export const META_FIELD = '~u';

const int36 = (value: number): string => Math.max(0, Math.trunc(value)).toString(36);
const BASE36 = /^[0-9a-z]{1,11}$/;
const num36 = (value: string): number => (BASE36.test(value) ? parseInt(value, 36) : NaN);
const text = (value: string): string => (value.includes(SEP) ? value.split(SEP).join('') : value);

export function packSession(r: SessionRecord): string {
  return [
    int36(r.lastActivityAt),
    int36(r.requestCount),
    int36(r.createdAt),
    int36(r.absoluteExpiresAt - r.createdAt),
    text(r.deviceId ?? ''),
    text(r.browser),
    text(r.os),
    text(r.ip),
    compactUserAgent(cleanUserAgent(r.userAgent)),
    r.authenticatedAt === null ? '' : int36(r.authenticatedAt),
    SUSPICION_CODES[r.suspicion],
    r.impersonatedBy === null ? '' : `${r.impersonatedBy.id}:${text(r.impersonatedBy.username)}`,
  ].join(SEP);
}

/** `<id>:<username>` (ids have no colon); undefined for a value this codec did not write. */
function unpackImpersonator(value: string): Impersonator | null | undefined {
  if (value === '') return null;
  const at = value.indexOf(':');
  return at > 0 && at < value.length - 1 ? { id: value.slice(0, at), username: value.slice(at + 1) } : undefined;
}

const SUSPICION_CODES: Record<Suspicion, string> = { none: '', flagged: 'f', blocked: 'b' };
const SUSPICIONS: Record<string, Suspicion> = { '': 'none', f: 'flagged', b: 'blocked' };

export function packMeta(username: string, roles: string[]): string {
  return `${text(username)}${SEP}${roles.join(',')}`;
}

export interface UserMeta {
  username: string;
  roles: string[];
}

export function unpackMeta(meta: string | null | undefined): UserMeta | null {
  if (!meta) return null;
  const at = meta.indexOf(SEP);
  if (at < 0) return null;
  const roles = meta.slice(at + 1);
  return { username: meta.slice(0, at), roles: roles ? roles.split(',') : [] };
}

/** The session, or null when the value is not one this codec wrote (e.g. data of another layout). */
export function unpackSession(handle: SessionHandle, value: string, meta: UserMeta): SessionRecord | null {
  const f = value.split(SEP);
  if (f.length < 8 || f.length > 12) return null;
  const lastActivityAt = num36(f[0]);
  const requestCount = num36(f[1]);
  const createdAt = num36(f[2]);
  const lifetime = num36(f[3]);
  if (Number.isNaN(lastActivityAt + requestCount + createdAt + lifetime)) return null;
  const authenticatedAt = f.length < 10 ? createdAt : f[9] === '' ? null : num36(f[9]);
  if (Number.isNaN(authenticatedAt)) return null;
  const suspicion = f.length < 11 ? 'none' : SUSPICIONS[f[10]];
  if (suspicion === undefined) return null;
  const impersonatedBy = f.length < 12 ? null : unpackImpersonator(f[11]);
  if (impersonatedBy === undefined) return null;
  return {
    handle,
    username: meta.username,
    roles: [...meta.roles],
    deviceId: f[4] || null,
    userAgent: f.length >= 9 ? expandUserAgent(f[8]) : '',
    browser: f[5],
    os: f[6],
    ip: f[7],
    createdAt,
    lastActivityAt,
    absoluteExpiresAt: createdAt + lifetime,
    requestCount,
    authenticatedAt,
    suspicion,
    impersonatedBy,
  };
}
