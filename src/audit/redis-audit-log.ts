import { AuditConfig } from '../config/config';
import { KeyLayout } from '../redis/key-layout';
import { RedisClient } from '../redis/redis-client';
import { AuditEntry, AuditFields, AuditLog } from './audit-log';

/** The audit log as one Redis stream, trimmed approximately (`~`) so that trimming stays cheap. */
export class RedisAuditLog extends AuditLog {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: KeyLayout,
    private readonly config: AuditConfig,
  ) {
    super();
  }

  async append(fields: AuditFields): Promise<void> {
    await this.redis.xAdd(
      this.keys.audit(),
      '*',
      { ...fields },
      {
        TRIM: { strategy: 'MAXLEN', strategyModifier: '~', threshold: this.config.maxEntries },
      },
    );
  }

  async newestFirst(count: number, before?: string): Promise<AuditEntry[]> {
    const raw = await this.redis.xRevRange(this.keys.audit(), before ? `(${before}` : '+', '-', { COUNT: count });
    return (raw ?? []).map((e) => ({ id: e.id, fields: e.message as unknown as AuditFields }));
  }
}
