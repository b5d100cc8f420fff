import { Logger, ServiceUnavailableException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import argon2 from 'argon2';
import bcrypt from 'bcrypt';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Clock } from '../common/clock';
import { AuthConfig } from '../config/config';
import { parseHash, profileName } from './password-hash-formats';
import { HASHER_BUSY_MESSAGE, HASHER_INTERRUPTED_MESSAGE, OWN_PROFILE, PasswordHasher } from './password-hasher';
import { HashJob, HashWorker, JobResult, WORKER_TITLE } from './password-hash-worker';

/** The hasher with its wait bound set by the test: long where only the queue's length is under test. */
class Hasher extends PasswordHasher {
  constructor(
    slots: number,
    protected override readonly maxWaitMs = 60_000,
  ) {
    super(
      new AuthConfig({
        loginMaxFailures: 5,
        loginWindowSeconds: 900,
        reauthWindowMs: 300_000,
        impersonationTimeoutMs: 900_000,
        passwordHashConcurrency: slots,
      }),
      new Clock(),
    );
    made.push(this);
  }
}

/** A hasher on a platform where no child process can be started. */
class NoChildHasher extends Hasher {
  protected override startWorker(): Promise<HashWorker> {
    return Promise.reject(new Error('argon2 worker did not start: spawn EAGAIN'));
  }
}

const HOUR = 3600_000;

/** A clock the test moves. */
class TestClock extends Clock {
  at = 1_700_000_000_000;

  override now(): number {
    return this.at;
  }
}

/** Well-formed hashes for the fake worker below (their content is never checked). */
const FAKE_ARGON2 = `$argon2id$v=19$m=19456,p=1,t=2$${'A'.repeat(22)}$${'B'.repeat(43)}`;
const FAKE_BCRYPT = (cost: number) => `$2b$${String(cost).padStart(2, '0')}$${'C'.repeat(53)}`;

/**
 * The hasher over a fake worker, so that padding is tested with exact figures instead of timings:
 * the password "right" is right, a job of a profile takes the time `costs` gives it (25 ms when
 * not given), and a pause is recorded instead of slept.
 */
class TimedHasher extends PasswordHasher {
  readonly jobs: HashJob[] = [];
  /** Each failed check: the work the worker reported and the pause added to it. */
  readonly failures: { work: number; pause: number }[] = [];
  private lastWork = 0;

  constructor(
    clock: Clock,
    private readonly costs: Record<string, number> = {},
  ) {
    super(
      new AuthConfig({
        loginMaxFailures: 5,
        loginWindowSeconds: 900,
        reauthWindowMs: 300_000,
        impersonationTimeoutMs: 900_000,
        passwordHashConcurrency: 1,
      }),
      clock,
    );
  }

  override verify(hash: string, password: string, options?: { padRight?: boolean }): Promise<boolean> {
    this.lastWork = 0;
    return super.verify(hash, password, options);
  }

  protected override run(job: HashJob): Promise<JobResult> {
    this.jobs.push(job);
    const profile =
      job.op === 'hash' ? (job.params ? profileName(job.params) : OWN_PROFILE) : profileName(parseHash(job.hash)!);
    this.lastWork = this.costs[profile] ?? 25;
    const value = job.op === 'hash' ? FAKE_ARGON2 : job.password === 'right';
    return Promise.resolve({ value, ms: this.lastWork });
  }

  protected override pause(ms: number): Promise<void> {
    this.failures.push({ work: this.lastWork, pause: ms });
    return Promise.resolve();
  }

  /** How long each failed check answered after its slot was free. */
  totals(): number[] {
    return this.failures.map((f) => f.work + Math.max(0, f.pause));
  }
}

/** argon2id parameters far below the service's, for tests of the queue rather than of the hash. */
const CHEAP = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

/** Every hasher a test made, each stopped after all tests so that no worker outlives the run. */
const made: PasswordHasher[] = [];
const onLinux = process.platform === 'linux' ? it : it.skip;

describe('PasswordHasher', () => {
  const hasher = new Hasher(2);
  let hash: string;

  beforeAll(async () => {
    await hasher.onModuleInit();
    hash = await hasher.hash('correct horse battery staple');
  });

  afterAll(async () => {
    await Promise.all(made.map((h) => h.onApplicationShutdown()));
  });

  it('hashes with argon2id, one lane, and a fresh salt each time', async () => {
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(hash).not.toContain('correct horse');
    expect(await hasher.hash('correct horse battery staple')).not.toBe(hash);
  });

  it('verifies the right password', async () => {
    expect(await hasher.verify(hash, 'correct horse battery staple')).toBe(true);
  });

  it('refuses a wrong password', async () => {
    expect(await hasher.verify(hash, 'correct horse battery stapler')).toBe(false);
    expect(await hasher.verify(hash, '')).toBe(false);
  });

  it('answers false, not an error, for a hash that is not argon2', async () => {
    expect(await hasher.verify('not-a-hash', 'correct horse battery staple')).toBe(false);
  });

  it('burns a verification for an unknown user and answers false', async () => {
    await expect(hasher.burn('correct horse battery staple')).resolves.toBe(false);
  });

  it('answers every one of several verifications started at once correctly', async () => {
    const passwords = ['correct horse battery staple', 'wrong', 'correct horse battery staple', 'also wrong'];
    const results = await Promise.all([...passwords, ...passwords.slice(0, 2)].map((p) => hasher.verify(hash, p)));
    expect(results).toEqual([true, false, true, false, true, false]);
  });

  it('with 1 slot, lets 128 logins wait and refuses the next at once with 503, then serves again', async () => {
    const slots = 1;
    const busy = new Hasher(slots);
    const accepted = slots + 128 * slots;
    // The queue is under test, not the cost: 130 checks at the service's cost, one at a time in a
    // nice-19 worker, can outlast the test's timeout on a busy machine. verify() takes the cost from
    // the hash, so these run on a cheap argon2id hash (1 MiB, one pass) through the same queue.
    const cheap = await argon2.hash('correct horse battery staple', { ...CHEAP, type: argon2.argon2id });
    const outcomes = Array.from({ length: accepted + 2 }, (_, i) =>
      busy.verify(cheap, i % 2 ? 'wrong' : 'correct horse battery staple').then(
        (ok) => ({ ok }),
        (error: unknown) => ({ error }),
      ),
    );
    // The two beyond the queue are refused before any hash has finished.
    await expectBusy(outcomes[accepted]);
    await expectBusy(outcomes[accepted + 1]);

    const settled = await Promise.all(outcomes.slice(0, accepted));
    expect(settled).toEqual(Array.from({ length: accepted }, (_, i) => ({ ok: i % 2 === 0 })));
    // A refusal does not wedge the queue: the next login is served.
    await expect(busy.verify(cheap, 'correct horse battery staple')).resolves.toBe(true);
  });

  it('refuses a login that waited longer than its bound for a slot, and the queue moves on', async () => {
    // A 1 ms bound: no argon2id hash at 19 MiB finishes that fast, so every waiter runs out of time.
    const impatient = new Hasher(1, 1);
    const first = impatient.verify(hash, 'correct horse battery staple');
    const waiters = [impatient.verify(hash, 'wrong'), impatient.hash('another password')];
    for (const waiter of waiters) await expectBusy(waiter);
    await expect(first).resolves.toBe(true);
    await expect(impatient.verify(hash, 'correct horse battery staple')).resolves.toBe(true);
  });

  onLinux('hashes in a child process whose every thread runs at the lowest CPU priority (nice 19)', async () => {
    const pid = (await hasher.workerPid()) as number;
    expect(pid).not.toBe(process.pid);
    expect(childProcesses()).toContain(pid);
    expect(niceOf(`/proc/${pid}/stat`)).toBe(19);
    // The hashes above ran on the child's thread pool: those threads, and every other, are niced too.
    const threads = readdirSync(`/proc/${pid}/task`);
    expect(threads.length).toBeGreaterThan(1);
    expect(threads.map((tid) => niceOf(`/proc/${pid}/task/${tid}/stat`))).toEqual(threads.map(() => 19));
    expect(niceOf(`/proc/${process.pid}/stat`)).not.toBe(19);
  });

  onLinux('fails the check in flight with 503 when the worker dies, and starts a new one for the next', async () => {
    const restarted = new Hasher(1);
    await expect(restarted.verify(hash, 'correct horse battery staple')).resolves.toBe(true);
    const first = (await restarted.workerPid()) as number;
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const inFlight = restarted.verify(hash, 'correct horse battery staple');
      process.kill(first, 'SIGKILL');
      await expectUnavailable(inFlight, HASHER_INTERRUPTED_MESSAGE);
      // The job can fail on the closed channel a moment before the process's exit is reported: wait
      // for that report (up to 10 s, so that a loaded machine cannot outlast the wait).
      for (let i = 0; i < 500 && warn.mock.calls.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(warn).toHaveBeenCalledWith(expect.stringContaining(`argon2 worker (pid ${first}) killed by SIGKILL`));
    } finally {
      warn.mockRestore();
    }
    expect(childProcesses()).not.toContain(first);

    await expect(restarted.verify(hash, 'correct horse battery staple')).resolves.toBe(true);
    await expect(restarted.verify(hash, 'wrong')).resolves.toBe(false);
    const second = (await restarted.workerPid()) as number;
    expect(second).not.toBe(first);
    expect(childProcesses()).toContain(second);
  });

  onLinux('leaves no worker behind when the application shuts down', async () => {
    const moduleRef = await Test.createTestingModule({
      providers: [
        PasswordHasher,
        Clock,
        {
          provide: AuthConfig,
          useValue: new AuthConfig({
            loginMaxFailures: 5,
            loginWindowSeconds: 900,
            reauthWindowMs: 300_000,
            impersonationTimeoutMs: 900_000,
            passwordHashConcurrency: 1,
          }),
        },
      ],
    }).compile();
    await moduleRef.init();
    const appHasher = moduleRef.get(PasswordHasher);
    const pid = (await appHasher.workerPid()) as number;
    expect(childProcesses()).toContain(pid);

    await moduleRef.close();
    expect(childProcesses()).not.toContain(pid);
    expect(existsSync(`/proc/${pid}`)).toBe(false);
    // A check that comes after shutdown is still answered, in this process, without a new child.
    await expect(appHasher.verify(hash, 'correct horse battery staple')).resolves.toBe(true);
    expect(await appHasher.workerPid()).toBeUndefined();
    expect(childProcesses()).not.toContain(pid);
  });

  it('hashes in this process, with one warning, when no worker can be started', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    try {
      const fallback = new NoChildHasher(1);
      const own = await fallback.hash('correct horse battery staple');
      expect(own).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
      await expect(fallback.verify(own, 'correct horse battery staple')).resolves.toBe(true);
      await expect(fallback.verify(hash, 'wrong')).resolves.toBe(false);
      await expect(fallback.verify('not-a-hash', 'wrong')).resolves.toBe(false);
      expect(await fallback.workerPid()).toBeUndefined();
      expect(warn).toHaveBeenCalledTimes(1);
      expect(warn.mock.calls[0][0]).toContain('spawn EAGAIN; hashing passwords in this process instead');
      expect(JSON.stringify(warn.mock.calls)).not.toContain('correct horse');
    } finally {
      warn.mockRestore();
    }
  });

  describe('imported hashes', () => {
    it('verifies bcrypt hashes made by the bcrypt package, $2a$, $2b$ and $2y$ alike', async () => {
      const b = await bcrypt.hash('imported password', 4);
      const a = await bcrypt.hash('imported password', await bcrypt.genSalt(4, 'a'));
      expect([b.slice(0, 4), a.slice(0, 4)]).toEqual(['$2b$', '$2a$']);
      for (const hashed of [b, a, `$2y$${b.slice(4)}`]) {
        expect(await hasher.verify(hashed, 'imported password')).toBe(true);
        expect(await hasher.verify(hashed, 'imported passwore')).toBe(false);
      }
    });

    it('verifies a $2y$ hash made by PHP, which native bcrypt alone would refuse', async () => {
      // The example of PHP's password_verify() documentation.
      const php = '$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a';
      expect(await bcrypt.compare('rasmuslerdorf', php)).toBe(false);
      expect(await hasher.verify(php, 'rasmuslerdorf')).toBe(true);
      expect(await hasher.verify(php, 'rasmuslerdorF')).toBe(false);
    });

    it('verifies argon2i and argon2id hashes of other parameters, written in either parameter order', async () => {
      const i = await argon2.hash('imported password', { type: argon2.argon2i, memoryCost: 4096, timeCost: 3 });
      const id = await argon2.hash('imported password', { ...CHEAP, type: argon2.argon2id });
      const reordered = id.replace(/m=(\d+),p=(\d+),t=(\d+)/, 'm=$1,t=$3,p=$2');
      expect(reordered).not.toBe(id);
      for (const hashed of [i, id, reordered]) {
        expect(await hasher.verify(hashed, 'imported password')).toBe(true);
        expect(await hasher.verify(hashed, 'wrong')).toBe(false);
      }
    });

    it('verifies bcrypt in this process too when no worker can be started', async () => {
      const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
      try {
        const fallback = new NoChildHasher(1);
        const hashed = await bcrypt.hash('imported password', 4);
        await expect(fallback.verify(`$2y$${hashed.slice(4)}`, 'imported password')).resolves.toBe(true);
        await expect(fallback.verify(hashed, 'wrong')).resolves.toBe(false);
        await fallback.calibrate('bcrypt:4');
        expect(fallback.needsCalibration('bcrypt:4')).toBe(false);
        expect(await fallback.workerPid()).toBeUndefined();
      } finally {
        warn.mockRestore();
      }
    });

    it('needs a rehash for every hash but its own argon2id with the current parameters', async () => {
      expect(hasher.needsRehash(hash)).toBe(false);
      expect(hasher.needsRehash(await bcrypt.hash('x', 4))).toBe(true);
      expect(hasher.needsRehash(await argon2.hash('x', { ...CHEAP, type: argon2.argon2id }))).toBe(true);
      // argon2's own needsRehash compares the parameters only, not the variant.
      const argon2i = await argon2.hash('x', { type: argon2.argon2i, memoryCost: 19_456, timeCost: 2, parallelism: 1 });
      expect(argon2.needsRehash(argon2i, { memoryCost: 19_456, timeCost: 2, parallelism: 1 })).toBe(false);
      expect(hasher.needsRehash(argon2i)).toBe(true);
      expect(hasher.needsRehash('$argon2id$garbage')).toBe(true);
    });

    it('times a profile in the worker when asked to calibrate it', async () => {
      expect(hasher.needsCalibration('bcrypt:5')).toBe(true);
      await hasher.calibrate('bcrypt:5');
      expect(hasher.needsCalibration('bcrypt:5')).toBe(false);
    });
  });

  describe('time of a failed check', () => {
    it('answers a wrong password, or an unknown user, no sooner than the slowest profile seen; a right one at once', async () => {
      const timed = new TimedHasher(new TestClock(), { 'bcrypt:10': 60 });
      await timed.onModuleInit(); // the dummy hash: one argon2id job of 25 ms

      expect(await timed.verify(FAKE_ARGON2, 'wrong')).toBe(false);
      expect(await timed.verify(FAKE_BCRYPT(10), 'wrong')).toBe(false);
      expect(await timed.verify(FAKE_ARGON2, 'wrong')).toBe(false);
      expect(await timed.burn('anything')).toBe(false);
      expect(await timed.verify(FAKE_BCRYPT(10), 'right')).toBe(true);
      expect(await timed.verify(FAKE_ARGON2, 'right')).toBe(true);

      // Before any bcrypt check, argon2id's own pace: mean 25 + 4 × deviation 4.6875 (two samples).
      // From then on bcrypt's, 60 + 4 × 15, for argon2id failures and unknown users alike.
      expect(timed.failures).toEqual([
        { work: 25, pause: 18.75 },
        { work: 60, pause: 60 },
        { work: 25, pause: 95 },
        { work: 25, pause: 95 },
      ]);
      expect(timed.totals()).toEqual([43.75, 120, 120, 120]);
    });

    it('pads a right password too when asked (an account that cannot log in)', async () => {
      const timed = new TimedHasher(new TestClock(), { 'bcrypt:10': 60 });
      await timed.verify(FAKE_BCRYPT(10), 'wrong');
      expect(await timed.verify(FAKE_ARGON2, 'right', { padRight: true })).toBe(true);
      expect(await timed.verify(FAKE_ARGON2, 'wrong', { padRight: true })).toBe(false);
      expect(timed.totals()).toEqual([120, 120, 120]);
    });

    it('follows each profile as its checks get faster or slower', async () => {
      const costs = { 'bcrypt:10': 60 };
      const timed = new TimedHasher(new TestClock(), costs);
      for (let i = 0; i < 40; i += 1) await timed.verify(FAKE_BCRYPT(10), 'right');
      await timed.verify(FAKE_ARGON2, 'wrong');
      // Steady at 60 ms: the deviation has decayed, so the pace is close to 60, never below it.
      const steady = timed.totals().at(-1)!;
      expect(steady).toBeGreaterThanOrEqual(60);
      expect(steady).toBeLessThan(61);

      costs['bcrypt:10'] = 90; // the machine got busier
      for (let i = 0; i < 20; i += 1) await timed.verify(FAKE_BCRYPT(10), 'right');
      await timed.verify(FAKE_ARGON2, 'wrong');
      expect(timed.totals().at(-1)).toBeGreaterThan(85);
    });

    it('forgets a profile nobody was checked against for 24 hours', async () => {
      const clock = new TestClock();
      const timed = new TimedHasher(clock, { 'bcrypt:12': 240 });
      await timed.verify(FAKE_BCRYPT(12), 'right');
      await timed.verify(FAKE_ARGON2, 'wrong');
      clock.at += 24 * HOUR - 1;
      await timed.verify(FAKE_ARGON2, 'wrong');
      clock.at += 2;
      await timed.verify(FAKE_ARGON2, 'wrong');
      const [first, withinDay, afterDay] = timed.totals();
      expect([first, withinDay]).toEqual([480, 480]);
      expect(afterDay).toBeLessThan(50);
    });

    it('keeps the pace of a calibrated profile before anyone of it has logged in, and calibrates again after 12 hours', async () => {
      const clock = new TestClock();
      const timed = new TimedHasher(clock, { 'bcrypt:12': 240 });
      expect(timed.needsCalibration('bcrypt:12')).toBe(true);
      await timed.calibrate('bcrypt:12');
      expect(timed.jobs).toEqual([
        { op: 'hash', password: expect.stringMatching(/^[\w-]{22}$/), params: { algorithm: 'bcrypt', cost: 12 } },
      ]);
      expect(timed.needsCalibration('bcrypt:12')).toBe(false);
      await timed.burn('anything'); // no dummy hash made: no work, only the pause
      expect(timed.failures).toEqual([{ work: 0, pause: 480 }]);

      clock.at += 12 * HOUR + 1;
      expect(timed.needsCalibration('bcrypt:12')).toBe(true);
      await timed.calibrate('bcrypt:12');
      // Not a profile this service would check: nothing to time.
      await timed.calibrate('bcrypt:15');
      await timed.calibrate('md5');
      expect(timed.jobs).toHaveLength(2);
      expect(timed.needsCalibration('bcrypt:12')).toBe(false);
    });

    it('never runs a hash beyond the bounds (or not a hash), and answers it as a wrong password', async () => {
      const timed = new TimedHasher(new TestClock(), { 'bcrypt:10': 60 });
      await timed.verify(FAKE_BCRYPT(10), 'wrong');
      const ran = timed.jobs.length;
      for (const stored of [FAKE_BCRYPT(15), FAKE_BCRYPT(31), 'not-a-hash', '']) {
        expect(await timed.verify(stored, 'right')).toBe(false);
      }
      expect(timed.jobs).toHaveLength(ran);
      expect(timed.totals()).toEqual([120, 120, 120, 120, 120]);
    });
  });
});

/** This process's argon2 workers, alive (not yet reaped) right now. */
function childProcesses(): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        return Number(fields[4 - 3]) === process.pid && stat.includes(`(${WORKER_TITLE})`);
      } catch {
        return false; // exited while we looked
      }
    })
    .map(Number);
}

/** Field 19 of /proc/<pid>/stat; field 2 (the name) may hold spaces, so count from its closing parenthesis. */
function niceOf(statPath: string): number {
  const stat = readFileSync(statPath, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19 - 3]);
}

async function expectUnavailable(outcome: Promise<unknown>, message: string): Promise<void> {
  const error = await outcome.then(
    (value: unknown) => value,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ServiceUnavailableException);
  expect((error as ServiceUnavailableException).getStatus()).toBe(503);
  expect((error as ServiceUnavailableException).message).toBe(message);
}

async function expectBusy(outcome: Promise<unknown>): Promise<void> {
  const error = await outcome.then(
    (value: unknown) => (value && typeof value === 'object' && 'error' in value ? value.error : value),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ServiceUnavailableException);
  expect((error as ServiceUnavailableException).getStatus()).toBe(503);
  expect((error as ServiceUnavailableException).message).toBe(HASHER_BUSY_MESSAGE);
}
