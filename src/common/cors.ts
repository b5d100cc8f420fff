import type { CorsOptions } from '@nestjs/common/interfaces/external/cors-options.interface';
import type { NextFunction, Request, RequestHandler, Response } from 'express';

/** Methods that change something: a browser sends Origin with them, same-origin or not. */
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** How long a browser may reuse a preflight's answer (Chromium caps it at 2 hours). */
export const PREFLIGHT_MAX_AGE = 7200;

/**
 * CORS for frontends served from other origins (CORS_ORIGINS): exact origins only, with
 * credentials (the session cookie), the headers the API reads and the ones a client needs to see.
 * An origin off the list gets no CORS header at all: the origin function answers false, and the
 * cors package then passes the request on untouched.
 */
export function corsOptions(origins: readonly string[]): CorsOptions {
  const allowed = new Set(origins);
  return {
    origin: (origin: string | undefined, done: (error: Error | null, allow?: boolean) => void) =>
      done(null, origin !== undefined && allowed.has(origin)),
    credentials: true,
    methods: ['GET', 'HEAD', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['Content-Type', 'X-CSRF-Token', 'X-Request-Id'],
    exposedHeaders: ['X-Request-Id', 'Retry-After'],
    maxAge: PREFLIGHT_MAX_AGE,
  };
}

/**
 * With CORS on, a state-changing request from a browser page of an origin that is neither on the
 * list nor this service's own is refused before anything runs (403). CORS alone only stops the
 * page from reading the answer; this makes sure such a request also changes nothing. Requests
 * without Origin (curl, server-to-server, most same-origin GETs) are not concerned.
 */
export function foreignOriginGuard(origins: readonly string[]): RequestHandler {
  const allowed = new Set(origins);
  return (req: Request, res: Response, next: NextFunction): void => {
    const origin = req.headers.origin;
    if (origin === undefined || !UNSAFE.has(req.method) || allowed.has(origin) || isOwnOrigin(req, origin)) {
      next();
      return;
    }
    res.status(403).json({ statusCode: 403, message: 'Origin not allowed', error: 'Forbidden' });
  };
}

/**
 * Whether Origin names this service itself as the browser reached it: scheme and host with port,
 * which express reads from X-Forwarded-Proto and X-Forwarded-Host only behind a trusted proxy.
 */
function isOwnOrigin(req: Request, origin: string): boolean {
  return origin === `${req.protocol}://${req.host}`;
}
