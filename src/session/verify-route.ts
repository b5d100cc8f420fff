import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Injectable } from '@nestjs/common';
import { Clock } from '../common/clock';
import type { JsonLogger } from '../common/logger';
import { requestIdOf } from '../common/request-edge';
import { MetricsService } from '../metrics/metrics.service';
import { isStoreUnavailable, STORE_UNAVAILABLE_BODY } from '../redis/store-errors';
import { ROLE_PATTERN } from '../users/users.dto';
import { ActivityTracker } from './activity-tracker';
import { SessionCookie } from './session-cookie';
import { SessionService } from './session.service';
import { SessionStore } from './session-store';
import { BLOCKED_BODY } from './theft-guard';

export const VERIFY_PATH = '/auth/verify';
const VERIFY_WITH_QUERY = `${VERIFY_PATH}?`;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

type Query = { role: string | null } | { error: string };

/**
 * `?role=R` and nothing else: a gateway sends a fixed URI, so anything more is a configuration
 * mistake, answered 400 rather than ignored (an ignored `?roles=admin` would let everyone through).
 */
function parseQuery(url: string): Query {
  const at = url.indexOf('?');
  if (at < 0 || at === url.length - 1) return { role: null };
  let role: string | null = null;
  for (const [name, value] of new URLSearchParams(url.slice(at + 1))) {
    if (name !== 'role') return { error: `Unknown query parameter "${name.slice(0, 32)}": only role is accepted` };
    if (role !== null) return { error: 'role may be given once' };
    if (!ROLE_PATTERN.test(value)) return { error: 'role must be lower-case letters, digits, - or _ (at most 32)' };
    role = value;
  }
  return { role };
}

/**
 * Whether the request the gateway is deciding on changes something: its method as the gateway
 * forwards it (X-Forwarded-Method or X-Original-Method), else this request's own. Either header
 * naming an unsafe method is enough: a gateway that sets one of them and passes the client's other
 * through must not let a client-sent `X-Forwarded-Method: GET` hide a POST.
 */
function changesSomething(req: IncomingMessage): boolean {
  const named = [req.headers['x-forwarded-method'], req.headers['x-original-method']].filter(
    (value): value is string => typeof value === 'string',
  );
  if (named.length === 0) return !SAFE_METHODS.has(req.method ?? '');
  return named.some((method) => !SAFE_METHODS.has(method.trim().toUpperCase()));
}

/**
 * GET /auth/verify, for gateway sub-requests (nginx `auth_request`, Traefik `forwardAuth`, Caddy
 * `forward_auth`): who the request's session cookie belongs to, in response headers. Gateways call
 * it on every request they pass, so it is answered on the HTTP server's request path ahead of
 * express and Nest (see `install`), with the same cookie check, the same one store read and the
 * same activity count as every other request, and nothing else.
 */
@Injectable()
export class VerifyRoute {
  constructor(
    private readonly cookie: SessionCookie,
    private readonly store: SessionStore,
    private readonly activity: ActivityTracker,
    private readonly sessions: SessionService,
    private readonly clock: Clock,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * Puts the route in front of the server's own request listeners (the express app): a request
   * for /auth/verify is answered here, anything else goes to them untouched. Wrapping the server's
   * listener rather than mounting an express middleware skips express's request setup and router,
   * which cost more than the rest of this route. `apiHeaders` are the API's security headers.
   */
  install(server: Server, logger: JsonLogger, apiHeaders: [string, string][]): void {
    const listeners = server.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
    server.removeAllListeners('request');
    const fixed = [...apiHeaders.flat(), 'Cache-Control', 'no-store'];
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      const url = req.url ?? '';
      if (url === VERIFY_PATH || url.startsWith(VERIFY_WITH_QUERY)) {
        this.answer(req, res, logger, fixed);
        return;
      }
      for (const listener of listeners) listener.call(server, req, res);
    });
  }

  private answer(req: IncomingMessage, res: ServerResponse, logger: JsonLogger, fixed: string[]): void {
    const started = performance.now();
    const requestId = requestIdOf(req.headers['x-request-id']);
    const send = (status: number, extra: string[], body?: object): void => {
      const headers = [...fixed, 'X-Request-Id', requestId, ...extra];
      const text = body === undefined ? '' : JSON.stringify(body);
      if (body !== undefined) headers.push('Content-Type', 'application/json; charset=utf-8');
      headers.push('Content-Length', String(Buffer.byteLength(text)));
      res.writeHead(status, headers);
      res.end(text);
      const ms = performance.now() - started;
      this.metrics.observeRequest(req.method ?? '', VERIFY_PATH, status, ms / 1000);
      // A gateway asks once per request it passes: at info, granted answers would double the log
      // volume and say nothing the upstream's own log does not. Refusals and failures stay at info.
      const level = status < 300 ? 'debug' : 'info';
      logger.access(requestId, req.method ?? '', VERIFY_PATH, status, ms, req.socket.remoteAddress, level);
    };

    const query = parseQuery(req.url ?? '');
    if ('error' in query) {
      send(400, [], { statusCode: 400, message: query.error, error: 'Bad Request' });
      return;
    }
    const named = this.cookie.read(req);
    if (named === null) {
      send(401, []);
      return;
    }
    this.metrics
      .timeStore('get', () => this.store.get(named.handle, this.clock.now()))
      .then((record) => {
        if (record === null) {
          send(401, []);
          return;
        }
        if (record.suspicion === 'blocked') {
          // Blocked by a theft signal (SUSPICIOUS_SESSION_ACTION=reauthenticate) until the password is
          // proved to the service itself: the upstream apps behind the gateway are closed to it too.
          send(403, [], BLOCKED_BODY);
        } else if (
          changesSomething(req) &&
          !this.sessions.verifyCsrf(named.secretId, req.headers['x-csrf-token'] as string | undefined)
        ) {
          send(403, [], { statusCode: 403, message: 'Missing or invalid CSRF token', error: 'Forbidden' });
        } else if (query.role !== null && !record.roles.includes(query.role)) {
          send(403, [], { statusCode: 403, message: `Role ${query.role} required`, error: 'Forbidden' });
        } else {
          send(200, [
            'X-User-Id',
            named.handle.userId,
            'X-User-Name',
            record.username,
            'X-User-Roles',
            record.roles.join(','),
            'X-Session-Id',
            named.handle.publicId,
          ]);
        }
        // Counted as any request of the session is: in memory, written at most once per interval.
        this.activity.seen(named.handle, record.lastActivityAt);
      })
      .catch((error: unknown) => {
        if (!res.headersSent && isStoreUnavailable(error)) {
          send(503, ['Retry-After', '1'], STORE_UNAVAILABLE_BODY);
          return;
        }
        logger.event('error', 'Verify', { msg: 'GET /auth/verify failed', err: error }, requestId);
        if (!res.headersSent) {
          send(500, [], { statusCode: 500, message: 'Internal server error', error: 'Internal Server Error' });
        }
      });
  }
}
