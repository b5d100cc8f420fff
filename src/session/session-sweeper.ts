import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import { Clock } from '../common/clock';
import { SessionHandle } from './session-ids';
import { SessionStore } from './session-store';

const SWEEP_EVERY_MS = 10_000;

/**
 * Keeps the activity indexes clean without keyspace notifications (lost on restart, off on managed
 * Redis, per node on a cluster): every few seconds it drops entries of expired sessions and
 * records their expiry once. Each call does bounded work, so it never blocks Redis.
 */
@Injectable()
export class SessionSweeper implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(SessionSweeper.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<SessionHandle[]>;

  constructor(
    private readonly store: SessionStore,
    private readonly audit: AuditService,
    private readonly clock: Clock,
  ) {}

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => {
      this.sweep().catch((error: Error) => this.logger.warn(`Sweep failed: ${error.message}`));
    }, SWEEP_EVERY_MS).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** One sweep (skipped when one is still running); returns the sessions it found expired. */
  async sweep(): Promise<SessionHandle[]> {
    if (this.running) return [];
    this.running = this.store.sweep(this.clock.now());
    try {
      const expired = await this.running;
      await Promise.all(
        expired.map((h) => this.audit.record({ type: 'session_expired', actor: null, subject: h.publicId })),
      );
      return expired;
    } finally {
      this.running = undefined;
    }
  }
}
