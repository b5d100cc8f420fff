import { Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { SessionConfig } from '../config/config';
import { Clock } from '../common/clock';
import { SessionHandle } from './session-ids';
import { SessionStore } from './session-store';

interface Pending {
  handle: SessionHandle;
  /** Requests seen here and not yet written. */
  count: number;
  lastAt: number;
  /** When activity of this session was last written (by anyone, as far as we know). */
  writtenAt: number;
}

/**
 * Counts requests per session in this process and writes them at most once per
 * SESSION_TOUCH_INTERVAL per session, as an increment, so that a steady authenticated request
 * costs only the session read and the counts of several instances add up.
 */
@Injectable()
export class ActivityTracker implements OnApplicationShutdown {
  private readonly logger = new Logger(ActivityTracker.name);
  private readonly pending = new Map<string, Pending>();
  private readonly intervalMs: number;
  private readonly timer: NodeJS.Timeout;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly store: SessionStore,
    private readonly clock: Clock,
    config: SessionConfig,
  ) {
    this.intervalMs = config.touchIntervalMs;
    this.timer = setInterval(() => this.flushDue(), Math.min(this.intervalMs, 60_000)).unref();
  }

  /** A request of this session was served; `lastWrittenAt` is the session's stored lastActivityAt. */
  seen(handle: SessionHandle, lastWrittenAt: number): void {
    const now = this.clock.now();
    let entry = this.pending.get(handle.publicId);
    if (!entry) {
      entry = { handle, count: 0, lastAt: now, writtenAt: lastWrittenAt };
      this.pending.set(handle.publicId, entry);
    }
    entry.count += 1;
    entry.lastAt = now;
    if (now - entry.writtenAt >= this.intervalMs) this.write(entry);
  }

  /** Requests counted here but not yet in the store. */
  unwritten(handle: SessionHandle): number {
    return this.pending.get(handle.publicId)?.count ?? 0;
  }

  forget(handle: SessionHandle): void {
    this.pending.delete(handle.publicId);
  }

  /**
   * Here, not in beforeApplicationShutdown: requests still in flight end while Nest closes the
   * HTTP server, after that hook, and their counts must be written too. The client is still open:
   * SessionModule imports RedisModule, so Nest calls this hook before RedisModule closes it.
   */
  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.flushAll();
  }

  async flushAll(): Promise<void> {
    for (const entry of this.pending.values()) if (entry.count > 0) this.write(entry);
    await Promise.all(this.inFlight);
  }

  private flushDue(): void {
    const now = this.clock.now();
    for (const [id, entry] of this.pending) {
      if (entry.count > 0 && now - entry.writtenAt >= this.intervalMs) this.write(entry);
      else if (entry.count === 0 && now - entry.lastAt >= this.intervalMs) this.pending.delete(id);
    }
  }

  private write(entry: Pending): void {
    const { count, lastAt } = entry;
    entry.count = 0;
    entry.writtenAt = lastAt;
    const done = this.store
      .recordActivity(entry.handle, lastAt, count)
      .then((alive) => {
        if (!alive) this.pending.delete(entry.handle.publicId);
      })
      .catch((error: Error) => {
        // Keep the count for the next attempt; the store may be back by then.
        entry.count += count;
        this.logger.warn(`Activity write failed, will retry: ${error.message}`);
      })
      .finally(() => this.inFlight.delete(done));
    this.inFlight.add(done);
  }
}
