import { SessionData, Store } from 'express-session';
import { Clock } from '../common/clock';
import { MetricsService } from '../metrics/metrics.service';
import { ActivityTracker } from './activity-tracker';
import { handleFromSessionId } from './session-keys';
import { SessionRecord, SessionStore } from './session-store';

declare module 'express-session' {
  interface SessionData {
    record: SessionRecord;
  }
}

type Callback = (error?: unknown) => void;

export interface CookieShape {
  secure: boolean;
  sameSite: 'lax' | 'strict' | 'none';
  absoluteTimeoutMs: number;
}

/**
 * express-session's view of our SessionStore. A session is written once, at login, by
 * SessionService; express-session's own saves are no-ops, so a request still in flight when its
 * session is ended cannot write it back. Activity goes through the tracker instead of a write.
 */
export class ExpressSessionStore extends Store {
  constructor(
    private readonly sessions: SessionStore,
    private readonly activity: ActivityTracker,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    private readonly cookie: CookieShape,
  ) {
    super();
  }

  override get(sid: string, callback: (error: unknown, session?: SessionData | null) => void): void {
    const handle = handleFromSessionId(sid);
    if (!handle) {
      callback(null, null);
      return;
    }
    this.metrics
      .timeStore('get', () => this.sessions.get(handle, this.clock.now()))
      .then(
        (record) => callback(null, record ? this.toSessionData(record) : null),
        (error: unknown) => callback(error),
      );
  }

  override set(_sid: string, _session: SessionData, callback?: Callback): void {
    callback?.();
  }

  override touch(sid: string, session: SessionData, callback?: Callback): void {
    const handle = handleFromSessionId(sid);
    if (handle && session.record) this.activity.seen(handle, session.record.lastActivityAt);
    callback?.();
  }

  override destroy(sid: string, callback?: Callback): void {
    const handle = handleFromSessionId(sid);
    if (!handle) {
      callback?.();
      return;
    }
    this.activity.forget(handle);
    this.sessions.destroy(handle).then(
      () => callback?.(),
      (error: unknown) => callback?.(error),
    );
  }

  private toSessionData(record: SessionRecord): SessionData {
    return {
      cookie: {
        originalMaxAge: this.cookie.absoluteTimeoutMs,
        expires: new Date(record.absoluteExpiresAt),
        secure: this.cookie.secure,
        httpOnly: true,
        path: '/',
        sameSite: this.cookie.sameSite,
      },
      record,
    };
  }
}
