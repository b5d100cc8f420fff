import { Injectable, Logger, NestMiddleware } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { answerMiddlewareFailure } from '../session/session.middleware';
import { LegacyAdoption } from './legacy-adoption';

/**
 * Runs right after SessionMiddleware, and is mounted only when LEGACY_SESSION_COOKIE is set. A
 * request that already has a live session of ours passes with one property test: adoption costs
 * it nothing, not even a cookie parse.
 */
@Injectable()
export class LegacySessionMiddleware implements NestMiddleware<Request, Response> {
  private readonly logger = new Logger('LegacyAdoption');

  constructor(private readonly adoption: LegacyAdoption) {}

  use(req: Request, res: Response, next: NextFunction): void {
    if (req.liveSession !== undefined || req.headers.cookie === undefined) {
      next();
      return;
    }
    this.adoption.adopt(req, res).then(
      (session) => {
        if (session !== null) req.liveSession = session;
        next();
      },
      (error: unknown) => answerMiddlewareFailure(res, error, this.logger),
    );
  }
}
