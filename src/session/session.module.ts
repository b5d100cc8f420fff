import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../common/clock';
import { MetricsModule } from '../metrics/metrics.module';
import { MetricsService } from '../metrics/metrics.service';
import { RedisConfig, SessionConfig } from '../config/config';
import { ActivityTracker } from './activity-tracker';
import { EmbeddedDb } from './embedded-db';
import { SessionSweeper } from './session-sweeper';
import { MemorySessionStore } from './memory-session-store';
import { REDIS_CLIENT, RedisClient, redisClientProvider } from './redis.provider';
import { RedisSessionStore } from './redis-session-store';
import { KeyLayout } from './session-keys';
import { SessionCookie } from './session-cookie';
import { SessionMiddleware } from './session.middleware';
import { SessionService } from './session.service';
import { SessionStore } from './session-store';

@Global()
@Module({
  imports: [MetricsModule],
  providers: [
    Clock,
    redisClientProvider,
    { provide: KeyLayout, inject: [RedisConfig], useFactory: (c: RedisConfig) => new KeyLayout(c.keyPrefix) },
    EmbeddedDb,
    {
      provide: SessionStore,
      inject: [REDIS_CLIENT, KeyLayout, EmbeddedDb, SessionConfig],
      useFactory: (redis: RedisClient | null, keys: KeyLayout, db: EmbeddedDb, config: SessionConfig) =>
        redis ? new RedisSessionStore(redis, keys, config) : new MemorySessionStore(db, config),
    },
    ActivityTracker,
    SessionCookie,
    SessionService,
    SessionSweeper,
    SessionMiddleware,
  ],
  exports: [
    Clock,
    REDIS_CLIENT,
    KeyLayout,
    EmbeddedDb,
    SessionStore,
    SessionService,
    SessionSweeper,
    SessionMiddleware,
  ],
})
export class SessionModule implements OnApplicationShutdown {
  constructor(
    @Inject(REDIS_CLIENT) private readonly redis: RedisClient | null,
    metrics: MetricsService,
    store: SessionStore,
    clock: Clock,
  ) {
    metrics.countSessionsWith(async () => (await store.stats(clock.now())).total);
  }

  // Runs after the activity tracker has flushed (providers shut down before their module's class).
  async onApplicationShutdown(): Promise<void> {
    await this.redis?.close().catch(() => undefined);
  }
}
