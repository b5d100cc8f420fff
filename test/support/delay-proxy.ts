import { ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, Server, Socket, connect } from 'node:net';

/**
 * A TCP proxy that plays the network between a Redis master and its replica, for failover tests.
 * On loopback a write's replication stream is in the replica's socket buffer before the client has
 * its reply, so killing the master never loses an acknowledged write. Routed through this proxy,
 * the replication stream (what a master sends on a connection that asked for PSYNC or SYNC) is
 * held for `delayMs`; everything else (clients, Sentinel) passes at once. `drop` is the machine
 * dying: what the proxy holds is thrown away, its connections are cut and new ones refused.
 *
 * It runs in a process of its own, so a busy test process cannot stretch the delay or let the
 * stream through before a drop.
 */

export interface ProxyRoute {
  /** Port the proxy listens on (127.0.0.1). */
  listen: number;
  /** Port of the Redis behind it (127.0.0.1). */
  target: number;
}

export interface DelayProxy {
  /** Holds the replication stream this long from now on (0: passes at once). */
  setDelay(ms: number): Promise<void>;
  /** Drops what the route listening on `listen` holds, cuts its connections and refuses new ones. */
  drop(listen: number): Promise<void>;
  stop(): Promise<void>;
}

type Request = { cmd: 'delay'; ms: number } | { cmd: 'drop'; listen: number };
type Command = Request & { id: number };

/** The child's side: started by startDelayProxy with the routes and the delay as JSON in argv. */
export function runDelayProxy(routes: ProxyRoute[], initialDelayMs: number): void {
  let delayMs = initialDelayMs;
  const servers = new Map<number, { server: Server; sockets: Set<Socket>; timers: Set<NodeJS.Timeout> }>();
  const listening = routes.map(
    (route) =>
      new Promise<void>((resolve, reject) => {
        const sockets = new Set<Socket>();
        const timers = new Set<NodeJS.Timeout>();
        const server = createServer((downstream) => {
          const upstream = connect(route.target, '127.0.0.1');
          sockets.add(downstream).add(upstream);
          let replication = false;
          downstream.on('data', (chunk: Buffer) => {
            // RESP: `*1\r\n$4\r\nSYNC\r\n` or `*3\r\n$5\r\nPSYNC\r\n...`, the replica asking for the stream.
            if (!replication && /\r\nP?SYNC\r\n/i.test(chunk.toString('latin1'))) replication = true;
            upstream.write(chunk);
          });
          upstream.on('data', (chunk: Buffer) => {
            if (!replication || delayMs === 0) {
              downstream.write(chunk);
              return;
            }
            const timer = setTimeout(() => {
              timers.delete(timer);
              downstream.write(chunk);
            }, delayMs);
            timers.add(timer);
          });
          for (const socket of [downstream, upstream]) {
            socket.on('error', () => undefined);
            socket.on('close', () => {
              sockets.delete(socket);
              downstream.destroy();
              upstream.destroy();
            });
          }
        });
        server.on('error', reject);
        server.listen(route.listen, '127.0.0.1', () => resolve());
        servers.set(route.listen, { server, sockets, timers });
      }),
  );
  process.on('message', (message: Command) => {
    if (message.cmd === 'delay') delayMs = message.ms;
    if (message.cmd === 'drop') {
      const route = servers.get(message.listen);
      if (route) {
        for (const timer of route.timers) clearTimeout(timer);
        route.server.close();
        for (const socket of route.sockets) socket.destroy();
      }
    }
    process.send?.({ id: message.id });
  });
  process.on('disconnect', () => process.exit(0));
  Promise.all(listening).then(
    () => process.send?.({ ready: true }),
    (error: Error) => process.send?.({ error: error.message }),
  );
}

let compiled: string | undefined;

/** This file as plain JavaScript, for the child: no build step, and the proxy stays type-checked. */
async function ownSource(): Promise<string> {
  if (compiled === undefined) {
    const { default: ts } = await import('typescript');
    compiled = ts.transpileModule(readFileSync(__filename, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022 },
    }).outputText;
  }
  return compiled;
}

/** Starts the proxy in a child process and resolves once every route listens. */
export async function startDelayProxy(routes: ProxyRoute[], delayMs: number): Promise<DelayProxy> {
  const main = `${await ownSource()}\nrunDelayProxy(${JSON.stringify(routes)}, ${delayMs});`;
  const child: ChildProcess = spawn(process.execPath, ['-e', main], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the delay proxy did not start within 10 s')), 10_000);
    child.once('exit', (code) => reject(new Error(`the delay proxy exited with ${code}`)));
    child.on('message', (message: { ready?: boolean; error?: string }) => {
      if (message.ready) resolve();
      if (message.error) reject(new Error(`the delay proxy could not listen: ${message.error}`));
      if (message.ready || message.error) clearTimeout(timer);
    });
  });
  let nextId = 0;
  const pending = new Map<number, () => void>();
  child.on('message', (message: { id?: number }) => {
    if (message.id !== undefined) pending.get(message.id)?.();
  });
  const send = (command: Request) =>
    new Promise<void>((resolve) => {
      const id = ++nextId;
      pending.set(id, () => {
        pending.delete(id);
        resolve();
      });
      child.send({ ...command, id });
    });
  return {
    setDelay: (ms) => send({ cmd: 'delay', ms }),
    drop: (listen) => send({ cmd: 'drop', listen }),
    stop: () =>
      new Promise<void>((resolve) => {
        process.off('exit', killOnExit);
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      }),
  };
}
