// Part of npm run lint: fails when openapi.json breaks a client written against the last commit's
// openapi.json, unless package.json's version says so (major raised; minor while 0.x).
//   node scripts/openapi-breaking.mjs                       HEAD:openapi.json against ./openapi.json
//   node scripts/openapi-breaking.mjs --base a.json --head b.json
// Breaking: a removed operation or a changed operationId (generated clients call it by that name);
// in requests, a new required field or parameter, a removed field or parameter (this service refuses
// unknown ones with 400), a narrowed type, bound, pattern or enum; in responses, a removed field or
// status, a field no longer required or now nullable, a changed type, a new enum value.
//
// Why not a diff tool: oasdiff is a Go binary (the npm name is a placeholder), openapi-diff from
// OpenAPITools needs Java, optic (@useoptic/optic) sends telemetry and brings ~60 packages, and
// bump-cli's diff runs on bump.sh's servers. Atlassian's openapi-diff (0.24, Node >= 18, no Java)
// would run here, but it knows neither that this service refuses unknown fields nor the version rule,
// and it brings axios, lodash and swagger-parser for what is ~200 lines over two parsed documents.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace'];

/** Every breaking change from `before` to `after`, one line each. */
export function breakingChanges(before, after) {
  const out = [];
  for (const [path, item] of Object.entries(before.paths ?? {})) {
    for (const method of METHODS) {
      const old = item[method];
      if (!old) continue;
      const label = `${method.toUpperCase()} ${path}`;
      const now = after.paths?.[path]?.[method];
      if (!now) {
        out.push(`${label}: operation removed (${old.operationId ?? 'no operationId'})`);
        continue;
      }
      if (old.operationId !== now.operationId) {
        out.push(`${label}: operationId changed from ${old.operationId} to ${now.operationId}`);
      }
      const ctx = { before, after, out };
      compareParameters(ctx, label, old.parameters ?? [], now.parameters ?? []);
      compareRequestBody(ctx, label, old.requestBody, now.requestBody);
      compareResponses(ctx, label, old.responses ?? {}, now.responses ?? {});
    }
  }
  return out;
}

/** Whether the version change announces breaking changes: the major raised, or the minor while 0.x. */
export function versionAllowsBreaking(before, after) {
  const parse = (v) =>
    /^(\d+)\.(\d+)\.(\d+)/
      .exec(String(v ?? ''))
      ?.slice(1, 3)
      .map(Number);
  const [a, b] = [parse(before), parse(after)];
  if (!a || !b) return false;
  if (b[0] !== a[0]) return b[0] > a[0];
  return a[0] === 0 && b[1] > a[1];
}

function compareParameters(ctx, label, old, now) {
  const key = (p) => `${p.in} parameter ${p.name}`;
  const nowByKey = new Map(now.map((p) => [key(p), p]));
  const oldByKey = new Map(old.map((p) => [key(p), p]));
  for (const [k, p] of oldByKey) {
    const q = nowByKey.get(k);
    if (!q) ctx.out.push(`${label}: ${k} removed (a client sending it is refused)`);
    else {
      if (q.required && !p.required) ctx.out.push(`${label}: ${k} is now required`);
      compareSchema(ctx, 'request', `${label} ${k}`, p.schema, q.schema, new Set());
    }
  }
  for (const [k, q] of nowByKey) {
    if (!oldByKey.has(k) && q.required) ctx.out.push(`${label}: new required ${k}`);
  }
}

function compareRequestBody(ctx, label, old, now) {
  const oldSchema = jsonSchema(old);
  const nowSchema = jsonSchema(now);
  if (!old && now?.required) ctx.out.push(`${label}: a request body is now required`);
  else if (old && !now) ctx.out.push(`${label}: request body removed`);
  else if (old && now) {
    if (now.required && !old.required) ctx.out.push(`${label}: the request body is now required`);
    if (oldSchema && nowSchema) compareSchema(ctx, 'request', `${label} request body`, oldSchema, nowSchema, new Set());
  }
}

function compareResponses(ctx, label, old, now) {
  for (const [status, response] of Object.entries(old)) {
    const where = `${label} response ${status}`;
    if (!now[status]) {
      // A success a client handles is gone; an error no longer documented only narrows what can happen.
      if (/^[23]/.test(status)) ctx.out.push(`${where} removed`);
      continue;
    }
    const oldSchema = jsonSchema(resolve(ctx.before, response));
    const nowSchema = jsonSchema(resolve(ctx.after, now[status]));
    if (oldSchema && nowSchema) compareSchema(ctx, 'response', where, oldSchema, nowSchema, new Set());
    else if (oldSchema && !nowSchema) ctx.out.push(`${where}: body removed`);
  }
}

/** The JSON schema of a request body or response object, if it has one. */
function jsonSchema(holder) {
  const content = holder?.content;
  if (!content) return undefined;
  const key = Object.keys(content).find((type) => type.startsWith('application/json')) ?? Object.keys(content)[0];
  return content[key]?.schema;
}

function resolve(doc, node) {
  let current = node;
  for (let hops = 0; current?.$ref && hops < 32; hops += 1) {
    const path = current.$ref.replace(/^#\//, '').split('/');
    current = path.reduce((at, part) => at?.[part.replace(/~1/g, '/').replace(/~0/g, '~')], doc);
  }
  return current;
}

function typeOf(schema) {
  if (schema.type) return schema.type;
  if (schema.properties || schema.additionalProperties) return 'object';
  if (schema.items) return 'array';
  return undefined;
}

/**
 * `direction` is who sends the value: a request may not accept less than before, a response may not
 * send more (or less) than a client was told to expect.
 */
function compareSchema(ctx, direction, where, oldNode, nowNode, seen) {
  if (!oldNode || !nowNode) return;
  const pair = `${oldNode.$ref ?? ''}|${nowNode.$ref ?? ''}|${direction}`;
  if (oldNode.$ref && nowNode.$ref) {
    if (seen.has(pair)) return;
    seen = new Set(seen).add(pair);
  }
  const old = resolve(ctx.before, oldNode) ?? {};
  const now = resolve(ctx.after, nowNode) ?? {};
  const request = direction === 'request';
  const report = (text) => ctx.out.push(`${where}: ${text}`);

  const oldAlternatives = alternatives(old);
  const nowAlternatives = alternatives(now);
  if (oldAlternatives || nowAlternatives) {
    const a = new Set((oldAlternatives ?? [old]).map((s) => JSON.stringify(s)));
    const b = new Set((nowAlternatives ?? [now]).map((s) => JSON.stringify(s)));
    const lost = [...a].filter((s) => !b.has(s));
    const gained = [...b].filter((s) => !a.has(s));
    if (request && lost.length) report(`accepts fewer shapes (${lost.join(', ')} no longer)`);
    if (!request && gained.length) report(`may now be ${gained.join(' or ')}`);
    return;
  }

  const [oldType, nowType] = [typeOf(old), typeOf(now)];
  const widened = request
    ? oldType === 'integer' && nowType === 'number'
    : oldType === 'number' && nowType === 'integer';
  if (oldType && nowType && oldType !== nowType && !widened) {
    report(`type changed from ${oldType} to ${nowType}`);
    return;
  }
  if (request && old.nullable && !now.nullable) report('no longer accepts null');
  if (!request && !old.nullable && now.nullable) report('may now be null');

  if (old.enum || now.enum) {
    const a = new Set((old.enum ?? []).map(String));
    const b = new Set((now.enum ?? []).map(String));
    if (request && now.enum && (!old.enum || [...a].some((v) => !b.has(v)))) {
      report(`accepts fewer values (${old.enum ? [...a].filter((v) => !b.has(v)).join(', ') : 'now an enum'})`);
    }
    if (!request && old.enum && (!now.enum || [...b].some((v) => !a.has(v)))) {
      report(`may send new values (${now.enum ? [...b].filter((v) => !a.has(v)).join(', ') : 'no longer an enum'})`);
    }
  }

  if (request) {
    const tighter = (key, lower) => {
      const [a, b] = [old[key], now[key]];
      if (b === undefined) return;
      if (a === undefined || (lower ? b < a : b > a)) report(`${key} narrowed from ${a ?? 'none'} to ${b}`);
    };
    tighter('maxLength', true);
    tighter('maximum', true);
    tighter('maxItems', true);
    tighter('minLength', false);
    tighter('minimum', false);
    tighter('minItems', false);
    if (now.pattern !== undefined && now.pattern !== old.pattern) report(`pattern changed to ${now.pattern}`);
    if (now.format !== undefined && now.format !== old.format) report(`format changed to ${now.format}`);
  }

  const oldProps = old.properties ?? {};
  const nowProps = now.properties ?? {};
  const oldRequired = new Set(old.required ?? []);
  const nowRequired = new Set(now.required ?? []);
  for (const [name, schema] of Object.entries(oldProps)) {
    if (!(name in nowProps)) {
      report(request ? `field ${name} removed (a client sending it is refused)` : `field ${name} removed`);
      continue;
    }
    if (request && nowRequired.has(name) && !oldRequired.has(name)) report(`field ${name} is now required`);
    if (!request && oldRequired.has(name) && !nowRequired.has(name)) report(`field ${name} may now be missing`);
    compareSchema(ctx, direction, `${where} .${name}`, schema, nowProps[name], seen);
  }
  for (const name of Object.keys(nowProps)) {
    if (request && !(name in oldProps) && nowRequired.has(name)) report(`new required field ${name}`);
  }
  if (typeof old.additionalProperties === 'object' && typeof now.additionalProperties === 'object') {
    compareSchema(ctx, direction, `${where} {*}`, old.additionalProperties, now.additionalProperties, seen);
  }
  if (old.items && now.items) compareSchema(ctx, direction, `${where} []`, old.items, now.items, seen);
}

function alternatives(schema) {
  return schema.oneOf ?? schema.anyOf;
}

// --- the command ---

function main(argv) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const arg = (name) => {
    const at = argv.indexOf(name);
    return at === -1 ? undefined : argv[at + 1];
  };
  const headFile = arg('--head') ?? `${root}openapi.json`;
  if (!existsSync(headFile)) {
    console.error(`openapi-breaking: ${headFile} is missing: run npm run openapi`);
    return 1;
  }
  const head = JSON.parse(readFileSync(headFile, 'utf8'));
  if (!arg('--head')) {
    const version = JSON.parse(readFileSync(`${root}package.json`, 'utf8')).version;
    if (head.info?.version !== version) {
      console.error(
        `openapi-breaking: openapi.json says version ${head.info?.version}, package.json ${version}: run npm run openapi`,
      );
      return 1;
    }
  }
  let baseText;
  if (arg('--base')) baseText = readFileSync(arg('--base'), 'utf8');
  else {
    try {
      baseText = execFileSync('git', ['show', 'HEAD:openapi.json'], {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (error) {
      const stderr = String(error.stderr ?? '');
      const why =
        error.code === 'ENOENT'
          ? 'git is not installed'
          : /not a git repository/i.test(stderr)
            ? 'not a git checkout'
            : /does not exist in|exists on disk, but not in|invalid object name|bad revision/i.test(stderr)
              ? 'the last commit has no openapi.json'
              : `git show failed: ${stderr.trim().split('\n')[0]}`;
      console.log(`openapi-breaking: skipped (nothing to compare with), ${why}`);
      return 0;
    }
  }
  const base = JSON.parse(baseText);
  const changes = breakingChanges(base, head);
  const from = base.info?.version;
  const to = head.info?.version;
  if (changes.length === 0) {
    console.log('openapi-breaking: no breaking change against the last commit');
    return 0;
  }
  const list = changes.map((c) => `  - ${c}`).join('\n');
  if (versionAllowsBreaking(from, to)) {
    console.log(
      `openapi-breaking: ${changes.length} breaking change(s), announced by version ${from} → ${to}:\n${list}`,
    );
    return 0;
  }
  console.error(
    `openapi-breaking: ${changes.length} breaking change(s) against the last commit's openapi.json:\n${list}\n` +
      `Keep the API compatible, or raise the major version in package.json (the minor while 0.x; now ${to}) ` +
      'and run npm run openapi.',
  );
  return 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1])
  process.exitCode = main(process.argv.slice(2));
