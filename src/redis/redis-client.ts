import { Inject, Logger, Provider } from '@nestjs/common';
import { createClient, createCluster, createSentinel, RedisClientType, TimeoutError } from 'redis';
import { RedisConfig } from '../config/config';

export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

const COMMANDS = [
  'del',
  'eval',
  'evalSha',
  'get',
  'hDel',
  'hGet',
  'hGetAll',
  'hmGet',
  'hSet',
  'hSetNX',
  'ping',
  'pTTL',
  'sAdd',
  'sMembers',
  'xAdd',
  'xRevRange',
  'zAdd',
  'zCard',
  'zCount',
  'zRange',
  'zRangeByScore',
  'zRangeWithScores',
  'zRem',
  'zScore',
] as const;

/**
 * The commands this service sends, as one type over the three topologies. Standalone, cluster and
 * sentinel clients of node-redis all carry them with the same signatures; the cluster routes each
 * by its first key, which is why every multi-key command and script stays within one hash tag.
 */
export type RedisClient = Pick<RedisClientType, (typeof COMMANDS)[number]> & { close(): Promise<void> };

/** Injects the shared node-redis client (null when the embedded store runs). */
export const InjectRedis = (): ParameterDecorator => Inject(REDIS_CLIENT);

/**
 * Requests must fail fast while Redis is away rather than queue: no offline queue, a bounded wait
 * for every reply (see `withDeadlines`), and reconnection in the background with a capped backoff.
 */
export const COMMAND_TIMEOUT_MS = 1000;
/**
 * Commands a connection holds at most (sent and unanswered, or waiting to be sent). A Redis that
 * keeps the connection open but stops answering would otherwise let the queue grow with every
 * request for as long as it hangs, although each caller gave up after COMMAND_TIMEOUT_MS; past
 * this, commands fail at once (503). Far above what traffic needs: replies normally take well
 * under a millisecond.
 */
export const COMMAND_QUEUE_MAX = 50_000;
const socket = {
  connectTimeout: 2000,
  reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 2000),
};
// node-redis's own per-command timeout is off (its default is 5 s): it allocates an
// AbortSignal.timeout and a listener per command and stops counting once the command is written,
// so it never bounded the wait for a reply from a Redis that accepts bytes but does not answer.
const commandOptions = { timeout: 0 };

export interface Connectable {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  connect(): Promise<unknown>;
  destroy(): unknown;
}

export function createForTopology(config: RedisConfig): (Connectable & RedisClient) | null {
  const { topology, password } = config;
  switch (topology.kind) {
    case 'embedded':
      return null;
    case 'standalone':
      return createClient({
        url: topology.url,
        disableOfflineQueue: true,
        commandsQueueMaxLength: COMMAND_QUEUE_MAX,
        commandOptions,
        socket,
      });
    case 'cluster':
      return createCluster({
        rootNodes: topology.nodes.map((n) => ({ socket: { host: n.host, port: n.port } })),
        // Connection options of the discovered nodes come from `defaults`, not from the root nodes.
        defaults: { disableOfflineQueue: true, commandsQueueMaxLength: COMMAND_QUEUE_MAX, password, socket },
        commandOptions,
        // Re-read the slot map soon after a node drops (node-redis waits 5 s by default).
        topologyRefreshOnReconnectionAttemptStrategy: 500,
      });
    case 'sentinel':
      return createSentinel({
        name: topology.name,
        sentinelRootNodes: topology.sentinels,
        nodeClientOptions: { disableOfflineQueue: true, commandsQueueMaxLength: COMMAND_QUEUE_MAX, password, socket },
        commandOptions,
        // A command waits for a new master at most ~2 s (default: 16 tries, 1 s apart); the
        // deadline below answers 503 after 1 s already, and this stops the retries soon after.
        maxCommandRediscovers: 2,
        passthroughClientErrorEvents: true,
      });
  }
}

type Reject = (error: Error) => void;

/**
 * One coarse clock for every pending call: a call joins the open bucket, the buckets rotate every
 * `tickMs`, and a bucket `timeoutMs` old rejects what is still in it. A call therefore fails
 * between `timeoutMs` and `timeoutMs + tickMs` after it was sent, for a set insert and delete
 * instead of a timer and a listener per call. A call leaves its bucket when it settles, so nothing
 * of it outlives its reply (long-lived garbage would cost more GC than the timer saved); the timer
 * runs only while calls are pending.
 */
export class Deadlines {
  private open = new Set<Reject>();
  private closed: Set<Reject>[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly ticks: number;

  constructor(
    private readonly timeoutMs: number,
    private readonly tickMs = 100,
  ) {
    this.ticks = Math.max(1, Math.ceil(timeoutMs / tickMs));
  }

  /**
   * `reply`, or a TimeoutError (a 503, see isStoreUnavailable) when it has not settled in time. A
   * reply that comes later is dropped: it is already handled here, so it is never an unhandled rejection.
   */
  bound<T>(reply: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const bucket = this.open;
      bucket.add(reject);
      this.timer ??= this.start();
      reply.then(
        (value) => {
          bucket.delete(reject);
          resolve(value);
        },
        (error: Error) => {
          bucket.delete(reject);
          reject(error);
        },
      );
    });
  }

  private start(): NodeJS.Timeout {
    const timer = setInterval(() => this.tick(), this.tickMs);
    timer.unref();
    return timer;
  }

  private tick(): void {
    this.closed.push(this.open);
    this.open = new Set();
    while (this.closed.length > this.ticks) {
      const expired = this.closed.shift() ?? [];
      for (const reject of expired) reject(new TimeoutError(`Redis did not answer within ${this.timeoutMs} ms`));
    }
    if (this.closed.every((bucket) => bucket.size === 0)) {
      clearInterval(this.timer);
      this.timer = undefined;
      this.closed = [];
    }
  }
}

/**
 * The client as the service sees it: every command bounded by the shared deadlines, and a close
 * that waits for in-flight replies at most as long, then drops the connection.
 */
export function withDeadlines(inner: RedisClient & Pick<Connectable, 'destroy'>, timeoutMs: number): RedisClient {
  const deadlines = new Deadlines(timeoutMs);
  const client: Record<string, unknown> = {
    close: async () => {
      try {
        await deadlines.bound(inner.close());
      } catch (error) {
        if (!(error instanceof TimeoutError)) throw error;
        await inner.destroy();
      }
    },
  };
  for (const name of COMMANDS) {
    const send = inner[name] as (...args: unknown[]) => Promise<unknown>;
    client[name] = (...args: unknown[]) => deadlines.bound(send.apply(inner, args));
  }
  return client as RedisClient;
}

export const redisClientProvider: Provider = {
  provide: REDIS_CLIENT,
  inject: [RedisConfig],
  useFactory: async (config: RedisConfig): Promise<RedisClient | null> => {
    const client = createForTopology(config);
    if (!client) return null;
    await connectLogged(client, config.topology.kind);
    return withDeadlines(client, COMMAND_TIMEOUT_MS);
  },
};

/** Connects, logging one line per distinct failure (not one per reconnect attempt) and the recovery. */
export async function connectLogged(client: Connectable, label: string): Promise<void> {
  const logger = new Logger('Redis');
  let lastError = '';
  const onError = (error: unknown) => {
    const message = error instanceof Error ? error.message : String(error);
    if (message !== lastError) logger.error(`Redis error (${label}): ${message}`);
    lastError = message;
  };
  client.on('error', onError);
  client.on('node-error', onError);
  client.on('ready', () => {
    if (lastError) logger.log(`Redis connection restored (${label})`);
    lastError = '';
  });
  await client.connect();
}
