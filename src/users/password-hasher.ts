import { Injectable, Logger, OnApplicationShutdown, OnModuleInit, ServiceUnavailableException } from '@nestjs/common';
import argon2 from 'argon2';
import { AuthConfig } from '../config/config';
import { HashJob, HashWorker, HashWorkerExitedError } from './password-hash-worker';

/**
 * argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane: one hash is one thread, so the bound
 * below counts threads). At most `passwordHashConcurrency` hashes run at once (default: one core
 * fewer than the machine has), in a child process at the lowest CPU priority (nice 19): a thread
 * of this process, even on libuv's pool, competes with the event loop as an equal, while the
 * kernel gives a niced one only the CPU nobody else wants. A login storm then slows logins, not
 * every other request.
 */
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/**
 * A login waits for a hashing slot at most this long, then gets 503: a storm is answered, never
 * queued without end. At most WAITING_PER_SLOT wait per slot (~3 s of hashing at ~25 ms each); one
 * more is refused at once, so a flood is not even held that long.
 */
const MAX_WAIT_MS = 5000;
const WAITING_PER_SLOT = 128;

export const HASHER_BUSY_MESSAGE = 'Too many logins in progress, try again shortly';
export const HASHER_INTERRUPTED_MESSAGE = 'Password check interrupted, try again';

interface Waiter {
  start(): void;
  timer: NodeJS.Timeout;
}

@Injectable()
export class PasswordHasher implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(PasswordHasher.name);
  private readonly slots: number;
  private readonly maxWaiting: number;
  protected readonly maxWaitMs: number = MAX_WAIT_MS;
  private running = 0;
  private readonly waiting: Waiter[] = [];
  private dummyHash = '';
  private worker: Promise<HashWorker | null> | undefined;
  /** Set when no worker could be started, or after shutdown: hash in this process from then on. */
  private inProcess = false;
  private niceWarned = false;

  constructor(config: AuthConfig) {
    this.slots = config.passwordHashConcurrency;
    this.maxWaiting = WAITING_PER_SLOT * this.slots;
  }

  async onModuleInit(): Promise<void> {
    this.dummyHash = await this.hash('not a password anyone has');
  }

  /** Ends the worker; runs after the HTTP server has closed, so no login is cut short. */
  async onApplicationShutdown(): Promise<void> {
    this.inProcess = true;
    const worker = await this.worker;
    this.worker = undefined;
    await worker?.stop();
  }

  hash(password: string): Promise<string> {
    return this.limited(async () => (await this.run({ op: 'hash', password })) as string);
  }

  /**
   * False for a wrong password or a malformed hash; no slot in time, or a worker that died during
   * the check, is an error (503), not a wrong password.
   */
  verify(hash: string, password: string): Promise<boolean> {
    return this.limited(async () => (await this.run({ op: 'verify', hash, password })) as boolean);
  }

  /** The same work as a wrong password, for a username that does not exist. */
  async burn(password: string): Promise<false> {
    await this.verify(this.dummyHash, password);
    return false;
  }

  /** The worker's process id, while one runs. */
  async workerPid(): Promise<number | undefined> {
    return (await this.worker)?.pid;
  }

  /** Starts the argon2 child process; a subclass may fail it to test the fallback. */
  protected startWorker(onExit: (how: string) => void): Promise<HashWorker> {
    return HashWorker.start(OPTIONS, this.slots, onExit);
  }

  private async run(job: HashJob): Promise<string | boolean> {
    const worker = this.inProcess ? null : await (this.worker ??= this.spawn());
    if (!worker) {
      return job.op === 'hash'
        ? argon2.hash(job.password, OPTIONS)
        : argon2.verify(job.hash, job.password).catch(() => false);
    }
    try {
      return await worker.run(job);
    } catch (error) {
      if (error instanceof HashWorkerExitedError) throw new ServiceUnavailableException(HASHER_INTERRUPTED_MESSAGE);
      throw error;
    }
  }

  private async spawn(): Promise<HashWorker | null> {
    let worker: HashWorker;
    try {
      worker = await this.startWorker((how) => {
        // A stop at shutdown is no news; otherwise the next hash starts a new worker.
        if (this.inProcess) return;
        this.worker = undefined;
        this.logger.warn(`argon2 worker (pid ${worker.pid}) ${how}; a new one starts with the next password check`);
      });
    } catch (error) {
      this.logger.warn(
        `${error instanceof Error ? error.message : String(error)}; hashing passwords in this process instead, ` +
          'at the same priority as request handling',
      );
      this.inProcess = true;
      return null;
    }
    if (worker.niceError && !this.niceWarned) {
      this.niceWarned = true;
      this.logger.warn(
        `Could not lower the argon2 worker's CPU priority (${worker.niceError}); it runs at normal priority`,
      );
    }
    return worker;
  }

  private async limited<T>(work: () => Promise<T>): Promise<T> {
    if (this.running >= this.slots) await this.slot();
    else this.running += 1;
    try {
      return await work();
    } finally {
      // A finished hash hands its slot straight to the next waiter, so the bound holds exactly.
      const next = this.waiting.shift();
      if (next) next.start();
      else this.running -= 1;
    }
  }

  private slot(): Promise<void> {
    if (this.waiting.length >= this.maxWaiting) {
      return Promise.reject(new ServiceUnavailableException(HASHER_BUSY_MESSAGE));
    }
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          this.waiting.splice(this.waiting.indexOf(waiter), 1);
          reject(new ServiceUnavailableException(HASHER_BUSY_MESSAGE));
        }, this.maxWaitMs),
      };
      this.waiting.push(waiter);
    });
  }
}
