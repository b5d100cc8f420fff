import { AuditConfig } from '../config/config';
import { EmbeddedDb, EmbeddedTable } from '../redis/embedded-db';
import { AuditEntry, AuditFields, AuditLog, compareIds } from './audit-log';

/** Entry id -> fields, in the order appended (a Map keeps insertion order). */
const AUDIT = new EmbeddedTable<string, AuditFields>('audit');

/** The audit log of the embedded store, trimmed exactly to AUDIT_MAX_ENTRIES. */
export class MemoryAuditLog extends AuditLog {
  private readonly entries: Map<string, AuditFields>;
  private sequence = 0;

  constructor(
    db: EmbeddedDb,
    private readonly config: AuditConfig,
  ) {
    super();
    this.entries = db.table(AUDIT);
  }

  append(fields: AuditFields): Promise<void> {
    this.entries.set(`${fields.at}-${this.sequence++}`, { ...fields });
    for (const id of this.entries.keys()) {
      if (this.entries.size <= this.config.maxEntries) break;
      this.entries.delete(id);
    }
    return Promise.resolve();
  }

  newestFirst(count: number, before?: string): Promise<AuditEntry[]> {
    const all = [...this.entries].map(([id, fields]) => ({ id, fields: { ...fields } }));
    const older = before ? all.filter((e) => compareIds(e.id, before) < 0) : all;
    return Promise.resolve(older.slice(-count).reverse());
  }
}
