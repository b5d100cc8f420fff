import { Injectable } from '@nestjs/common';
import type { Request } from 'express';
import { AuditService } from '../audit/audit.service';
import { SessionConfig } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';
import { SessionHandle } from './session-ids';
import { ActivityTracker } from './activity-tracker';
import { SessionRecord, SessionStore } from './session-store';
import { theftSignal } from './theft-signals';

/** What the request may do with its session after the theft check. */
export type TheftVerdict = 'ok' | 'blocked' | 'revoked';

/** While a session is blocked, only these answer: proving the password, getting the token for it, signing out. */
const OPEN_WHILE_BLOCKED = new Set([
  'POST /auth/reauthenticate',
  'GET /auth/csrf',
  'POST /auth/logout',
  'POST /auth/impersonation/end',
]);

export const BLOCKED_BODY = {
  statusCode: 403,
  message:
    'This session was used from another network and browser than at its login: confirm your password ' +
    '(POST /auth/reauthenticate) to go on',
  error: 'Forbidden',
  code: 'reauthentication_required',
};

/**
 * Applies SUSPICIOUS_SESSION_ACTION to a session that shows a theft signal (theft-signals.ts), once
 * per session: the record the request already read says whether it was seen before, so an
 * ordinary request costs nothing more; the one request that marks it (a store write that only one
 * caller wins) records `session_suspicious`, counts it, and blocks or ends the session.
 */
@Injectable()
export class TheftGuard {
  constructor(
    private readonly config: SessionConfig,
    // The store itself, not SessionService: that one depends on the middleware this serves.
    private readonly store: SessionStore,
    private readonly activity: ActivityTracker,
    private readonly audit: AuditService,
    private readonly metrics: MetricsService,
  ) {}

  isOpenWhileBlocked(req: Request): boolean {
    return OPEN_WHILE_BLOCKED.has(`${req.method} ${req.path}`);
  }

  async inspect(handle: SessionHandle, record: SessionRecord, req: Request): Promise<TheftVerdict> {
    if (record.suspicion === 'blocked') return 'blocked';
    if (record.suspicion === 'flagged') return 'ok';
    const ip = req.ip ?? '';
    const signal = theftSignal(record, ip, req.get('user-agent'));
    if (!signal) return 'ok';
    const action = this.config.suspiciousAction;
    const verdict: TheftVerdict = action === 'reauthenticate' ? 'blocked' : action === 'revoke' ? 'revoked' : 'ok';
    // Another request of the same session may be marking it at this moment: only one records it.
    if (!(await this.store.flagSuspicious(handle, action === 'reauthenticate'))) return verdict;
    record.suspicion = action === 'reauthenticate' ? 'blocked' : 'flagged';
    this.metrics.suspicious.inc({ action });
    const actor = { userId: handle.userId, username: record.username };
    await this.audit.record({
      type: 'session_suspicious',
      actor,
      subject: handle.publicId,
      ip,
      detail:
        `network ${signal.network.login} -> ${signal.network.now}, browser ${signal.browser.login} -> ` +
        `${signal.browser.now}; ${action}`,
    });
    if (action === 'revoke' && (await this.end(handle))) {
      await this.audit.record({
        type: 'session_revoked',
        actor: null,
        subject: handle.publicId,
        ip,
        detail: 'used from another network and browser (SUSPICIOUS_SESSION_ACTION=revoke)',
      });
    }
    return verdict;
  }

  /** As SessionService.revoke: nothing counted for it is written any more. */
  private end(handle: SessionHandle): Promise<boolean> {
    this.activity.forget(handle);
    return this.store.destroy(handle);
  }
}
