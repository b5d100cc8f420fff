import { createHash } from 'node:crypto';
import { Inject, Logger, Provider } from '@nestjs/common';
import { createClient, createCluster, createSentinel, RedisClientType } from 'redis';
import { RedisConfig } from '../config/config';

export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

/**
 * The commands this service sends, as one type over the three topologies. Standalone, cluster and
 * sentinel clients of node-redis all carry them with the same signatures; the cluster routes each
 * by its first key, which is why every multi-key command and script stays within one hash tag.
 */
export type RedisClient = Pick<
  RedisClientType,
  | 'del'
  | 'eval'
  | 'evalSha'
  | 'get'
  | 'hDel'
  | 'hGet'
  | 'hGetAll'
  | 'hmGet'
  | 'hSet'
  | 'hSetNX'
  | 'ping'
  | 'pTTL'
  | 'sAdd'
  | 'sMembers'
  | 'xAdd'
  | 'xRevRange'
  | 'zAdd'
  | 'zCard'
  | 'zCount'
  | 'zRange'
  | 'zRangeByScore'
  | 'zRangeWithScores'
  | 'zRem'
  | 'zScore'
> & { close(): Promise<void> };

/** Injects the shared node-redis client (null when the embedded store runs). */
export const InjectRedis = (): ParameterDecorator => Inject(REDIS_CLIENT);

/**
 * Requests must fail fast while Redis is away rather than queue: no offline queue, a bounded
 * command timeout, and reconnection in the background with a capped backoff.
 */
export const COMMAND_TIMEOUT_MS = 1000;
const socket = {
  connectTimeout: 2000,
  reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 2000),
};

interface Connectable {
  on(event: string, listener: (...args: unknown[]) => void): unknown;
  connect(): Promise<unknown>;
}

function createForTopology(config: RedisConfig): (Connectable & RedisClient) | null {
  const { topology, password } = config;
  switch (topology.kind) {
    case 'embedded':
      return null;
    case 'standalone':
      return createClient({
        url: topology.url,
        disableOfflineQueue: true,
        commandOptions: { timeout: COMMAND_TIMEOUT_MS },
        socket,
      });
    case 'cluster':
      return createCluster({
        rootNodes: topology.nodes.map((n) => ({ socket: { host: n.host, port: n.port } })),
        // Connection options of the discovered nodes come from `defaults`, not from the root nodes.
        defaults: { disableOfflineQueue: true, password, socket },
        commandOptions: { timeout: COMMAND_TIMEOUT_MS },
        // Re-read the slot map soon after a node drops (node-redis waits 5 s by default).
        topologyRefreshOnReconnectionAttemptStrategy: 500,
      });
    case 'sentinel':
      return createSentinel({
        name: topology.name,
        sentinelRootNodes: topology.sentinels,
        nodeClientOptions: { disableOfflineQueue: true, password, socket },
        commandOptions: { timeout: COMMAND_TIMEOUT_MS },
        // A command waits for a new master at most ~2 s (default: 16 tries, 1 s apart), then fails: 503.
        maxCommandRediscovers: 2,
        passthroughClientErrorEvents: true,
      });
  }
}

export const redisClientProvider: Provider = {
  provide: REDIS_CLIENT,
  inject: [RedisConfig],
  useFactory: async (config: RedisConfig): Promise<RedisClient | null> => {
    const client = createForTopology(config);
    if (!client) return null;
    const logger = new Logger('Redis');
    let lastError = '';
    const onError = (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      // One line per distinct failure, not one per reconnect attempt.
      if (message !== lastError) logger.error(`Redis error (${config.topology.kind}): ${message}`);
      lastError = message;
    };
    client.on('error', onError);
    client.on('node-error', onError);
    client.on('ready', () => {
      if (lastError) logger.log('Redis connection restored');
      lastError = '';
    });
    await client.connect();
    return client;
  },
};

interface Script {
  source: string;
  sha: string;
}

export function script(source: string): Script {
  return { source, sha: createHash('sha1').update(source).digest('hex') };
}

/** EVALSHA with a fallback to EVAL the first time a server has not seen the script. */
export async function runScript<T>(
  client: RedisClient,
  s: Script,
  keys: string[],
  args: (string | number)[],
): Promise<T> {
  const options = { keys, arguments: args.map(String) };
  try {
    return (await client.evalSha(s.sha, options)) as T;
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) {
      return (await client.eval(s.source, options)) as T;
    }
    throw error;
  }
}
