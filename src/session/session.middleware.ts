import { randomUUID } from 'node:crypto';
import { Injectable, Logger } from '@nestjs/common';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import session from 'express-session';
import { Clock } from '../common/clock';
import { isStoreUnavailable, STORE_UNAVAILABLE_BODY } from '../common/store-errors';
import { SessionConfig } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';
import { ActivityTracker } from './activity-tracker';
import { ExpressSessionStore } from './express-session-store';
import { newSessionId } from './session-keys';
import { SessionService } from './session.service';
import { SessionStore } from './session-store';

/** express-session wired to our store, for configureApp to mount on the express app. */
@Injectable()
export class SessionMiddleware {
  readonly handler: RequestHandler;

  constructor(
    config: SessionConfig,
    store: SessionStore,
    activity: ActivityTracker,
    clock: Clock,
    metrics: MetricsService,
  ) {
    const expressStore = new ExpressSessionStore(store, activity, clock, metrics, {
      secure: config.cookieSecure,
      sameSite: config.cookieSameSite,
      absoluteTimeoutMs: config.absoluteTimeoutMs,
    });
    const middleware = session({
      name: config.cookieName,
      secret: config.secrets,
      store: expressStore,
      resave: false,
      saveUninitialized: false,
      rolling: false,
      unset: 'keep',
      // Anonymous requests get a throwaway id that is never stored (saveUninitialized: false).
      genid: (req) => {
        const userId = SessionService.pendingUser(req);
        return userId ? newSessionId(userId) : randomUUID();
      },
      cookie: {
        httpOnly: true,
        secure: config.cookieSecure,
        sameSite: config.cookieSameSite,
        path: '/',
        maxAge: config.absoluteTimeoutMs,
      },
    });
    const logger = new Logger('Session');
    // express-session hands store errors to next(err); answer them here as JSON, never as a page.
    this.handler = (req: Request, res: Response, next: NextFunction) =>
      middleware(req, res, (error?: unknown) => {
        if (error === undefined) return next();
        if (res.headersSent) return;
        if (isStoreUnavailable(error)) {
          res.status(503).set('Retry-After', '1').json(STORE_UNAVAILABLE_BODY);
          return;
        }
        // Anything else is a bug: log it here, answer as the exception filter would, never with express's page.
        logger.error(error instanceof Error ? (error.stack ?? error.message) : JSON.stringify(error));
        res.status(500).json({ statusCode: 500, message: 'Internal server error', error: 'Internal Server Error' });
      });
  }
}
