import { ChildProcess, spawn } from 'node:child_process';
import type { HashParams } from './password-hash-formats';

/** The worker's name in `ps`/`top` (and /proc/<pid>/comm, which keeps 15 characters). */
export const WORKER_TITLE = 'argon2-worker';

/**
 * The child's program, run with `node -e`: a source string rather than a file, so that the same
 * code runs from `nest build` output, a plain `tsc` build, the Docker image and Jest (which cannot
 * fork a .ts file) with nothing to copy. It lowers its own priority first, before it creates any
 * thread: Linux keeps a nice value per thread and a new thread inherits its creator's, so renicing
 * the threads Node has already started and then loading argon2 puts every hashing thread at 19,
 * with no window in which the parent's `setPriority(pid)` has not landed yet (bcrypt runs on the
 * same thread pool, which libuv starts at the first job, so it is at 19 too). It lives exactly as
 * long as its IPC channel: it ends when the parent lets go of it or dies, and ignores SIGINT and
 * SIGTERM, which a terminal or a service manager sends to the whole process group at once, so the
 * logins the service still finishes during its graceful shutdown are not cut short.
 */
const SOURCE = `'use strict';
process.title = ${JSON.stringify(WORKER_TITLE)};
const { readdirSync } = require('node:fs');
const os = require('node:os');
let niceError;
try {
  os.setPriority(0, 19);
  if (process.platform === 'linux') {
    for (const tid of readdirSync('/proc/self/task')) {
      try {
        if (Number(tid) !== process.pid) os.setPriority(Number(tid), 19);
      } catch (error) {
        if (error.code !== 'ESRCH') throw error; // a thread that has ended since the listing
      }
    }
  }
} catch (error) {
  niceError = String(error && (error.code || error.message));
}
const { performance } = require('node:perf_hooks');
const argon2 = require(process.env.ARGON2_MODULE);
const bcrypt = require(process.env.BCRYPT_MODULE);
const options = JSON.parse(process.env.ARGON2_OPTIONS);
const reply = (message) => {
  if (process.connected) process.send(message);
};
const hash = async (password, params) => {
  if (!params) return argon2.hash(password, options);
  if (params.algorithm === 'bcrypt') return bcrypt.hash(password, params.cost);
  const { algorithm, version, memoryCost, timeCost, parallelism } = params;
  return argon2.hash(password, { type: argon2[algorithm], version, memoryCost, timeCost, parallelism });
};
const verify = async (encoded, password) =>
  encoded.startsWith('$2') ? bcrypt.compare(password, encoded) : argon2.verify(encoded, password);
process.on('message', ({ id, op, hash: encoded, password, params }) => {
  // The parent sends no more jobs than this process has threads, so this times the work alone.
  const started = performance.now();
  const work = op === 'hash' ? hash(password, params) : verify(encoded, password).catch(() => false);
  work.then(
    (value) => reply({ id, value, ms: performance.now() - started }),
    (error) => reply({ id, error: String(error && error.message) }),
  );
});
process.on('disconnect', () => process.exit(0));
process.on('SIGINT', () => undefined);
process.on('SIGTERM', () => undefined);
reply({ ready: true, niceError });
`;

const READY_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 2000;

/**
 * A hash with the service's own argon2id parameters, or with `params` (to time a profile, see
 * PasswordHasher.calibrate); a check of an argon2 or bcrypt hash (`$2y$` already made `$2b$`).
 */
export type HashJob =
  { op: 'hash'; password: string; params?: HashParams } | { op: 'verify'; hash: string; password: string };

/** A job's answer, and how long its work took inside the worker (never the wait for a slot). */
export interface JobResult {
  value: string | boolean;
  ms: number;
}

type Reply = ({ id: number } & JobResult) | { id: number; error: string };
type Ready = { ready: true; niceError?: string };

/** The worker ended (killed, crashed, out of memory) while a job was in it. */
export class HashWorkerExitedError extends Error {}

interface Pending {
  resolve(result: JobResult): void;
  reject(error: Error): void;
}

/**
 * One argon2 child process. Jobs go over the IPC channel (never argv, env or stdio, so no password
 * shows in `ps` or a log); the child has no stdout and shares the parent's stderr for a crash trace.
 */
export class HashWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    /** Why the child could not lower its priority (EPERM, a platform without it), if it could not. */
    readonly niceError: string | undefined,
    onExit: (how: string) => void,
  ) {
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = true;
        const how = signal ? `killed by ${signal}` : `exited with code ${code}`;
        // First, so that a job the rejections below let start goes to a new worker, not this one.
        onExit(how);
        for (const job of this.pending.values()) job.reject(new HashWorkerExitedError(`argon2 worker ${how}`));
        this.pending.clear();
        resolve();
      });
    });
    child.on('message', (message: Reply) => {
      const job = this.pending.get(message.id);
      if (!job) return;
      this.pending.delete(message.id);
      this.idleUnlessBusy();
      if ('error' in message) job.reject(new Error(message.error));
      else job.resolve({ value: message.value, ms: message.ms });
    });
    // The worker must not keep a process alive that has nothing else to do, nor let it exit mid-job.
    child.unref();
    this.idleUnlessBusy();
  }

  /**
   * Starts a worker and waits until it can take jobs; rejects if it cannot start. `onExit` hears of
   * its end, whatever the cause, before the jobs still in it fail.
   */
  static start(argon2Options: object, threads: number, onExit: (how: string) => void): Promise<HashWorker> {
    return new Promise((resolve, reject) => {
      let child: ChildProcess;
      try {
        child = spawn(process.execPath, ['-e', SOURCE], {
          // Only what the child needs: no session secret or Redis password in its environment.
          env: {
            ...(process.env.SystemRoot ? { SystemRoot: process.env.SystemRoot } : {}),
            ARGON2_MODULE: require.resolve('argon2'),
            BCRYPT_MODULE: require.resolve('bcrypt'),
            ARGON2_OPTIONS: JSON.stringify(argon2Options),
            // Its thread pool runs nothing but hashes: exactly as many threads as may run at once.
            UV_THREADPOOL_SIZE: String(threads),
          },
          stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
          windowsHide: true,
        });
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
        return;
      }
      // Unheard, an 'error' (a failed kill or send) would throw; exit and send callbacks report those.
      child.on('error', () => undefined);
      const onError = (error: Error) => fail(error.message);
      const onEarlyExit = (code: number | null, signal: NodeJS.Signals | null) =>
        fail(signal ? `killed by ${signal}` : `exited with code ${code}`);
      const onReady = (message: Ready) => {
        settle();
        resolve(new HashWorker(child, message.niceError, onExit));
      };
      const settle = () => {
        clearTimeout(timer);
        child.off('error', onError).off('exit', onEarlyExit).off('message', onReady);
      };
      const fail = (why: string) => {
        settle();
        child.kill('SIGKILL');
        reject(new Error(`argon2 worker did not start: ${why}`));
      };
      const timer = setTimeout(() => fail(`not ready after ${READY_TIMEOUT_MS} ms`), READY_TIMEOUT_MS);
      child.on('error', onError).on('exit', onEarlyExit).on('message', onReady);
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  run(job: HashJob): Promise<JobResult> {
    if (this.exited || !this.child.connected) {
      return Promise.reject(new HashWorkerExitedError('argon2 worker has exited'));
    }
    const id = (this.nextId += 1);
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.channel?.ref();
      this.child.send({ id, ...job }, (error) => {
        if (!error || !this.pending.delete(id)) return;
        this.idleUnlessBusy();
        reject(new HashWorkerExitedError(`argon2 worker unreachable: ${error.message}`));
      });
    });
  }

  /** Ends the worker and waits until it has exited (SIGKILL if it has not within 2 s). */
  async stop(): Promise<void> {
    if (this.exited) return;
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    await this.exit;
    clearTimeout(timer);
  }

  private idleUnlessBusy(): void {
    if (this.pending.size === 0) this.child.channel?.unref();
  }
}
