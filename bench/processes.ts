import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { createClient, RedisClientType } from 'redis';

/** Clock ticks per second of /proc/<pid>/stat's utime and stime. */
export const CLOCK_TICKS = ((): number => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** CPU time (user + system, all threads) a process has used so far, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name is in parentheses and may hold spaces: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
  return (ticks * 1e6) / CLOCK_TICKS;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface Managed {
  name: string;
  pid: number;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
  logTail(lines?: number): string;
}

const running = new Set<Managed>();

// Last resort when the harness dies: no process of ours outlives it.
process.on('exit', () => {
  for (const managed of running) managed.child.kill('SIGKILL');
});

/** Starts a process with its output in `<logDir>/<name>.log`; stop() sends SIGTERM, then SIGKILL after 5 s. */
export function startProcess(
  name: string,
  command: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; logDir: string },
): Managed {
  const logFile = join(options.logDir, `${name}.log`);
  const out = openSync(logFile, 'a');
  const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', out, out] });
  closeSync(out);
  if (child.pid === undefined) throw new Error(`could not start ${name} (${command})`);
  const managed: Managed = {
    name,
    pid: child.pid,
    child,
    logFile,
    stop: () =>
      new Promise<void>((resolve) => {
        running.delete(managed);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 5000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
    logTail: (lines = 30) => {
      try {
        return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
      } catch {
        return '';
      }
    },
  };
  running.add(managed);
  return managed;
}

export function exited(managed: Managed): boolean {
  return managed.child.exitCode !== null || managed.child.signalCode !== null;
}

export interface BenchRedis {
  url: string;
  process: Managed;
  /** The harness's own connection, for INFO and DBSIZE only. */
  client: RedisClientType;
  stop(): Promise<void>;
}

/** A throwaway redis-server of the bench on a free loopback port (never the Redis on 6379), without persistence. */
export async function startRedis(name: string, logDir: string, extraArgs: string[] = []): Promise<BenchRedis> {
  const port = await freePort();
  const dir = mkdtempSync(join(logDir, `${name}-data-`));
  const managed = startProcess(
    name,
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, ...extraArgs],
    { logDir },
  );
  const url = `redis://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    const client: RedisClientType = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 500 } });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.ping();
      return {
        url,
        process: managed,
        client,
        stop: async () => {
          client.destroy();
          await managed.stop();
        },
      };
    } catch {
      client.destroy();
      if (exited(managed) || Date.now() > deadline) {
        await managed.stop();
        throw new Error(`redis-server did not start on port ${port}:\n${managed.logTail()}`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

export type CommandCounts = Record<string, { calls: number; usec: number }>;

/** INFO commandstats as `{command: {calls, usec}}`. */
export async function commandStats(client: RedisClientType): Promise<CommandCounts> {
  const text = await client.info('commandstats');
  const counts: CommandCounts = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/.exec(line);
    if (match) counts[match[1]] = { calls: Number(match[2]), usec: Number(match[3]) };
  }
  return counts;
}

/** Calls per command between two snapshots, without the harness's own INFO. */
export function commandDelta(before: CommandCounts, after: CommandCounts): CommandCounts {
  const delta: CommandCounts = {};
  for (const [command, now] of Object.entries(after)) {
    if (command === 'info') continue;
    const calls = now.calls - (before[command]?.calls ?? 0);
    if (calls > 0) delta[command] = { calls, usec: now.usec - (before[command]?.usec ?? 0) };
  }
  return delta;
}
