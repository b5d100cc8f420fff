import { createHash, randomBytes } from 'node:crypto';

/**
 * A session as the store sees it. The cookie carries `<userId>.<random>`; Redis only ever sees
 * `hash` (a SHA-256 of the whole cookie id), so a dump of Redis opens no session.
 */
export interface SessionHandle {
  userId: string;
  hash: string;
  /**
   * The public session id, `<userId>.<hash>`: what the API shows and audit entries name. Knowing it
   * does not let anyone forge the cookie, whose id (the secret id) is never stored or logged.
   */
  publicId: string;
}

// The part before the dot has the shape of a user id (users/user-ids.ts).
const SID = /^([A-Za-z0-9_-]{12})\.[A-Za-z0-9_-]{43}$/;
const PUBLIC_ID = /^([A-Za-z0-9_-]{12})\.([A-Za-z0-9_-]{22})$/;

export const PUBLIC_SESSION_ID_PATTERN = PUBLIC_ID;

/** A new secret id (the cookie's). The user id in front puts all of a user's keys in one cluster slot. */
export function newSessionId(userId: string): string {
  return `${userId}.${randomBytes(32).toString('base64url')}`;
}

export function handleFromSessionId(secretId: string): SessionHandle | null {
  const match = SID.exec(secretId);
  if (!match) return null;
  const userId = match[1];
  const hash = createHash('sha256').update(secretId).digest('base64url').slice(0, 22);
  return { userId, hash, publicId: `${userId}.${hash}` };
}

export function handleFromPublicId(publicId: string): SessionHandle | null {
  const match = PUBLIC_ID.exec(publicId);
  return match ? { userId: match[1], hash: match[2], publicId } : null;
}
