import { createHash } from 'node:crypto';
import { Inject, Logger, Provider } from '@nestjs/common';
import { createClient, RedisClientType } from 'redis';
import { RedisConfig } from '../config/config';

export const REDIS_CLIENT = Symbol('REDIS_CLIENT');

export type RedisClient = RedisClientType;

/** Injects the shared node-redis client (null when the embedded store runs). */
export const InjectRedis = (): ParameterDecorator => Inject(REDIS_CLIENT);

/**
 * Requests must fail fast while Redis is away rather than queue: no offline queue, a bounded
 * command timeout, and reconnection in the background with a capped backoff.
 */
export const COMMAND_TIMEOUT_MS = 1000;

export const redisClientProvider: Provider = {
  provide: REDIS_CLIENT,
  inject: [RedisConfig],
  useFactory: async (config: RedisConfig): Promise<RedisClient | null> => {
    const { topology } = config;
    if (topology.kind === 'embedded') return null;
    if (topology.kind !== 'standalone') {
      throw new Error(`Redis ${topology.kind} is not supported yet: set REDIS_URL`);
    }
    const logger = new Logger('Redis');
    const client: RedisClient = createClient({
      url: topology.url,
      disableOfflineQueue: true,
      commandOptions: { timeout: COMMAND_TIMEOUT_MS },
      socket: {
        connectTimeout: 2000,
        reconnectStrategy: (retries: number) => Math.min(100 * 2 ** Math.min(retries, 5), 2000),
      },
    });
    let lastError = '';
    client.on('error', (error: Error) => {
      // One line per distinct failure, not one per reconnect attempt.
      if (error.message !== lastError) logger.error(`Redis error: ${error.message}`);
      lastError = error.message;
    });
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
