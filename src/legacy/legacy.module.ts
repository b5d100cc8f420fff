import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ClockModule } from '../common/clock.module';
import { LegacySessionConfig } from '../config/config';
import { MetricsModule } from '../metrics/metrics.module';
import { REDIS_CLIENT, RedisClient } from '../redis/redis-client';
import { RedisModule } from '../redis/redis.module';
import { SessionModule } from '../session/session.module';
import { UsersModule } from '../users/users.module';
import { LegacyAdoption } from './legacy-adoption';
import { LegacyCookie } from './legacy-cookie';
import { LegacySessions } from './legacy-sessions';
import { LegacySessionMiddleware } from './legacy-session.middleware';

/**
 * Adoption of the sessions of an express-session + connect-redis app (LEGACY_SESSION_*): its
 * middleware is mounted by configureApp only when adoption is on. The configuration refuses
 * adoption without Redis, so the client is there whenever the middleware is.
 */
@Module({
  imports: [RedisModule, ClockModule, SessionModule, UsersModule, AuditModule, MetricsModule],
  providers: [
    {
      provide: LegacySessions,
      inject: [REDIS_CLIENT, LegacySessionConfig],
      useFactory: (client: RedisClient | null, config: LegacySessionConfig) =>
        client ? new LegacySessions(client, config) : null,
    },
    LegacyCookie,
    LegacyAdoption,
    LegacySessionMiddleware,
  ],
})
export class LegacyModule {}
