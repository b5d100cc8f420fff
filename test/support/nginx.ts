import { ChildProcess, spawn } from 'node:child_process';
import { accessSync, chmodSync, constants, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { freePort } from './redis-server';

/**
 * A throwaway nginx for tests: its own master process with its own prefix, config, pid file, temp
 * folders and error log (stderr) in a temp folder, listening on a free loopback port. It never
 * touches /etc/nginx, /var/log/nginx or a system nginx, and is stopped by its own PID only.
 */

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
// Debian installs nginx in /usr/sbin, which a non-root PATH often lacks (scripts/system-deps.mjs looks there too).
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

export const GATEWAY_CONF = join(__dirname, 'nginx-gateway.conf');

export interface Nginx {
  port: number;
  url: string;
  pid: number;
  /** What nginx wrote to its error log so far. */
  errorLog(): string;
  /** SIGTERM (nginx's fast shutdown, which ends its workers), SIGKILL after a bound; removes its folder. */
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The nginx binary: NGINX_BIN, else `nginx` on PATH or in the sbin folders. */
export function nginxBinary(): string {
  const given = process.env.NGINX_BIN;
  const candidates = given
    ? [given]
    : [...(process.env.PATH ?? '').split(delimiter), ...SBIN_DIRS].filter(Boolean).map((dir) => join(dir, 'nginx'));
  const found = candidates.find(executable);
  if (found) return found;
  throw new Error(
    given
      ? `NGINX_BIN=${given} is not an executable file`
      : 'nginx is not installed (the gateway suite runs one): `npm test` installs it when run as root with ' +
          'apt-get (scripts/system-deps.mjs); otherwise run: sudo apt-get install -y nginx',
  );
}

/** Replaces every {{NAME}} of a template; a name without a value is an error, not an empty string. */
export function renderTemplate(template: string, values: Record<string, string>): string {
  return template.replace(/\{\{(\w+)\}\}/g, (_, name: string) => {
    if (!(name in values)) throw new Error(`no value for {{${name}}} in the nginx template`);
    return values[name];
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The PIDs of a process's children (its workers), from /proc; empty where /proc does not tell. */
function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Starts nginx with `serverConfig` (the inside of an http block: upstreams and servers; {{LISTEN}}
 * is filled in with the free port's address, the other {{NAMES}} from `values`) and resolves once
 * it accepts connections. Fails at once if nginx is missing or exits, and after 10 s otherwise.
 */
export async function startNginx(serverConfig: string, values: Record<string, string> = {}): Promise<Nginx> {
  const binary = nginxBinary();
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sess-nginx-'));
  // Started as root, nginx runs its workers as an unprivileged user, which must reach the temp folders.
  chmodSync(dir, 0o755);
  writeFileSync(join(dir, 'gateway.conf'), renderTemplate(serverConfig, { ...values, LISTEN: `127.0.0.1:${port}` }));
  // Every path nginx would otherwise take from its build (/run/nginx.pid, /var/lib/nginx/*,
  // /var/log/nginx/access.log) is set here, relative to the prefix (-p).
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'worker_processes 1;',
      'pid nginx.pid;',
      'events { worker_connections 256; }',
      'http {',
      '    access_log off;',
      '    client_body_temp_path temp/body;',
      '    proxy_temp_path temp/proxy;',
      '    fastcgi_temp_path temp/fastcgi;',
      '    uwsgi_temp_path temp/uwsgi;',
      '    scgi_temp_path temp/scgi;',
      '    include gateway.conf;',
      '}',
      '',
    ].join('\n'),
  );
  mkdirSync(join(dir, 'temp'));

  // -e: the error log goes to stderr from the first line on, never to the build's /var/log/nginx.
  const child = spawn(binary, ['-p', `${dir}/`, '-c', join(dir, 'nginx.conf'), '-e', 'stderr', '-g', 'daemon off;'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const stderr: string[] = [];
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.once('error', (error) => {
      stderr.push(`could not start ${binary}: ${error.message}\n`);
      resolve();
    });
  });
  const running = () => child.exitCode === null && child.signalCode === null && child.pid !== undefined;
  live.add(child);
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', killAllOnExit);
  }

  const stop = async () => {
    if (running()) {
      const workers = childrenOf(child.pid!);
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        // The master did not end its workers in time: end them and it, by their own PIDs.
        for (const pid of [...workers, ...childrenOf(child.pid!)]) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        child.kill('SIGKILL');
      }, STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    live.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!running()) {
      await exited;
      await stop();
      throw new Error(
        `nginx exited during start-up (code ${child.exitCode}, signal ${child.signalCode}):\n${stderr.join('')}`,
      );
    }
    if (await listening(port)) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${START_TIMEOUT_MS} ms:\n${stderr.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { port, url: `http://127.0.0.1:${port}`, pid: child.pid!, errorLog: () => stderr.join(''), stop };
}

/** Last resort when the test process exits without stop(): the masters end their own workers. */
function killAllOnExit(): void {
  for (const child of live) child.kill('SIGTERM');
}
