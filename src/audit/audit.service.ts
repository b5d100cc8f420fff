import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { AuditConfig } from '../config/config';
import { EmbeddedDb } from '../session/embedded-db';
import { InjectRedis, RedisClient } from '../session/redis.provider';
import { KeyLayout } from '../session/session-keys';

export type AuditType =
  | 'login'
  | 'login_failure'
  | 'logout'
  | 'session_revoked'
  | 'session_expired'
  | 'user_created'
  | 'user_updated'
  | 'user_deleted';

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

export interface AuditPage {
  events: AuditEvent[];
  nextCursor: string | null;
}

/** Orders stream ids (`<ms>-<seq>`) as Redis does. */
function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
}

/**
 * The audit log: a Redis stream capped near AUDIT_MAX_ENTRIES (the embedded store keeps an array).
 * Session ids in it are public handles only. A failed audit write is logged, never fails the request
 * that caused it: the action has already happened by then.
 */
@Injectable()
export class AuditService {
  private readonly logger = new Logger(AuditService.name);
  private sequence = 0;

  constructor(
    @InjectRedis() private readonly redis: RedisClient | null,
    private readonly keys: KeyLayout,
    private readonly db: EmbeddedDb,
    private readonly config: AuditConfig,
    private readonly clock: Clock,
  ) {}

  async record(event: NewAuditEvent): Promise<void> {
    const at = this.clock.now();
    const fields = {
      type: event.type,
      at: String(at),
      actorId: event.actor?.userId ?? '',
      actorName: event.actor?.username ?? '',
      subject: event.subject,
      ip: event.ip ?? '',
      detail: event.detail ?? '',
    };
    try {
      if (this.redis) {
        await this.redis.xAdd(this.keys.audit(), '*', fields, {
          TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: this.config.maxEntries },
        });
      } else {
        this.db.audit.push(this.fromFields(`${at}-${this.sequence++}`, fields));
        if (this.db.audit.length > this.config.maxEntries)
          this.db.audit.splice(0, this.db.audit.length - this.config.maxEntries);
      }
    } catch (error) {
      this.logger.warn(`Audit write failed (${event.type}): ${(error as Error).message}`);
    }
  }

  /** Newest first; `cursor` is the id of the last event of the previous page. */
  async list(limit: number, cursor?: string): Promise<AuditPage> {
    let entries: { id: string; fields: Record<string, string> }[];
    // Nothing is older than 0-0 (and Redis refuses an exclusive range below it).
    if (cursor !== undefined && compareIds(cursor, '0-0') <= 0) return { events: [], nextCursor: null };
    if (this.redis) {
      const raw = await this.redis.xRevRange(this.keys.audit(), cursor ? `(${cursor}` : '+', '-', { COUNT: limit + 1 });
      entries = (raw ?? []).map((e) => ({ id: e.id, fields: e.message }));
    } else {
      // Like the stream: strictly older than the cursor, also when the cursor's event was trimmed.
      const older = cursor ? this.db.audit.filter((e) => compareIds(e.id, cursor) < 0) : this.db.audit;
      return this.page(older.slice(-(limit + 1)).reverse(), limit);
    }
    return this.page(
      entries.map((e) => this.fromFields(e.id, e.fields)),
      limit,
    );
  }

  private page(events: AuditEvent[], limit: number): AuditPage {
    const page = events.slice(0, limit);
    return { events: page, nextCursor: events.length > limit ? page[page.length - 1].id : null };
  }

  private fromFields(id: string, f: Record<string, string>): AuditEvent {
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
}
