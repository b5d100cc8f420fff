import { isDeepStrictEqual } from 'node:util';
import request, { Response } from 'supertest';
import {
  BODIES,
  errorProblem,
  fetchDocument,
  fillPath,
  OpenApiDocument,
  Operation,
  operations,
  ParameterObject,
  resolve,
  SchemaObject,
  send,
  STATE_CHANGING,
  StoreState,
} from './support/security';
import { loginAs, newUser, TestUser } from './support/sessions';
import { ADMIN, createTestApp, login, LoggedIn, STORE_KINDS, TestApp } from './support/test-app';

/**
 * Walks /docs-json and sends every operation malformed, oversized, wrongly typed and missing
 * inputs as an authenticated admin with a valid CSRF token. Every answer must be a clean 4xx and
 * the store must not change. Seeded, so a failure replays exactly; bounded, so it stays fast.
 */
const SEED = 0x5e551;

/** mulberry32: small, seedable, good enough to vary inputs. */
class Rng {
  constructor(private state: number) {}

  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let x = Math.imul(this.state ^ (this.state >>> 15), 1 | this.state);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  }

  int(max: number): number {
    return Math.floor(this.next() * max);
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  text(length: number, alphabet: string): string {
    const chars = [...alphabet];
    return Array.from({ length }, () => this.pick(chars)).join('');
  }

  /** Any JSON value, nested at most `depth` deep. */
  json(depth = 3): unknown {
    const kind = this.int(depth > 0 ? 7 : 5);
    if (kind === 0) return null;
    if (kind === 1) return this.pick([0, -1, 1.5, 2 ** 53, -1e308, 1e-7]);
    if (kind === 2) return this.text(this.int(40), WILD);
    if (kind === 3) return this.next() < 0.5;
    if (kind === 4) return this.pick(['', ' ', '\u0000', 'null', 'true', '0', '[]', '{}']);
    if (kind === 5) return Array.from({ length: this.int(4) }, () => this.json(depth - 1));
    return Object.fromEntries(Array.from({ length: this.int(4) }, () => [this.text(6, SAFE), this.json(depth - 1)]));
  }
}

const SAFE = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-';
/** Characters no identifier of the API accepts. */
const NASTY = ` /\\"'<>{}|^\`~!@#$%&*()+=,;?[]\n\r\t\u0000\u00e9\u200b\ud83d\ude00\ufeff`;
const WILD = SAFE + NASTY;

/** Path values that are malformed for any parameter of the API (already URL-encoded). */
const MALFORMED_PATH = [
  '%20', '%2e%2e%2f', '%2F', '%5C', '%00', '%0d%0aSet-Cookie:%20a=b', 'a'.repeat(129), 'x'.repeat(5000), '%E0%A4%A', '%',
  '%25', '%EF%BF%BF', '%F0%9F%98%80', '%5B%5D', '%7B%7D', '%24%7Bjndi%3Aldap%3A%2F%2Fx%7D', '%27%20OR%20%271%27%3D%271',
  '%3Cscript%3Ealert(1)%3C%2Fscript%3E', 'a%2Cb', 'a+b', 'a=b', 'a%3Fb', 'a%23b',
]; // prettier-ignore

/** Path values of the right shape that name nothing: any answer but 5xx, and nothing may change. */
const UNKNOWN_PATH = [
  'AAAAAAAAAAAA',
  '__proto__AAA',
  'constructorA',
  `AAAAAAAAAAAA.${'A'.repeat(22)}`,
  'no-such-device',
];

interface Case {
  label: string;
  make: () => request.Test;
  /** Malformed input: a 4xx. Otherwise any answer below 500. Either way nothing may change. */
  malformed: boolean;
}

/** Wrong values for a schema's type (none of them null: class-validator treats null as absent). */
function wrongTypes(schema: SchemaObject): unknown[] {
  switch (schema.type) {
    case 'string':
      return [123, 1.5, true, false, [], {}, ['x'], { length: 3 }];
    case 'integer':
    case 'number':
      return ['1', 'x', true, [], {}, 1.5, Number.MAX_SAFE_INTEGER * 4];
    case 'boolean':
      return ['true', 'false', 1, 0, [], {}, 'yes'];
    case 'array':
      return ['x', 1, true, {}, [1], [true], [{}], [[]], [null], { 0: 'x', length: 1 }];
    default:
      return [];
  }
}

/** Values too large for a schema: one past its documented maximum, and far past it. */
function oversized(schema: SchemaObject): unknown[] {
  if (schema.type === 'string') {
    return [...(schema.maxLength ? ['x'.repeat(schema.maxLength + 1)] : []), 'x'.repeat(12_000)];
  }
  if (schema.type === 'array') {
    const many = (n: number) => Array.from({ length: n }, (_, i) => `role-${i}`);
    return [...(schema.maxItems ? [many(schema.maxItems + 1)] : []), many(1500)];
  }
  return [];
}

describe.each(STORE_KINDS)('OpenAPI-driven fuzzer (%s store)', (kind) => {
  let t: TestApp;
  let doc: OpenApiDocument;
  let ops: Operation[];
  let admin: LoggedIn;
  let other: LoggedIn;
  let victim: TestUser;
  let victimSession: LoggedIn;
  /** Real targets: a call that slipped through would act on them. */
  let targets: Record<string, string>;
  let store: StoreState;
  let baseline: unknown;

  beforeAll(async () => {
    t = await createTestApp({ store: kind, env: { SESSION_TOUCH_INTERVAL: '86400', MAX_SESSIONS_PER_USER: '0' } });
    admin = await login(t.http, { ...ADMIN, deviceId: 'fuzz-own' });
    other = await login(t.http, { ...ADMIN, deviceId: 'fuzz-other' });
    victim = await newUser(t.http, admin);
    victimSession = await loginAs(t.http, victim, { deviceId: 'victim-device' });
    targets = { id: other.body.session.id, userId: victim.id, deviceId: 'fuzz-other' };
    doc = await fetchDocument(t.http);
    ops = operations(doc);
    store = new StoreState(t, admin, kind);
    baseline = await store.read();
  });
  afterAll(async () => {
    await store.close();
    await t.close();
  });

  const authed = (r: request.Test) => r.set('Cookie', admin.cookie).set('X-CSRF-Token', admin.csrfToken);

  function validBody(op: Operation): Record<string, unknown> {
    if (op.label === 'POST /auth/login') return { username: victim.username, password: victim.password };
    const spec = BODIES[op.label];
    if (!spec) throw new Error(`${op.label} takes a body: add a valid one to BODIES`);
    return spec.valid();
  }

  function withBody(op: Operation, url: string, body: unknown): request.Test {
    return authed(send(t.http, op.method, url)).send(body as object);
  }

  function withRaw(op: Operation, url: string, raw: string, type = 'application/json'): request.Test {
    return authed(send(t.http, op.method, url))
      .set('Content-Type', type)
      .send(raw);
  }

  /** Sends every case; returns one line per case that got a 5xx, a bad error body, or changed the store. */
  async function run(cases: Case[]): Promise<string[]> {
    const problems: string[] = [];
    for (const c of cases) {
      const res: Response = await c.make();
      const refused = res.status >= 400 && res.status < 500;
      if (c.malformed ? !refused : res.status >= 500) {
        problems.push(`${c.label}: ${res.status} ${res.text.slice(0, 120)}`);
      } else if (refused && errorProblem(res)) {
        problems.push(`${c.label}: ${errorProblem(res)}`);
      }
      const now = await store.read();
      if (!isDeepStrictEqual(now, baseline)) {
        problems.push(`${c.label}: changed the store (${res.status})`);
        baseline = now;
      }
    }
    return problems;
  }

  it('finds in the document every input it fuzzes', () => {
    const gaps: string[] = [];
    for (const op of ops) {
      const documented = new Set(
        (doc.paths[op.path][op.method].parameters ?? []).filter((p) => p.in === 'path').map((p) => p.name),
      );
      for (const name of op.pathParams) if (!documented.has(name)) gaps.push(`${op.label}: path parameter ${name}`);
      if (op.body && Object.keys(op.body.properties ?? {}).length === 0) gaps.push(`${op.label}: body properties`);
    }
    for (const path of ['/admin/users', '/admin/sessions', '/admin/audit']) {
      if (!ops.some((op) => op.path === path && op.queryParams.length > 0)) gaps.push(`GET ${path}: query parameters`);
    }
    expect(gaps).toEqual([]);
  });

  it('answers malformed and unknown path parameters of every operation with 4xx, changing nothing', async () => {
    const rng = new Rng(SEED);
    const cases: Case[] = [];
    for (const op of ops.filter((o) => o.pathParams.length > 0)) {
      const body = op.body || BODIES[op.label] ? validBody(op) : undefined;
      for (const name of op.pathParams) {
        const random = Array.from({ length: 6 }, () => {
          const text = rng.text(1 + rng.int(30), SAFE);
          const at = rng.int(text.length + 1);
          return encodeURIComponent(`${text.slice(0, at)}${rng.pick([...NASTY])}${text.slice(at)}`);
        });
        const values = [...MALFORMED_PATH, ...random].map((v) => ({ v, malformed: true }));
        values.push(...UNKNOWN_PATH.map((v) => ({ v, malformed: false })));
        // An empty segment is another route (`DELETE /auth/sessions/` is `DELETE /auth/sessions`): only
        // fuzz it where no documented operation answers that path.
        const emptied = fillPath(op.path, { ...targets, [name]: '' }, true)
          .replace(/\/+$/, '')
          .replace('//', '/');
        if (!ops.some((o) => o.method === op.method && fillPath(o.path, targets) === emptied)) {
          values.push({ v: '', malformed: true });
        }
        for (const { v, malformed } of values) {
          const url = fillPath(op.path, { ...targets, [name]: v }, true);
          cases.push({
            label: `${op.label} ${name}=${v.slice(0, 40)}`,
            make: () => (body ? withBody(op, url, body) : authed(send(t.http, op.method, url))),
            malformed,
          });
        }
      }
    }
    expect(cases.length).toBeGreaterThan(150);
    expect(await run(cases)).toEqual([]);
  });

  it('answers wrongly typed, out-of-range, repeated, nested and unknown query parameters with 400', async () => {
    const rng = new Rng(SEED + 1);
    const cases: Case[] = [];
    const bad = (p: ParameterObject): string[] => {
      const schema = p.schema ?? {};
      const values = ['', `${p.name}[x]=1`, `${p.name}=a&${p.name}=b`, `${p.name}[__proto__]=1`];
      if (schema.type === 'number' || schema.type === 'integer') {
        values.push('abc', '-1', '0', '1.5', 'NaN', 'Infinity', '-Infinity', '99999999999999999999', '1_0', 'true');
        if (schema.maximum !== undefined) values.push(String(schema.maximum + 1));
        if (schema.minimum !== undefined) values.push(String(schema.minimum - 1));
      } else {
        values.push('x'.repeat(5000), encodeURIComponent(rng.text(20, NASTY)), '%E0%A4%A', '%00');
      }
      return values.map((v) => (v.includes('=') ? v : `${p.name}=${v}`));
    };
    for (const op of ops.filter((o) => o.queryParams.length > 0)) {
      const url = fillPath(op.path, targets);
      const queries = [
        ...op.queryParams.flatMap(bad),
        'unexpected=1',
        '__proto__=1',
        'constructor=1',
        `${rng.text(8, SAFE)}=${encodeURIComponent(rng.text(8, WILD))}`,
      ];
      for (const q of queries) {
        cases.push({
          label: `${op.label}?${q.slice(0, 60)}`,
          make: () => authed(send(t.http, op.method, `${url}?${q}`)),
          malformed: true,
        });
      }
    }
    expect(cases.length).toBeGreaterThan(40);
    expect(await run(cases)).toEqual([]);
  });

  it('answers malformed, oversized, wrongly typed and missing bodies of every operation with 4xx, changing nothing', async () => {
    const rng = new Rng(SEED + 2);
    const cases: Case[] = [];
    for (const op of ops.filter((o) => o.body || BODIES[o.label])) {
      const url = fillPath(op.path, targets);
      const schema = op.body ?? {};
      const properties = Object.entries(schema.properties ?? {}).map(([name, s]) => [name, resolve(doc, s)] as const);
      const add = (label: string, make: () => request.Test) =>
        cases.push({ label: `${op.label} ${label}`, make, malformed: true });
      const valid = () => validBody(op);
      const raw = (label: string, text: string, type?: string) => add(label, () => withRaw(op, url, text, type));

      raw('no body', '');
      for (const scalar of ['null', '"text"', '42', 'true', '[]', '[{}]', '{}']) raw(`body ${scalar}`, scalar);
      add('an array holding a valid body', () => withRaw(op, url, JSON.stringify([valid()])));
      for (const broken of ['{"a":', '{a:1}', "{'a':1}", '{"a":1}}', '\u0000', 'NaN', '{"a":1,}', '\ufeff{}']) {
        raw(`malformed ${JSON.stringify(broken)}`, broken);
      }
      raw('arrays 5000 deep', `${'['.repeat(5000)}${']'.repeat(5000)}`);
      raw('objects 1500 deep', `${'{"a":'.repeat(1500)}1${'}'.repeat(1500)}`);
      for (const key of ['__proto__', 'constructor', 'prototype']) {
        add(`a ${key} key`, () =>
          withRaw(op, url, `{"${key}":{"roles":["admin"],"isAdmin":true},${JSON.stringify(valid()).slice(1)}`),
        );
      }
      add('over 16 kB', () => withBody(op, url, { ...valid(), pad: 'x'.repeat(20_000) }));
      raw('valid JSON as text/plain', JSON.stringify(valid()), 'text/plain');
      raw('valid JSON in UTF-16', JSON.stringify(valid()), 'application/json; charset=utf-16');
      raw('a form', new URLSearchParams(valid() as Record<string, string>).toString(), 'application/x-www-form-urlencoded');

      for (const [name, prop] of properties) {
        const required = (schema.required ?? []).includes(name);
        const mutate = (label: string, value: unknown) => add(`${name} ${label}`, () => withBody(op, url, { ...valid(), [name]: value }));
        wrongTypes(prop).forEach((value) => mutate(`= ${JSON.stringify(value)}`, value));
        oversized(prop).forEach((value) => mutate(`oversized (${JSON.stringify(value).length} chars)`, value));
        if (required) {
          mutate('= null', null);
          add(`${name} missing`, () => withBody(op, url, Object.fromEntries(Object.entries(valid()).filter(([k]) => k !== name))));
        }
        if (prop.type === 'string' && ((prop.minLength ?? 0) > 0 || prop.pattern)) mutate('= ""', '');
        if (prop.pattern) mutate('breaking its pattern', 'has spaces / and \u00e9 \ud83d\ude00');
        if (prop.type === 'array') mutate('with items breaking their pattern', ['Admin Role!', '../x']);
      }
      for (const field of ['roles', 'isAdmin', 'userId', 'id', 'version', 'passwordHash', 'createdAt']) {
        if (!(field in (schema.properties ?? {}))) add(`+ ${field}`, () => withBody(op, url, { ...valid(), [field]: true }));
      }
      for (let i = 0; i < 12; i += 1) {
        const body: Record<string, unknown> = valid();
        const mutable = properties.filter(([, p]) => wrongTypes(p).length > 0);
        if (mutable.length > 0 && rng.next() < 0.7) {
          const [name, prop] = rng.pick(mutable);
          body[name] = rng.pick(wrongTypes(prop));
        } else {
          body[`${rng.text(1 + rng.int(12), SAFE)}_x`] = rng.json();
        }
        add(`random #${i} ${JSON.stringify(body).slice(0, 60)}`, () => withBody(op, url, body));
      }
    } // prettier-ignore
    expect(cases.length).toBeGreaterThan(100);
    expect(await run(cases)).toEqual([]);
  });

  it('answers every state-changing operation with a malformed CSRF token or cookie with 403 or 401, changing nothing', async () => {
    const rng = new Rng(SEED + 3);
    const tokens = [
      '',
      'A'.repeat(43),
      '\u00e9'.repeat(43),
      '\u00ff'.repeat(22),
      'A'.repeat(42),
      'A'.repeat(44),
      'A'.repeat(4000),
      rng.text(43, SAFE.replace('.', '')),
      victimSession.csrfToken,
      admin.csrfToken.toUpperCase() === admin.csrfToken ? admin.csrfToken.toLowerCase() : admin.csrfToken.toUpperCase(),
    ];
    const cookies = [
      'sid=',
      'sid=s%3A',
      `sid=${'A'.repeat(4000)}`,
      'sid=s%3Ax.y',
      `sid=${encodeURIComponent(rng.text(60, WILD))}`,
    ];
    const cases: Case[] = [];
    for (const op of ops.filter((o) => STATE_CHANGING.has(o.method) && o.label !== 'POST /auth/login')) {
      const url = fillPath(op.path, targets);
      const body = op.body || BODIES[op.label] ? validBody(op) : undefined;
      const withBodyIfAny = (r: request.Test) => (body ? r.send(body) : r);
      for (const token of tokens) {
        cases.push({
          label: `${op.label} X-CSRF-Token=${JSON.stringify(token.slice(0, 20))}`,
          make: () => withBodyIfAny(send(t.http, op.method, url).set('Cookie', admin.cookie).set('X-CSRF-Token', token)),
          malformed: true,
        });
      }
      for (const cookie of cookies) {
        cases.push({
          label: `${op.label} Cookie=${JSON.stringify(cookie.slice(0, 20))}`,
          make: () => withBodyIfAny(send(t.http, op.method, url).set('Cookie', cookie).set('X-CSRF-Token', admin.csrfToken)),
          malformed: true,
        });
      }
    } // prettier-ignore
    expect(cases.length).toBeGreaterThan(100);
    expect(await run(cases)).toEqual([]);
  });
});
