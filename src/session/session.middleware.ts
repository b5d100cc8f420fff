import { Injectable, Logger, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { Clock } from '../common/clock';
import { isStoreUnavailable, STORE_UNAVAILABLE_BODY } from '../redis/store-errors';
import { MetricsService } from '../metrics/metrics.service';
import { ActivityTracker } from './activity-tracker';
import { CookieSession, SessionCookie } from './session-cookie';
import { SessionRecord, SessionStore } from './session-store';
import { BLOCKED_BODY, TheftGuard } from './theft-guard';

/** The live session a request was made with (see SessionMiddleware). */
export interface RequestSession {
  /** The id inside the cookie: secret, never stored, never logged (the record's handle has the public one). */
  secretId: string;
  /** As read from the store, with `requestCount` raised by the requests this instance has counted and not yet written, and this one. */
  record: SessionRecord;
  /** Set by SessionService when this request ended the session (logout, a login over it, revoking it). */
  ended: boolean;
}

declare module 'express-serve-static-core' {
  interface Request {
    liveSession?: RequestSession;
  }
}

/**
 * Loads the request's session before any route runs: the cookie's signature is checked against
 * every secret, then one store read. A request without a live session goes on with no
 * `liveSession` (the guards answer 401 where one is needed); nothing is written for it, no cookie
 * is set. The request is counted by the activity tracker when it ends; the tracker writes at
 * most once per interval.
 */
@Injectable()
export class SessionMiddleware implements NestMiddleware<Request, Response> {
  private readonly logger = new Logger('Session');

  constructor(
    private readonly cookie: SessionCookie,
    private readonly store: SessionStore,
    private readonly activity: ActivityTracker,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
    private readonly theft: TheftGuard,
  ) {}

  use(req: Request, res: Response, next: NextFunction): void {
    const named = this.cookie.read(req);
    if (named === null) {
      next();
      return;
    }
    this.metrics
      .timeStore('get', () => this.store.get(named.handle, this.clock.now()))
      .then(async (record) => {
        if (record === null) return next();
        // The common case (the login's own address, or a session seen before) decides synchronously.
        const verdict = await this.theft.inspect(named.handle, record, req);
        if (verdict === 'revoked') return next();
        if (verdict === 'blocked' && !this.theft.isOpenWhileBlocked(req)) {
          res.status(403).json(BLOCKED_BODY);
          return;
        }
        req.liveSession = this.attach(named, record, res);
        next();
      })
      .catch((error: unknown) => answerMiddlewareFailure(res, error, this.logger));
  }

  /**
   * The session as routes see it: its count already includes this request and the unwritten
   * ones. The request is counted when the answer is out, unless the request ended the session.
   */
  private attach({ secretId, handle }: CookieSession, record: SessionRecord, res: Response): RequestSession {
    const stored = record.lastActivityAt;
    record.requestCount += this.activity.unwritten(handle) + 1;
    const session: RequestSession = { secretId, record, ended: false };
    res.once('finish', () => {
      if (!session.ended) this.activity.seen(handle, stored);
    });
    return session;
  }
}

/**
 * How a middleware that reads the store answers when it fails: 503 while the store is away, and
 * anything else is a bug, logged here and answered as the exception filter would (a middleware's
 * error never reaches it), never with express's page.
 */
export function answerMiddlewareFailure(res: Response, error: unknown, logger: Logger): void {
  if (res.headersSent) return;
  if (isStoreUnavailable(error)) {
    res.status(503).set('Retry-After', '1').json(STORE_UNAVAILABLE_BODY);
    return;
  }
  logger.error(error);
  res.status(500).json({ statusCode: 500, message: 'Internal server error', error: 'Internal Server Error' });
}
