import { Module, OnApplicationShutdown } from '@nestjs/common';
import { RedisConfig } from '../config/config';
import { MetricsModule } from '../metrics/metrics.module';
import { EmbeddedDb } from './embedded-db';
import { KeyLayout } from './key-layout';
import { InjectRedis, REDIS_CLIENT, RedisClient, redisClientProvider } from './redis-client';
import { ReplicaWait, replicaWaitProvider } from './replica-wait';
import { EmbeddedStoreHealth, RedisStoreHealth, StoreHealth } from './store-health';
import { storeProvider } from './store-provider';

/**
 * The storage layer: the Redis client (null in the embedded mode), the connection session endings
 * wait for a replica on (ReplicaWait), the key layout and the embedded database. Feature modules import it and pick their store with `storeProvider`.
 */
@Module({
  imports: [MetricsModule],
  providers: [
    redisClientProvider,
    replicaWaitProvider,
    { provide: KeyLayout, inject: [RedisConfig], useFactory: (c: RedisConfig) => new KeyLayout(c.keyPrefix) },
    EmbeddedDb,
    storeProvider(StoreHealth, {
      redis: (client) => new RedisStoreHealth(client),
      memory: () => new EmbeddedStoreHealth(),
    }),
  ],
  exports: [REDIS_CLIENT, ReplicaWait, KeyLayout, EmbeddedDb, StoreHealth],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(
    @InjectRedis() private readonly redis: RedisClient | null,
    private readonly replicaWait: ReplicaWait,
  ) {}

  /**
   * Nest runs onApplicationShutdown module by module, importers before the modules they import: a
   * module's distance is its longest import path from the root (TopologyTree in @nestjs/core) and
   * the hooks go by ascending distance (NestApplicationContext.callShutdownHook). Every module
   * writing to Redis imports this one, so their last writes (ActivityTracker's flush, a sweep in
   * progress) have settled before the client closes; test/shutdown.e2e.spec.ts checks it.
   */
  async onApplicationShutdown(): Promise<void> {
    await Promise.all([this.redis?.close().catch(() => undefined), this.replicaWait.close().catch(() => undefined)]);
  }
}
