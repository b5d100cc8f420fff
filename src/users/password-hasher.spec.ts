import { Logger, ServiceUnavailableException } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import argon2 from 'argon2';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { AuthConfig } from '../config/config';
import { HASHER_BUSY_MESSAGE, HASHER_INTERRUPTED_MESSAGE, PasswordHasher } from './password-hasher';
import { HashWorker, WORKER_TITLE } from './password-hash-worker';

/** The hasher with its wait bound set by the test: long where only the queue's length is under test. */
class Hasher extends PasswordHasher {
  constructor(
    slots: number,
    protected override readonly maxWaitMs = 60_000,
  ) {
    super(new AuthConfig({ loginMaxFailures: 5, loginWindowSeconds: 900, passwordHashConcurrency: slots }));
    made.push(this);
  }
}

/** A hasher on a platform where no child process can be started. */
class NoChildHasher extends Hasher {
  protected override startWorker(): Promise<HashWorker> {
    return Promise.reject(new Error('argon2 worker did not start: spawn EAGAIN'));
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
        {
          provide: AuthConfig,
          useValue: new AuthConfig({ loginMaxFailures: 5, loginWindowSeconds: 900, passwordHashConcurrency: 1 }),
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
