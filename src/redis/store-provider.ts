import { Abstract, FactoryProvider, InjectionToken } from '@nestjs/common';
import { EmbeddedDb } from './embedded-db';
import { KeyLayout } from './key-layout';
import { REDIS_CLIENT, RedisClient } from './redis-client';

export interface StoreFactories<T, D extends unknown[]> {
  /** Further dependencies, handed to whichever factory runs; their types come from these tokens. */
  inject?: { [K in keyof D]: InjectionToken<D[K]> };
  /** The store on Redis, when a Redis is configured. */
  redis: NoInfer<(client: RedisClient, keys: KeyLayout, ...deps: D) => T>;
  /** The in-process store of the embedded mode (no Redis configured). */
  memory: NoInfer<(db: EmbeddedDb, ...deps: D) => T>;
}

/**
 * The provider of a store token (an abstract class): the Redis implementation when a client
 * exists, else the memory one. This is the one place the service chooses between Redis and the
 * embedded mode; the module that uses it imports RedisModule.
 */
export function storeProvider<T, D extends unknown[] = []>(
  token: Abstract<T>,
  factories: StoreFactories<T, D>,
): FactoryProvider<T> {
  return {
    provide: token,
    inject: [REDIS_CLIENT, KeyLayout, EmbeddedDb, ...(factories.inject ?? [])],
    useFactory: (client: RedisClient | null, keys: KeyLayout, db: EmbeddedDb, ...deps: unknown[]): T =>
      client ? factories.redis(client, keys, ...(deps as D)) : factories.memory(db, ...(deps as D)),
  };
}
