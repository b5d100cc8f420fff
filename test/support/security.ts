import type { Server } from 'node:http';
import request, { Response } from 'supertest';
import { PasswordHasher } from '../../src/users/password-hasher';
import type { RedisClientType } from 'redis';
import { dumpPrefix, inspectRedis, LoggedIn, StoreKind, TestApp } from './test-app';

/**
 * What an error body must never hold: stack frames, file paths and line numbers, or the names of
 * the libraries underneath. "at " alone is not a leak ("at most 32" is a validation message); a
 * stack frame is "at <name> (" or a line that starts with "at ".
 */
export const LEAKS: [string, RegExp][] = [
  ['stack frame', /(^|\n)\s*at\s|\bat [\w$.<>[\]]+ \(/],
  ['the word stack', /\bstack\b/i],
  ['a .ts position', /\.ts:\d+/],
  ['a .js position', /\.js:\d+/],
  ['node_modules', /node_modules/i],
  ['a file path', /(^|[\s"'(])(\/(work|home|usr|app|opt|var|src|dist)\/|[A-Za-z]:\\)/],
  ['express', /\bexpress\b/i],
  ['body-parser', /body-?parser/i],
  ['class-validator', /class-?(validator|transformer)/i],
  ['nest', /@nestjs|\bnest(js)?\b/i],
  ['redis', /\b(io)?redis\b/i],
];

/** The leaks found in a response body (empty when it is clean). */
export function leaksIn(text: string): string[] {
  return LEAKS.filter(([, pattern]) => pattern.test(text)).map(([name]) => name);
}

/** A problem with an error response, or null: `{statusCode, message, error}`, nothing more, nothing leaked. */
export function errorProblem(res: Response): string | null {
  const body = res.body as Record<string, unknown> | undefined;
  if (!body || typeof body !== 'object') return `body is not JSON: ${res.text.slice(0, 120)}`;
  const keys = Object.keys(body).sort().join(',');
  if (keys !== 'error,message,statusCode') return `body keys are ${keys}`;
  if (body.statusCode !== res.status) return `statusCode ${String(body.statusCode)} in a ${res.status}`;
  const leaks = leaksIn(res.text);
  if (leaks.length > 0) return `body leaks ${leaks.join(', ')}: ${res.text.slice(0, 200)}`;
  if (res.headers['x-powered-by'] !== undefined) return 'X-Powered-By is set';
  return null;
}

export function expectCleanError(res: Response, status: number): void {
  expect({ status: res.status, problem: errorProblem(res) }).toEqual({ status, problem: null });
}

/** A token or signature with one character changed. */
export function flip(text: string, index = 0): string {
  const replacement = text[index] === 'A' ? 'B' : 'A';
  return `${text.slice(0, index)}${replacement}${text.slice(index + 1)}`;
}

export function setCookies(res: Response): string[] {
  const header = res.headers['set-cookie'] as string[] | string | undefined;
  return Array.isArray(header) ? header : header ? [header] : [];
}

/** A session cookie's parts: `name=s%3A<sid>.<signature>`. */
export function cookieParts(cookie: string): { name: string; sid: string; signature: string } {
  const at = cookie.indexOf('=');
  const value = decodeURIComponent(cookie.slice(at + 1));
  const dot = value.lastIndexOf('.');
  return { name: cookie.slice(0, at), sid: value.slice(2, dot), signature: value.slice(dot + 1) };
}

export function buildCookie(name: string, sid: string, signature: string): string {
  return `${name}=${encodeURIComponent(`s:${sid}.${signature}`)}`;
}

// --- the OpenAPI document, as the attack suite and the fuzzer walk it ---

export interface SchemaObject {
  $ref?: string;
  type?: string;
  properties?: Record<string, SchemaObject>;
  required?: string[];
  items?: SchemaObject;
  minLength?: number;
  maxLength?: number;
  maxItems?: number;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  enum?: unknown[];
  nullable?: boolean;
}

export interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: SchemaObject;
}

interface OperationObject {
  operationId: string;
  parameters?: ParameterObject[];
  requestBody?: { content: Record<string, { schema: SchemaObject }> };
  security?: Record<string, string[]>[];
}

export interface OpenApiDocument {
  paths: Record<string, Record<string, OperationObject>>;
  components: { schemas: Record<string, SchemaObject>; securitySchemes: Record<string, { name: string }> };
}

export interface Operation {
  method: 'get' | 'post' | 'patch' | 'put' | 'delete';
  /** The template, e.g. `/admin/users/{userId}`. */
  path: string;
  operationId: string;
  /** Path parameters, read from the template so that an undocumented one is not missed. */
  pathParams: string[];
  queryParams: ParameterObject[];
  /** The JSON body schema with its $ref resolved, or null when the operation takes no body. */
  body: SchemaObject | null;
  label: string;
}

export const STATE_CHANGING = new Set(['post', 'put', 'patch', 'delete']);

export async function fetchDocument(http: Server): Promise<OpenApiDocument> {
  const res = await request(http).get('/docs-json').expect(200);
  return res.body as OpenApiDocument;
}

export function resolve(doc: OpenApiDocument, schema: SchemaObject): SchemaObject {
  if (!schema.$ref) return schema;
  return doc.components.schemas[schema.$ref.replace('#/components/schemas/', '')] ?? {};
}

export function operations(doc: OpenApiDocument): Operation[] {
  const out: Operation[] = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const json = op.requestBody?.content['application/json'];
      out.push({
        method: method as Operation['method'],
        path,
        operationId: op.operationId,
        pathParams: [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]),
        queryParams: (op.parameters ?? []).filter((p) => p.in === 'query'),
        body: json ? resolve(doc, json.schema) : null,
        label: `${method.toUpperCase()} ${path}`,
      });
    }
  }
  return out.sort((a, b) => a.label.localeCompare(b.label));
}

/** The template with its parameters filled in (each value URL-encoded unless `raw`). */
export function fillPath(path: string, values: Record<string, string>, raw = false): string {
  return path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = values[name];
    if (value === undefined) throw new Error(`no value for path parameter ${name} of ${path}`);
    return raw ? value : encodeURIComponent(value);
  });
}

export function send(http: Server, method: Operation['method'], url: string): request.Test {
  return request(http)[method](url);
}

// --- state: what must not change when an attack is refused ---

/**
 * Keys that change on refused requests by design, or on their own: the audit stream, the
 * failed-login counters, and the console's per-minute statistics (sampled whenever a minute ends).
 */
export function isVolatileKey(key: string): boolean {
  return key.endsWith('{audit}') || key.includes('{rl:') || key.includes('{stats}');
}

/**
 * What a refused attack must leave as it was. On Redis: every key under the app's prefix except the
 * volatile ones, read through one client kept open. On the embedded store (nothing to dump): users
 * and sessions as an admin sees them, request counts aside. Apps that use it set
 * SESSION_TOUCH_INTERVAL high, so reading writes no activity.
 */
export class StoreState {
  private client?: RedisClientType;

  constructor(
    private readonly t: TestApp,
    private readonly admin: Pick<LoggedIn, 'cookie'>,
    private readonly kind: StoreKind,
  ) {}

  async read(): Promise<unknown> {
    if (this.kind === 'redis') {
      this.client ??= await inspectRedis();
      const all = await dumpPrefix(this.client, this.t.prefix);
      return Object.fromEntries([...all].filter(([key]) => !isVolatileKey(key)).sort());
    }
    const get = (path: string) => request(this.t.http).get(path).set('Cookie', this.admin.cookie).expect(200);
    const users = await get('/admin/users?limit=1000');
    const sessions = await get('/admin/sessions?limit=500');
    const list = (sessions.body as { sessions: Record<string, unknown>[] }).sessions;
    return { users: users.body, sessions: list.map(({ requestCount: _, ...rest }) => rest) };
  }

  async close(): Promise<void> {
    await this.client?.close();
  }
}

// --- a PasswordHasher that counts its work, swapped in through DI ---

export interface HashCall {
  method: 'verify' | 'burn';
  /** The stored hash verify was asked to check against (its parameters show the work it costs). */
  hash?: string;
}

/** The real hasher, recording each call; `burn` runs through `verify`, so its work is recorded too. */
export class CountingHasher extends PasswordHasher {
  readonly calls: HashCall[] = [];

  override verify(hash: string, password: string, options?: { padRight?: boolean }): Promise<boolean> {
    this.calls.push({ method: 'verify', hash });
    return super.verify(hash, password, options);
  }

  override burn(password: string): Promise<false> {
    this.calls.push({ method: 'burn' });
    return super.burn(password);
  }

  take(): HashCall[] {
    return this.calls.splice(0);
  }
}

/** `$argon2id$v=19$m=19456,p=1,t=2`: algorithm, version and cost of an encoded argon2 hash. */
export function hashParameters(encoded: string | undefined): string {
  return (encoded ?? '').split('$').slice(0, 4).join('$');
}

// --- bodies each operation accepts, so an attack can change exactly one thing ---

export interface BodySpec {
  /** Every field the operation accepts. */
  fields: string[];
  /** A body it would accept (and act on). */
  valid(): Record<string, unknown>;
}

let made = 0;

/** Keyed by `METHOD /path/{template}`; an operation with a body that is missing here fails the suites. */
export const BODIES: Record<string, BodySpec> = {
  'POST /auth/login': {
    fields: ['username', 'password', 'deviceId'],
    valid: () => ({ username: 'nobody-at-all', password: 'not-the-password', deviceId: 'some-device' }),
  },
  'POST /admin/users': {
    fields: ['username', 'password', 'roles'],
    valid: () => ({ username: `made-${process.pid}-${(made += 1)}`, password: 'password-123', roles: ['user'] }),
  },
  'POST /admin/users/import': {
    fields: ['users'],
    // A bcrypt hash (cost 4) of "imported-password".
    valid: () => ({
      users: [
        {
          username: `imported-${process.pid}-${(made += 1)}`,
          passwordHash: '$2b$04$g6.5pZlNKElPcB5dUIUxweNsMoT0WCWHTY8bHrqCcoYuaRe/m0pZK',
        },
      ],
    }),
  },
  'PATCH /admin/users/{userId}': {
    fields: ['roles', 'password', 'disabled'],
    valid: () => ({ disabled: true }),
  },
  // Well formed, with a password no caller has: it never proves anything here.
  'POST /auth/reauthenticate': {
    fields: ['password'],
    valid: () => ({ password: 'not-the-password' }),
  },
  // Well formed, with a current password no caller has: it can never change a password here.
  'PATCH /auth/password': {
    fields: ['currentPassword', 'newPassword'],
    valid: () => ({ currentPassword: 'not-the-current-password', newPassword: 'a-new-password-123' }),
  },
};
