import type { SwaggerCustomOptions } from '@nestjs/swagger';

/** What Swagger UI hands a request interceptor (the parts used here). */
export interface SwaggerUiRequest {
  url: string;
  method?: string;
  headers?: Record<string, string>;
}

/** What Swagger UI hands a response interceptor (the parts used here). */
export interface SwaggerUiResponse {
  url: string;
  ok: boolean;
  body?: unknown;
}

/** The page's globals the interceptors use: `window` in the browser. */
interface SwaggerUiPage {
  location: { href: string; origin: string };
  swaggerUiCsrfToken?: string;
  ui?: { preauthorizeApiKey(scheme: string, value: string): void };
}

/*
 * The two interceptors run in the browser, not here: @nestjs/swagger writes their source text
 * into /docs/swagger-ui-init.js, a script file served under /docs, so the page needs no inline
 * script and its CSP stays `script-src 'self'`. Being copied as text, each must be whole in itself:
 * no imports, no constants from outside its body, nothing a compiler would hoist out of it.
 */

/**
 * Remembers the CSRF token from the answer of POST /auth/login or GET /auth/csrf, and fills it into
 * Authorize → csrf as well (so the dialog shows what is sent); forgets it on logout.
 */
export function rememberCsrfToken(res: SwaggerUiResponse): SwaggerUiResponse {
  const page = globalThis as unknown as SwaggerUiPage;
  const path = new URL(res.url, page.location.href).pathname;
  if (res.ok && (path.endsWith('/auth/login') || path.endsWith('/auth/csrf'))) {
    const token = (res.body as { csrfToken?: unknown } | undefined)?.csrfToken;
    if (typeof token === 'string' && token !== '') {
      page.swaggerUiCsrfToken = token;
      page.ui?.preauthorizeApiKey('csrf', token);
    }
  } else if (res.ok && path.endsWith('/auth/logout')) {
    page.swaggerUiCsrfToken = undefined;
  }
  return res;
}

/**
 * Sends the remembered token as X-CSRF-Token on every state-changing call to this service (never to
 * another origin), unless the call already carries one from Authorize.
 */
export function sendCsrfToken(req: SwaggerUiRequest): SwaggerUiRequest {
  const page = globalThis as unknown as SwaggerUiPage;
  const token = page.swaggerUiCsrfToken;
  const method = (req.method ?? 'GET').toUpperCase();
  if (token === undefined || method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return req;
  if (new URL(req.url, page.location.href).origin !== page.location.origin) return req;
  req.headers = req.headers ?? {};
  if (!req.headers['X-CSRF-Token']) req.headers['X-CSRF-Token'] = token;
  return req;
}

/** Swagger UI at /docs, the document at /docs-json. */
export function swaggerUiOptions(): SwaggerCustomOptions {
  return {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: {
      withCredentials: true,
      persistAuthorization: true,
      requestInterceptor: sendCsrfToken,
      responseInterceptor: rememberCsrfToken,
    },
  };
}
