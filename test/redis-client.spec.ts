import { jest } from '@jest/globals';
import { createClient, TimeoutError } from 'redis';
import { startRedisServer, RedisServer } from './support/redis-server';
import { redisEnv, uniquePrefix } from './support/test-app';
import { loadConfig, RedisConfig } from '../src/config/config';
import { COMMAND_QUEUE_MAX, COMMAND_TIMEOUT_MS, RedisClient, redisClientProvider } from '../src/redis/redis-client';
import { runScript, script } from '../src/redis/redis-scripts';
import { isStoreUnavailable } from '../src/redis/store-errors';

/**
 * The service's Redis client against a Redis that accepts the command and never answers: every
 * call fails within the deadline with an error the service answers 503, the late replies harm
 * nothing, and the client works again once Redis does. Real redis-servers only.
 */

/**
 * How long a bounded call may take: the deadline fires 1.0-1.1 s after the call (1 s, checked
 * every 100 ms); this is several times that, so a loaded machine cannot eat the margin. Without the
 * deadline a call to a Redis that does not answer never settles (the test's 30 s timeout ends it).
 */
const BOUND_MS = 5 * COMMAND_TIMEOUT_MS;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const connect = (config: RedisConfig) =>
  (redisClientProvider as { useFactory(c: RedisConfig): Promise<RedisClient> }).useFactory(config);

const COUNT = script(`return redis.call('HINCRBY', KEYS[1], 'n', 1)`);

/** Settles `call` and says how: the value or the error, and after how long. */
async function timed<T>(call: () => Promise<T>): Promise<{ value?: T; error?: unknown; ms: number }> {
  const started = performance.now();
  try {
    const value = await call();
    return { value, ms: performance.now() - started };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

function expectTimedOut(outcome: { error?: unknown; ms: number }): void {
  expect(outcome.error).toBeInstanceOf(TimeoutError);
  expect(isStoreUnavailable(outcome.error)).toBe(true);
  // Not before the deadline (no false 503 from a slow but live Redis; load only makes it later),
  // and within the bound.
  expect(outcome.ms).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 50);
  expect(outcome.ms).toBeLessThan(BOUND_MS);
}

// A late reply or a dropped connection must never surface as an unhandled rejection.
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(() => {
  expect(unhandled).toEqual([]);
  unhandled.length = 0;
});

describe('redis client: a Redis that stops answering (SIGSTOP)', () => {
  let server: RedisServer;
  let client: RedisClient;
  let stopped = false;
  const pause = () => {
    server.process.kill('SIGSTOP');
    stopped = true;
  };
  const resume = () => {
    server.process.kill('SIGCONT');
    stopped = false;
  };

  beforeEach(async () => {
    server = await startRedisServer();
    client = await connect(new RedisConfig({ topology: { kind: 'standalone', url: server.url }, keyPrefix: 'sess:' }));
  });

  afterEach(async () => {
    if (stopped) resume();
    await client.close().catch(() => undefined);
    await server.stop();
  });

  it('fails every command within the bound with a 503 error, and serves again once Redis answers', async () => {
    await client.hSet('h', { a: '1' });
    await runScript(client, COUNT, ['c'], []);
    pause();
    const outcomes = await Promise.all([
      timed(() => client.hGetAll('h')),
      timed(() => client.get('k')),
      timed(() => client.zAdd('z', { score: 1, value: 'm' })),
      timed(() => runScript(client, COUNT, ['c'], [])),
    ]);
    outcomes.forEach(expectTimedOut);

    resume();
    // The replies to the timed-out commands come first on the connection; they are dropped.
    await expect(client.hGetAll('h')).resolves.toEqual({ a: '1' });
    // The writes timed out for their callers but reached Redis: a 503 means "unknown", not "not done".
    await expect(runScript<number>(client, COUNT, ['c'], [])).resolves.toBe(3);
    await expect(client.zScore('z', 'm')).resolves.toBe(1);
  });

  it('bounds commands sent while earlier ones are still waiting, each from its own start', async () => {
    pause();
    const first = timed(() => client.get('a'));
    await sleep(500);
    const second = timed(() => client.get('b'));
    expectTimedOut(await first);
    expectTimedOut(await second);
    resume();
    await expect(client.ping()).resolves.toBe('PONG');
  });

  it('holds at most COMMAND_QUEUE_MAX unanswered commands, then refuses more at once with a 503 error', async () => {
    pause();
    let heldSettled = 0;
    const held = Array.from({ length: COMMAND_QUEUE_MAX }, (_, i) =>
      timed(() => client.get(`k${i}`)).finally(() => heldSettled++),
    );
    const refused = await timed(() => client.get('one-more'));
    // Refused at once: before the deadline fired for the held commands (sent just before it, so
    // they all wait for the same deadline), and by the queue's bound, not by the deadline. Without
    // commandsQueueMaxLength it would be held too, and fail with them on the deadline's TimeoutError.
    expect(heldSettled).toBe(0);
    expect(refused.error).not.toBeInstanceOf(TimeoutError);
    expect((refused.error as Error | undefined)?.message).toBe('The queue is full');
    expect(isStoreUnavailable(refused.error)).toBe(true);
    const outcomes = await Promise.all(held);
    expect(outcomes.every((o) => o.error instanceof TimeoutError)).toBe(true);
    resume();
    // Redis answers the held commands (dropped, their callers are gone), then serves again: the ping
    // is answered after those replies, however long a loaded machine takes to read them.
    await expect(pingUntilAnswered(client, 10 * BOUND_MS)).resolves.toBe('PONG');
  });

  it('closes within the bound while a command waits for a reply that does not come', async () => {
    pause();
    const pending = timed(() => client.get('k'));
    const closed = await timed(() => client.close());
    expect(closed.error).toBeUndefined();
    expect(closed.ms).toBeLessThan(BOUND_MS);
    expect(isStoreUnavailable((await pending).error)).toBe(true);
  });
});

describe("redis client on this run's topology", () => {
  let client: RedisClient;
  const prefix = uniquePrefix();
  const tag = `{${prefix}}`;

  beforeAll(async () => {
    client = await connect(loadConfig({ NODE_ENV: 'test', ...redisEnv() }).redis);
  });

  afterAll(async () => {
    await client.del([`${tag}h`, `${tag}c`]);
    await client.close();
  });

  it('allocates no timer per command, unlike node-redis with its own command timeout', async () => {
    const timeouts = jest.spyOn(AbortSignal, 'timeout');
    try {
      await client.hSet(`${tag}h`, { a: '1' });
      await client.hGetAll(`${tag}h`);
      await runScript(client, COUNT, [`${tag}c`], []);
      expect(timeouts).not.toHaveBeenCalled();

      // The control: the spy does see node-redis's own per-command timer when it is on.
      const url = process.env.TEST_REDIS_URL;
      if (url) {
        const own = createClient({ url, commandOptions: { timeout: COMMAND_TIMEOUT_MS } });
        await own.connect();
        await own.ping();
        await own.close();
        expect(timeouts).toHaveBeenCalled();
      }
    } finally {
      timeouts.mockRestore();
    }
  });

  it('fails a write to a master that holds writes (CLIENT PAUSE) within the bound, then writes again', async () => {
    const masters = await masterAddresses();
    const admins = await Promise.all(
      masters.map(async (url) => {
        const admin = createClient({ url });
        admin.on('error', () => undefined);
        await admin.connect();
        return admin;
      }),
    );
    try {
      // WRITE mode: the Sentinels' PINGs still get answers, so no failover starts meanwhile. The
      // pause lasts until both calls have timed out (UNPAUSE below), however late that is on a
      // loaded machine; its own limit only ends it should this test die before the UNPAUSE.
      await Promise.all(admins.map((admin) => admin.sendCommand(['CLIENT', 'PAUSE', String(2 * BOUND_MS), 'WRITE'])));
      const [write, scripted] = await Promise.all([
        timed(() => client.hSet(`${tag}h`, { b: '2' })),
        timed(() => runScript(client, COUNT, [`${tag}c`], [])),
      ]);
      expectTimedOut(write);
      expectTimedOut(scripted);
    } finally {
      await Promise.all(admins.map((admin) => admin.sendCommand(['CLIENT', 'UNPAUSE'])));
      await Promise.all(admins.map((admin) => admin.close()));
    }
    await expect(client.hSet(`${tag}h`, { c: '3' })).resolves.toBeGreaterThanOrEqual(0);
    await expect(client.hGetAll(`${tag}h`)).resolves.toMatchObject({ a: '1', c: '3' });
  });
});

/** redis:// URLs of the nodes that take writes in this run's topology (every cluster node: pausing a replica is harmless). */
async function masterAddresses(): Promise<string[]> {
  const env = redisEnv();
  if (env.REDIS_URL) return [env.REDIS_URL];
  if (env.REDIS_CLUSTER_NODES) return env.REDIS_CLUSTER_NODES.split(',').map((node) => `redis://${node}`);
  const sentinel = createClient({ url: `redis://${(env.REDIS_SENTINELS ?? '').split(',')[0]}` });
  await sentinel.connect();
  try {
    const [host, port] = await sentinel.sendCommand<[string, string]>([
      'SENTINEL',
      'GET-MASTER-ADDR-BY-NAME',
      env.REDIS_SENTINEL_NAME ?? '',
    ]);
    return [`redis://${host}:${port}`];
  } finally {
    await sentinel.close();
  }
}

/**
 * PING until Redis answers; meanwhile a try may be refused (queue still full) or time out (behind
 * the late replies). Fails with the last error after `boundMs`, or at once on any other error.
 */
async function pingUntilAnswered(client: RedisClient, boundMs: number): Promise<string> {
  const giveUpAt = Date.now() + boundMs;
  for (;;) {
    try {
      return await client.ping();
    } catch (error) {
      if (!isStoreUnavailable(error) || Date.now() > giveUpAt) throw error;
    }
    await sleep(50);
  }
}
