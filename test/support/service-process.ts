import { ChildProcess, execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import { join, relative } from 'node:path';
import { freePort } from './redis-server';

/**
 * The built service (dist/main.js) as real child processes, for tests of what only a process shows:
 * several instances on one Redis, SIGTERM, exit codes, stdout logs. Every wait is bounded and every
 * child is killed by stop()/stopAllServices(), and as a last resort when the test process exits.
 */

const ROOT = join(__dirname, '..', '..');
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

export interface ServiceBuild {
  mainJs: string;
  /** How the build was obtained, for the test log. */
  how: string;
  remove(): void;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.spec.ts') ? [path] : [];
  });
}

/** Size and mtime of every file under `dir`: equal before and after a copy means no build ran meanwhile. */
function snapshot(dir: string): string {
  if (!existsSync(dir)) return '';
  const walk = (d: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((entry) => {
      const path = join(d, entry.name);
      if (entry.isDirectory()) return walk(path);
      const stat = statSync(path);
      return [`${relative(dir, path)}:${stat.size}:${stat.mtimeMs}`];
    });
  try {
    return walk(dir).sort().join('\n');
  } catch {
    return `changing ${Date.now()}`;
  }
}

/** True when every source file has a compiled file in `out` that is at least as new. */
function upToDate(out: string): boolean {
  const src = join(ROOT, 'src');
  return sourceFiles(src).every((file) => {
    const js = join(out, relative(src, file).replace(/\.ts$/, '.js'));
    return existsSync(js) && statSync(js).mtimeMs >= statSync(file).mtimeMs;
  });
}

/**
 * A private copy of the built service: dist/ when it is newer than every source file, else a fresh
 * `tsc` build. Private, because other test runs may rebuild dist/ (which `nest build` deletes first)
 * while these processes start. It lives under node_modules/.cache so the copy still resolves the
 * project's dependencies.
 */
export async function buildService(): Promise<ServiceBuild> {
  const cache = join(ROOT, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'session-service-'));
  const out = join(dir, 'dist');
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    const dist = join(ROOT, 'dist');
    if (existsSync(join(dist, 'main.js'))) {
      const before = snapshot(dist);
      let copied = false;
      try {
        cpSync(dist, out, { recursive: true, preserveTimestamps: true });
        copied = true;
      } catch {
        // A concurrent `nest build` removed files mid-copy: compile instead.
      }
      if (copied && before === snapshot(dist) && upToDate(out)) {
        return { mainJs: join(out, 'main.js'), how: 'copy of an up-to-date dist/', remove };
      }
      rmSync(out, { recursive: true, force: true });
    }
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const output = await new Promise<string>((resolve) => {
      execFile(
        process.execPath,
        [tsc, '-p', 'tsconfig.json', '--outDir', out, '--sourceMap', 'false'],
        { cwd: ROOT, timeout: 120_000, maxBuffer: 8 * 1024 * 1024 },
        // tsc emits despite type errors; a missing main.js below is the failure that matters.
        (error, stdout, stderr) => resolve(error ? `${error.message}\n${stdout}${stderr}` : ''),
      );
    });
    if (!existsSync(join(out, 'main.js'))) throw new Error(`tsc produced no main.js:\n${output}`);
    if (output) console.warn(`tsc reported problems (the build is used anyway):\n${output.slice(0, 2000)}`);
    return { mainJs: join(out, 'main.js'), how: 'fresh tsc build of src/', remove };
  } catch (error) {
    remove();
    throw error;
  }
}

export interface Reply {
  /** HTTP status, or 0 when no response came (refused, reset, timed out: see `error`). */
  status: number;
  body: unknown;
  headers: http.IncomingHttpHeaders;
  /** From sending the request to the end of the response (or the error). */
  ms: number;
  error?: string;
}

export interface CallOptions {
  cookie?: string;
  csrfToken?: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
  /**
   * A keep-alive agent to reuse connections; by default each request has a connection of its own,
   * closed after the response, so no idle socket outlives the test.
   */
  agent?: http.Agent | false;
  /** Called once the request has been written to the socket. */
  onSent?: () => void;
}

/** One HTTP request with a bounded wait; never rejects. */
export function call(baseUrl: string, method: string, path: string, options: CallOptions = {}): Promise<Reply> {
  const started = Date.now();
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const headers: Record<string, string> = { ...options.headers };
  if (options.cookie) headers.cookie = options.cookie;
  if (options.csrfToken) headers['x-csrf-token'] = options.csrfToken;
  if (payload !== undefined) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(Buffer.byteLength(payload));
  }
  return new Promise((resolve) => {
    let settled = false;
    const done = (reply: Omit<Reply, 'ms'>) => {
      if (settled) return;
      settled = true;
      resolve({ ...reply, ms: Date.now() - started });
    };
    const req = http.request(
      new URL(path, baseUrl),
      { method, headers, agent: options.agent ?? false, timeout: options.timeoutMs ?? 5000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => done({ status: 0, body: undefined, headers: {}, error: error.message }));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // not JSON: keep the text
          }
          done({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (error: NodeJS.ErrnoException) =>
      done({ status: 0, body: undefined, headers: {}, error: error.code ?? error.message }),
    );
    req.on('finish', () => options.onSent?.());
    req.end(payload);
  });
}

/** The `name=value` of the session cookie a reply set. */
export function cookieOf(reply: Reply): string {
  const setCookie = reply.headers['set-cookie'] ?? [];
  const cookie = setCookie.find((c) => !c.includes('Expires=Thu, 01 Jan 1970'));
  if (!cookie) throw new Error(`no session cookie in reply ${reply.status}: ${JSON.stringify(reply.body)}`);
  return cookie.split(';')[0];
}

export interface ServiceProcess {
  name: string;
  port: number;
  url: string;
  child: ChildProcess;
  /** stdout, line by line (the service logs one JSON object per line). */
  stdout: string[];
  stderr: string[];
  /** Parsed stdout lines (lines that are not JSON are kept as `{ raw }`). */
  logs(): Record<string, unknown>[];
  /** Resolves when the process has exited and its output has been read to the end. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  running(): boolean;
  /** SIGTERM, then SIGKILL after a bound; resolves once the process is gone. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function lines(stream: NodeJS.ReadableStream | null, into: string[]): void {
  let rest = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop() ?? '';
    into.push(...parts.filter((line) => line.length > 0));
  });
  stream?.on('end', () => {
    if (rest) into.push(rest);
  });
}

/**
 * Starts `node <mainJs>` on a free loopback port with exactly these variables (plus PATH, PORT,
 * HOST, NODE_ENV=test unless given) and waits until GET /health/live answers 200.
 */
export async function startService(mainJs: string, env: Record<string, string | undefined>, name = 'service') {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const child of live) child.kill('SIGKILL');
    });
  }
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [mainJs], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, NODE_ENV: 'test', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  const stdout: string[] = [];
  const stderr: string[] = [];
  lines(child.stdout, stdout);
  lines(child.stderr, stderr);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close', not 'exit': only then has all of the output been read.
    child.once('close', (code, signal) => {
      live.delete(child);
      resolve({ code, signal });
    });
    child.once('error', () => {
      live.delete(child);
      resolve({ code: null, signal: null });
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null && live.has(child);
  const stop = async () => {
    if (!running()) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await exited;
    clearTimeout(timer);
  };
  const service: ServiceProcess = {
    name,
    port,
    url,
    child,
    stdout,
    stderr,
    exited,
    running,
    stop,
    logs: () =>
      stdout.map((line) => {
        try {
          return JSON.parse(line) as Record<string, unknown>;
        } catch {
          return { raw: line };
        }
      }),
  };
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!running()) {
      throw new Error(
        `${name} exited during start-up (code ${child.exitCode}, signal ${child.signalCode}):\n` +
          [...stdout, ...stderr].slice(-20).join('\n'),
      );
    }
    const reply = await call(url, 'GET', '/health/live', { timeoutMs: 1000, agent: false });
    if (reply.status === 200) return service;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(
        `${name} did not answer /health/live within ${START_TIMEOUT_MS} ms:\n${stdout.slice(-20).join('\n')}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Stops every service process this module started that is still running (for afterAll). */
export async function stopAllServices(): Promise<void> {
  await Promise.all(
    [...live].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
          child.once('exit', () => {
            clearTimeout(timer);
            live.delete(child);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}
