import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { Clock } from '../common/clock';
import { ClockModule } from '../common/clock.module';
import { SessionConfig } from '../config/config';
import { MetricsModule } from '../metrics/metrics.module';
import { MetricsService } from '../metrics/metrics.service';
import { RedisModule } from '../redis/redis.module';
import { ReplicaWait } from '../redis/replica-wait';
import { storeProvider } from '../redis/store-provider';
import { ActivityTracker } from './activity-tracker';
import { MemorySessionStore } from './memory-session-store';
import { RedisSessionStore } from './redis-session-store';
import { SessionCookie } from './session-cookie';
import { SessionMiddleware } from './session.middleware';
import { SessionService } from './session.service';
import { SessionStore } from './session-store';
import { SessionSweeper } from './session-sweeper';
import { TheftGuard } from './theft-guard';
import { VerifyRoute } from './verify-route';

@Module({
  imports: [RedisModule, ClockModule, AuditModule, MetricsModule],
  providers: [
    storeProvider(SessionStore, {
      inject: [SessionConfig, ReplicaWait],
      redis: (client, keys, config, replicas) => new RedisSessionStore(client, keys, config, replicas),
      memory: (db, config) => new MemorySessionStore(db, config),
    }),
    ActivityTracker,
    SessionCookie,
    SessionService,
    SessionSweeper,
    SessionMiddleware,
    TheftGuard,
    VerifyRoute,
  ],
  exports: [SessionService, SessionCookie],
})
export class SessionModule {
  constructor(metrics: MetricsService, store: SessionStore, clock: Clock) {
    metrics.countSessionsWith(async () => (await store.stats(clock.now())).total);
  }
}
