import createClient, { type Client, type Middleware } from 'openapi-fetch';
import type { components, paths } from './schema';

export type { components, operations, paths } from './schema';

/** The body of every error answer: `{statusCode, message, error}`. */
export type ErrorResponse = components['schemas']['ErrorResponse'];
type LoginOperation = paths['/auth/login']['post'];
export type LoginRequest = LoginOperation['requestBody']['content']['application/json'];
export type LoginResponse = LoginOperation['responses'][200]['content']['application/json'];

export interface SessionClientOptions {
  /** Where the service answers, e.g. `https://sessions.example.com`. */
  baseUrl: string;
  /** The fetch to call (default: the global one at creation), e.g. one that adds tracing. */
  fetch?: (request: Request) => Promise<Response>;
  /**
   * Keep the session cookie in this client and send it back. Default: true outside a browser. In a
   * browser the cookie is the browser's (HttpOnly, out of reach of scripts), sent with
   * `credentials: 'include'` (another origin must be listed in the service's CORS_ORIGINS).
   */
  cookieJar?: boolean;
}

/** The openapi-fetch client of every path of the service, plus the session's own steps. */
export interface SessionClient extends Client<paths> {
  /** POST /auth/login: keeps the CSRF token (and the cookie, with a jar). Throws SessionClientError. */
  login(credentials: LoginRequest): Promise<LoginResponse>;
  /** POST /auth/logout: ends the session on the service; forgets it here even when that fails (then throws). */
  logout(): Promise<void>;
  /** GET /auth/csrf: fetches the session's CSRF token again (e.g. after a page reload lost it). */
  refreshCsrfToken(): Promise<string>;
  /** Sent as `X-CSRF-Token` on every state-changing call; undefined without a session. */
  readonly csrfToken: string | undefined;
}

/** A non-2xx answer, with its body in the service's one error shape. */
export class SessionClientError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorResponse,
  ) {
    super(`${status} ${body.error}: ${Array.isArray(body.message) ? body.message.join('; ') : body.message}`);
    this.name = 'SessionClientError';
  }
}

type Result = { data?: unknown; error?: unknown; response: Response };
type SuccessData<R> = R extends { data: infer D; error?: never } ? D : never;

/** The data of a 2xx answer of any client call; any other answer throws SessionClientError. */
export async function unwrap<R extends Result>(call: Promise<R>): Promise<SuccessData<R>> {
  const { data, error, response } = await call;
  if (!response.ok) throw new SessionClientError(response.status, toErrorResponse(error, response));
  return data as SuccessData<R>;
}

/** The service answers errors as ErrorResponse; a proxy in front may not, so anything else is wrapped. */
function toErrorResponse(body: unknown, response: Response): ErrorResponse {
  const candidate = body as Partial<ErrorResponse> | null;
  if (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.statusCode === 'number' &&
    typeof candidate.error === 'string' &&
    (typeof candidate.message === 'string' || Array.isArray(candidate.message))
  ) {
    return candidate as ErrorResponse;
  }
  const text = typeof body === 'string' && body ? body : response.statusText;
  return { statusCode: response.status, message: text, error: response.statusText || 'Error' };
}

/** The cookies the service set, for runtimes without a browser's cookie store (Node, Deno, Bun). */
class CookieJar {
  private readonly cookies = new Map<string, string>();

  store(setCookies: string[]): void {
    for (const line of setCookies) {
      const [pair, ...attributes] = line.split(';');
      const at = pair.indexOf('=');
      if (at < 1) continue;
      const name = pair.slice(0, at).trim();
      if (isRemoval(attributes)) this.cookies.delete(name);
      else this.cookies.set(name, pair.slice(at + 1).trim());
    }
  }

  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    return [...this.cookies].map(([name, value]) => `${name}=${value}`).join('; ');
  }

  clear(): void {
    this.cookies.clear();
  }
}

/** A Set-Cookie that deletes its cookie: Max-Age <= 0, else (Max-Age wins, RFC 6265) Expires in the past. */
function isRemoval(attributes: string[]): boolean {
  let expires: string | undefined;
  for (const attribute of attributes) {
    const at = attribute.indexOf('=');
    const key = (at < 0 ? attribute : attribute.slice(0, at)).trim().toLowerCase();
    const value = at < 0 ? '' : attribute.slice(at + 1).trim();
    if (key === 'max-age') return Number(value) <= 0;
    if (key === 'expires') expires = value;
  }
  return expires !== undefined && Date.parse(expires) <= Date.now();
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Routes whose 401 means a wrong password, not a dead session: a session held here lives on. */
const PASSWORD_CHECKS = new Set(['/auth/login', '/auth/reauthenticate']);
/**
 * Routes whose 200 body carries the `csrfToken` of the session the cookie now holds: a password
 * change and an impersonation start a new session; ending an impersonation goes back to the
 * admin's (null when that one had ended: then there is no session any more).
 */
const CSRF_SOURCES = new Set([
  '/auth/login',
  '/auth/csrf',
  '/auth/password',
  '/admin/users/{userId}/impersonate',
  '/auth/impersonation/end',
]);

function inBrowser(): boolean {
  return 'document' in globalThis || 'WorkerGlobalScope' in globalThis;
}

/** A client of the session service that keeps the session: cookie (outside browsers) and CSRF token. */
export function createSessionClient(options: SessionClientOptions): SessionClient {
  const jar = (options.cookieJar ?? !inBrowser()) ? new CookieJar() : undefined;
  const origin = new URL(options.baseUrl).origin;
  let csrfToken: string | undefined;
  const forget = (): void => {
    jar?.clear();
    csrfToken = undefined;
  };

  const session: Middleware = {
    onRequest({ request }) {
      const cookie = jar?.header();
      if (cookie && new URL(request.url).origin === origin) request.headers.set('Cookie', cookie);
      if (csrfToken && !SAFE_METHODS.has(request.method)) request.headers.set('X-CSRF-Token', csrfToken);
    },
    async onResponse({ request, response, schemaPath }) {
      if (jar && new URL(request.url).origin === origin) jar.store(response.headers.getSetCookie());
      if (response.status === 401 && !PASSWORD_CHECKS.has(schemaPath)) forget();
      else if (response.ok && schemaPath === '/auth/logout') forget();
      else if (response.ok && CSRF_SOURCES.has(schemaPath)) {
        const body = (await response.clone().json()) as { csrfToken?: unknown };
        if (typeof body.csrfToken === 'string') csrfToken = body.csrfToken;
        else if (body.csrfToken === null) forget();
      }
    },
  };

  const api = createClient<paths>({
    baseUrl: options.baseUrl,
    fetch: options.fetch,
    ...(jar ? {} : { credentials: 'include' as const }),
  });
  api.use(session);

  return {
    ...api,
    login: (credentials) => unwrap(api.POST('/auth/login', { body: credentials })),
    logout: async () => {
      try {
        await unwrap(api.POST('/auth/logout'));
      } finally {
        forget();
      }
    },
    refreshCsrfToken: async () => (await unwrap(api.GET('/auth/csrf'))).csrfToken,
    get csrfToken() {
      return csrfToken;
    },
  };
}
