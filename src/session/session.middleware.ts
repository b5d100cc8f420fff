import { Injectable, Logger } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { Clock } from '../common/clock';
import { isStoreUnavailable, STORE_UNAVAILABLE_BODY } from '../common/store-errors';
import { MetricsService } from '../metrics/metrics.service';
import { ActivityTracker } from './activity-tracker';
import { SessionCookie } from './session-cookie';
import { SessionRecord, SessionStore } from './session-store';

/** The live session a request was made with (see SessionMiddleware). */
export interface RequestSession {
  /** The id inside the cookie: secret, never stored, never logged. */
  id: string;
  /** As read from the store, with `requestCount` raised by the requests this instance has counted and not yet written, and this one. */
  record: SessionRecord;
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
export class SessionMiddleware {
  readonly handler: RequestHandler;

  constructor(
    cookie: SessionCookie,
    store: SessionStore,
    activity: ActivityTracker,
    clock: Clock,
    metrics: MetricsService,
  ) {
    const logger = new Logger('Session');
    const failed = (res: Response, error: unknown): void => {
      if (res.headersSent) return;
      if (isStoreUnavailable(error)) {
        res.status(503).set('Retry-After', '1').json(STORE_UNAVAILABLE_BODY);
        return;
      }
      // Anything else is a bug: log it here, answer as the exception filter would, never with express's page.
      logger.error(error instanceof Error ? (error.stack ?? error.message) : JSON.stringify(error));
      res.status(500).json({ statusCode: 500, message: 'Internal server error', error: 'Internal Server Error' });
    };

    this.handler = (req: Request, res: Response, next: NextFunction): void => {
      const named = cookie.read(req);
      if (named === null) {
        next();
        return;
      }
      const { id, handle } = named;
      metrics
        .timeStore('get', () => store.get(handle, clock.now()))
        .then(
          (record) => {
            if (record !== null) {
              const stored = record.lastActivityAt;
              // Shown to the route as it will be once written: this request and the unwritten ones count.
              record.requestCount += activity.unwritten(handle) + 1;
              req.liveSession = { id, record };
              // Counted when the answer is out, unless the request ended its own session (logout).
              res.once('finish', () => {
                if (req.liveSession?.record === record) activity.seen(handle, stored);
              });
            }
            next();
          },
          (error: unknown) => failed(res, error),
        );
    };
  }
}
