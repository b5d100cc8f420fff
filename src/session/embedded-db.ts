import type { AuditEvent } from '../audit/audit.service';
import type { User } from '../users/user-store';
import type { SessionRecord } from './session-store';

/**
 * The embedded store's data, shared by its session, user and audit parts the way they share one
 * Redis otherwise (a login checks the user's version in the same step that creates the session).
 */
export class EmbeddedDb {
  readonly users = new Map<string, User>();
  readonly usernames = new Map<string, string>();
  /** userId -> session hash -> record. */
  readonly sessions = new Map<string, Map<string, SessionRecord>>();
  readonly audit: AuditEvent[] = [];
}
