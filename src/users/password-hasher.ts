import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Injectable, Logger, OnApplicationShutdown, OnModuleInit, ServiceUnavailableException } from '@nestjs/common';
import argon2 from 'argon2';
import bcrypt from 'bcrypt';
import { Clock } from '../common/clock';
import { AuthConfig } from '../config/config';
import { checkableHash, forNativeBcrypt, HashParams, parseProfile, profileName } from './password-hash-formats';
import { HashJob, HashWorker, HashWorkerExitedError, JobResult } from './password-hash-worker';

/**
 * argon2id at OWASP's minimum (19 MiB, 2 passes, 1 lane: one hash is one thread, so the bound
 * below counts threads). At most `passwordHashConcurrency` hashes run at once (default: one core
 * fewer than the machine has), in a child process at the lowest CPU priority (nice 19): a thread
 * of this process, even on libuv's pool, competes with the event loop as an equal, while the
 * kernel gives a niced one only the CPU nobody else wants. A login storm then slows logins, not
 * every other request.
 */
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

/** The timing profile of the hashes this service writes. */
export const OWN_PROFILE = profileName({
  algorithm: 'argon2id',
  version: 19,
  memoryCost: OPTIONS.memoryCost,
  timeCost: OPTIONS.timeCost,
  parallelism: OPTIONS.parallelism,
});

/** A profile nobody has been checked against for this long no longer sets the pace of failures. */
const PROFILE_TTL_MS = 24 * 3600_000;
/** A profile an import recorded is timed again once its estimate is this old (see calibrate). */
const CALIBRATION_TTL_MS = 12 * 3600_000;

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

interface Estimate {
  mean: number;
  deviation: number;
  seenAt: number;
}

/**
 * How long one check of each profile takes inside the worker, as TCP estimates a round trip
 * (RFC 6298: a moving mean with gain 1/8 and a moving mean deviation with gain 1/4): mean plus four
 * deviations is a time that few checks of that profile exceed. The first sample starts the
 * deviation at a quarter of itself, so a profile seen once is padded to twice its one sample.
 */
class CheckTimes {
  private readonly estimates = new Map<string, Estimate>();

  record(profile: string, ms: number, now: number): void {
    const estimate = this.estimates.get(profile);
    if (!estimate) {
      this.estimates.set(profile, { mean: ms, deviation: ms / 4, seenAt: now });
      return;
    }
    estimate.deviation += (Math.abs(ms - estimate.mean) - estimate.deviation) / 4;
    estimate.mean += (ms - estimate.mean) / 8;
    estimate.seenAt = now;
  }

  /** The longest time a check of any profile seen within PROFILE_TTL_MS takes; forgets the others. */
  slowest(now: number): number {
    let slowest = 0;
    for (const [profile, estimate] of this.estimates) {
      if (now - estimate.seenAt > PROFILE_TTL_MS) this.estimates.delete(profile);
      else slowest = Math.max(slowest, estimate.mean + 4 * estimate.deviation);
    }
    return slowest;
  }

  seenWithin(profile: string, now: number, ms: number): boolean {
    const estimate = this.estimates.get(profile);
    return estimate !== undefined && now - estimate.seenAt <= ms;
  }
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
  private readonly times = new CheckTimes();

  constructor(
    config: AuthConfig,
    private readonly clock: Clock,
  ) {
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
    return this.work(OWN_PROFILE, { op: 'hash', password }).then(({ value }) => value as string);
  }

  /**
   * False for a wrong password or a hash this service cannot check (an unknown format, or
   * parameters beyond the bounds of password-hash-formats.ts: never run); no slot in time, or a
   * worker that died during the check, is an error (503), not a wrong password.
   *
   * A false answer comes no sooner than the slowest check of any profile (algorithm and
   * parameters) seen in the last 24 hours takes, by sleeping the difference after the slot is
   * free: otherwise a wrong password for a user with an imported bcrypt hash (~60 ms at cost 10)
   * would answer later than one for an unknown user, whose dummy argon2id check takes ~25 ms, and
   * tell who exists and whose hash was imported. A right password is not held back: only who
   * knows it sees that time. What the times are made of is in CheckTimes; what this does not hide:
   * - a profile becomes known here at its first check, or when this instance calibrates it
   *   (UsersService: at start, after an import, and within a minute of another instance's import),
   *   so that first check, or one in that minute, answers at its own pace;
   * - an estimate moves only when its profile is checked: right after the load on the machine
   *   changes, a profile checked rarely keeps its old figure for a while;
   * - the sleep hides the work's duration, not its CPU: a watcher of this machine's load is not fooled.
   *
   * `padRight` pads a right password too: for an account that cannot log in, whose answer must not
   * tell a right password from a wrong one.
   */
  async verify(hash: string, password: string, { padRight = false } = {}): Promise<boolean> {
    const params = checkableHash(hash);
    const { value, ms } = params
      ? await this.work(profileName(params), { op: 'verify', hash: forNativeBcrypt(hash), password })
      : { value: false, ms: 0 };
    if (value !== true || padRight) await this.pause(this.times.slowest(this.clock.now()) - ms);
    return value === true;
  }

  /** The same work and time as a wrong password, for a username that does not exist. */
  async burn(password: string): Promise<false> {
    await this.verify(this.dummyHash, password);
    return false;
  }

  /** True unless the hash is this service's argon2id with the current parameters. */
  needsRehash(hash: string): boolean {
    if (!hash.startsWith('$argon2id$')) return true;
    try {
      return argon2.needsRehash(hash, OPTIONS);
    } catch {
      return true;
    }
  }

  /**
   * Times one hash of a profile (its cost is a check's cost), so that failed checks keep its pace
   * before any user of it has tried to log in here. Profile names are those of profileName().
   */
  async calibrate(profile: string): Promise<void> {
    const params = parseProfile(profile);
    if (!params) return;
    await this.work(profileName(params), { op: 'hash', password: randomBytes(16).toString('base64url'), params });
  }

  /** Whether calibrate() would tell something new: this profile is unknown here, or its figure old. */
  needsCalibration(profile: string): boolean {
    return !this.times.seenWithin(profile, this.clock.now(), CALIBRATION_TTL_MS);
  }

  /** The worker's process id, while one runs. */
  async workerPid(): Promise<number | undefined> {
    return (await this.worker)?.pid;
  }

  /** Starts the argon2 child process; a subclass may fail it to test the fallback. */
  protected startWorker(onExit: (how: string) => void): Promise<HashWorker> {
    return HashWorker.start(OPTIONS, this.slots, onExit);
  }

  /** Sleeps (a test double records the pause instead). */
  protected pause(ms: number): Promise<void> {
    return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
  }

  /** Runs a job in a hashing slot and adds its time to its profile's estimate. */
  private async work(profile: string, job: HashJob): Promise<JobResult> {
    const result = await this.limited(() => this.run(job));
    this.times.record(profile, result.ms, this.clock.now());
    return result;
  }

  /** One job in the worker, or in this process without one; a test double may change its time. */
  protected async run(job: HashJob): Promise<JobResult> {
    const worker = this.inProcess ? null : await (this.worker ??= this.spawn());
    if (!worker) return runHere(job);
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

/** The worker's program (password-hash-worker.ts) in this process, for when no worker can start. */
async function runHere(job: HashJob): Promise<JobResult> {
  const started = performance.now();
  const value =
    job.op === 'hash'
      ? await hashHere(job.password, job.params)
      : await (
          job.hash.startsWith('$2') ? bcrypt.compare(job.password, job.hash) : argon2.verify(job.hash, job.password)
        ).catch(() => false);
  return { value, ms: performance.now() - started };
}

function hashHere(password: string, params: HashParams | undefined): Promise<string> {
  if (!params) return argon2.hash(password, OPTIONS);
  if (params.algorithm === 'bcrypt') return bcrypt.hash(password, params.cost);
  const { algorithm, version, memoryCost, timeCost, parallelism } = params;
  return argon2.hash(password, { type: argon2[algorithm], version, memoryCost, timeCost, parallelism });
}
