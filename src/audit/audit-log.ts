/** One audit event as the log stores it: flat strings, as a stream entry holds them. */
export interface AuditFields {
  type: string;
  /** Epoch milliseconds. */
  at: string;
  actorId: string;
  actorName: string;
  subject: string;
  ip: string;
  detail: string;
}

export interface AuditEntry {
  /** `<ms>-<seq>`, increasing: a Redis stream id. */
  id: string;
  fields: AuditFields;
}

/**
 * Where audit events are kept: a Redis stream, or the embedded store in development. Both keep
 * about the newest AUDIT_MAX_ENTRIES and page the same way.
 */
export abstract class AuditLog {
  abstract append(fields: AuditFields): Promise<void>;

  /**
   * Up to `count` entries, newest first, strictly older than `before` when given (also when the
   * entry `before` names has been trimmed).
   */
  abstract newestFirst(count: number, before?: string): Promise<AuditEntry[]>;
}

/** Orders entry ids (`<ms>-<seq>`) as Redis orders stream ids. */
export function compareIds(a: string, b: string): number {
  const [am, as] = a.split('-').map(Number);
  const [bm, bs] = b.split('-').map(Number);
  return am - bm || as - bs;
}
