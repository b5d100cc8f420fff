import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AuditEntry, AuditFields, AuditLog, compareIds } from './audit-log';

/** Every kind of audit event; GET /admin/audit returns and filters by these. */
export const AUDIT_TYPES = [
  'login',
  'login_failure',
  'logout',
  'session_revoked',
  'session_expired',
  'user_created',
  'user_updated',
  'user_deleted',
  'users_imported',
  'password_rehashed',
  'session_adopted',
  'session_adoption_refused',
  'password_changed',
  'reauthenticated',
  'session_suspicious',
  'impersonation_started',
  'impersonation_ended',
] as const;

export type AuditType = (typeof AUDIT_TYPES)[number];

export interface AuditActor {
  userId: string;
  username: string;
}

export interface AuditEvent {
  id: string;
  type: AuditType;
  /** ISO 8601. */
  at: string;
  /** Who did it; null when the service itself did (expiry). */
  actor: AuditActor | null;
  /** What it was done to: a public session id, a user id, or the username a failed login named. */
  subject: string;
  ip: string | null;
  detail: string | null;
}

export type NewAuditEvent = Omit<AuditEvent, 'id' | 'at' | 'ip' | 'detail'> & { ip?: string | null; detail?: string };

export interface AuditFilter {
  type?: AuditType;
  /** Events the user did, or done to the user or to one of their sessions (`<userId>.<hash>`). */
  userId?: string;
}

/** Entries read per call of a filtered listing, at most (a few ms of Redis time). */
export const FILTER_SCAN_MAX = 5_000;
const FILTER_BATCH = 500;

function matcher({ type, userId }: AuditFilter): (f: AuditFields) => boolean {
  return (f) =>
    (type === undefined || f.type === type) &&
    (userId === undefined || f.actorId === userId || f.subject === userId || f.subject.startsWith(`${userId}.`));
}

export interface AuditPage {
  events: AuditEvent[];
  nextCursor: string | null;
}

/**
 * The audit log (AuditLog: a Redis stream capped near AUDIT_MAX_ENTRIES, or the embedded store).
 * Session ids in it are public handles only. A failed audit write is logged, never fails the request
 * that caused it: the action has already happened by then.
 */
@Injectable()
export class AuditService {
  private readonly logger = new Logger(AuditService.name);

  constructor(
    private readonly log: AuditLog,
    private readonly clock: Clock,
  ) {}

  async record(event: NewAuditEvent): Promise<void> {
    const at = this.clock.now();
    const fields: AuditFields = {
      type: event.type,
      at: String(at),
      actorId: event.actor?.userId ?? '',
      actorName: event.actor?.username ?? '',
      subject: event.subject,
      ip: event.ip ?? '',
      detail: event.detail ?? '',
    };
    try {
      await this.log.append(fields);
    } catch (error) {
      this.logger.warn(`Audit write failed (${event.type}): ${(error as Error).message}`);
    }
  }

  /** One event per subject, alike but for it (e.g. every session a login or an admin ended). */
  async recordEach(event: Omit<NewAuditEvent, 'subject'>, subjects: string[]): Promise<void> {
    await Promise.all(subjects.map((subject) => this.record({ ...event, subject })));
  }

  /**
   * Newest first; `cursor` is the id of the last event of the previous page. With a filter, entries
   * are read in batches and at most FILTER_SCAN_MAX per call: when that many were read without
   * filling the page, the page is shorter (maybe empty) and `nextCursor` continues from where the
   * reading stopped, so a rare event in a long log costs several calls, never one long one.
   */
  async list(limit: number, cursor?: string, filter: AuditFilter = {}): Promise<AuditPage> {
    // Nothing is older than 0-0 (and Redis refuses an exclusive range below it).
    if (cursor !== undefined && compareIds(cursor, '0-0') <= 0) return { events: [], nextCursor: null };
    if (filter.type === undefined && filter.userId === undefined) {
      const entries = await this.log.newestFirst(limit + 1, cursor);
      return this.page(entries.map(toEvent), limit);
    }
    const matches = matcher(filter);
    const found: AuditEvent[] = [];
    const batch = Math.max(limit + 1, FILTER_BATCH);
    let read = 0;
    let before = cursor;
    while (read < FILTER_SCAN_MAX) {
      const entries = await this.log.newestFirst(batch, before);
      read += entries.length;
      for (const entry of entries) {
        if (!matches(entry.fields)) continue;
        found.push(toEvent(entry));
        if (found.length > limit) return this.page(found, limit);
      }
      if (entries.length < batch) return { events: found, nextCursor: null };
      before = entries[entries.length - 1].id;
    }
    return { events: found, nextCursor: before ?? null };
  }

  private page(events: AuditEvent[], limit: number): AuditPage {
    const page = events.slice(0, limit);
    return { events: page, nextCursor: events.length > limit ? page[page.length - 1].id : null };
  }
}

function toEvent({ id, fields: f }: AuditEntry): AuditEvent {
  return {
    id,
    type: f.type as AuditType,
    at: new Date(Number(f.at)).toISOString(),
    actor: f.actorId ? { userId: f.actorId, username: f.actorName } : null,
    subject: f.subject,
    ip: f.ip || null,
    detail: f.detail || null,
  };
}
