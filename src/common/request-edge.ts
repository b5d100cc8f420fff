import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { MetricsService } from '../metrics/metrics.service';
import { isConsoleUrl } from '../console/console-assets';
import { JsonLogger } from './logger';
import { withRequestId } from './request-context';

const INCOMING_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The caller's X-Request-Id when it is sane (1-64 of A-Z a-z 0-9 . _ -), else a new UUID. */
export function requestIdOf(incoming: string | string[] | undefined): string {
  return typeof incoming === 'string' && INCOMING_ID.test(incoming) ? incoming : randomUUID();
}

/**
 * The headers a middleware such as helmet sets, read once: they do not depend on the request, so
 * each response gets them from a list instead of running the middleware again.
 */
export function staticHeaders(middleware: RequestHandler): [string, string][] {
  const headers: [string, string][] = [];
  const res = {
    setHeader: (name: string, value: string | number | readonly string[]) => headers.push([name, String(value)]),
    removeHeader: () => undefined,
  };
  let called = false;
  middleware({ headers: {} } as Request, res as unknown as Response, () => (called = true));
  if (!called) throw new Error('Header middleware did not run synchronously');
  return headers;
}

export interface EdgeOptions {
  logger: JsonLogger;
  metrics: MetricsService;
  /** Security headers of every API response. */
  apiHeaders: [string, string][];
  /** Security headers of Swagger UI (pages and their assets under /docs). */
  pageHeaders: [string, string][];
  /** Security headers of the admin console (its page and assets under /console). */
  consoleHeaders: [string, string][];
}

/**
 * The first middleware of every request, in one step:
 * - a request id (the caller's X-Request-Id when it is sane, else a new one), echoed in the
 *   response and visible to every log line written while serving the request;
 * - the security headers (a short set for the JSON API, helmet's whole set for Swagger UI and the
 *   admin console), and Cache-Control: no-store on everything but Swagger UI's assets (answers
 *   carry sessions, tokens and user data);
 * - when the response is finished: one access-log line (no headers, no query, no body) and the
 *   duration metric, labelled by the matched route pattern (never the raw path: ids would explode the label set).
 */
export function requestEdge({ logger, metrics, apiHeaders, pageHeaders, consoleHeaders }: EdgeOptions): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = performance.now();
    const requestId = requestIdOf(req.headers['x-request-id']);
    res.setHeader('X-Request-Id', requestId);
    const docs = req.url.startsWith('/docs');
    const headers = docs ? pageHeaders : isConsoleUrl(req.url) ? consoleHeaders : apiHeaders;
    for (let i = 0; i < headers.length; i++) res.setHeader(headers[i][0], headers[i][1]);
    // The console's hashed assets replace this with a year of caching (src/console/console-assets.ts).
    if (!docs) res.setHeader('Cache-Control', 'no-store');
    res.once('finish', () => {
      const ms = performance.now() - started;
      const route = (req.route as { path?: string } | undefined)?.path ?? 'unmatched';
      metrics.observeRequest(req.method, route, res.statusCode, ms / 1000);
      logger.access(requestId, req.method, req.path, res.statusCode, ms, req.ip);
    });
    withRequestId(requestId, next);
  };
}
