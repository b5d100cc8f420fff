import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module';
import { Clock } from '../common/clock';
import { ClockModule } from '../common/clock.module';
import { MetricsModule } from '../metrics/metrics.module';
import { RedisModule } from '../redis/redis.module';
import { storeProvider } from '../redis/store-provider';
import { SessionModule } from '../session/session.module';
import { StatsModule } from '../stats/stats.module';
import { UsersModule } from '../users/users.module';
import { AccessGuard } from './access.guard';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { CsrfGuard } from './csrf.guard';
import { FreshAuthGuard } from './fresh-auth.guard';
import { ImpersonationGuard } from './impersonation.guard';
import { LoginCounters } from './login-counters';
import { LoginLimiter } from './login-limiter';
import { MemoryLoginCounters } from './memory-login-counters';
import { RedisLoginCounters } from './redis-login-counters';
import { RolesGuard } from './roles.guard';

@Module({
  imports: [RedisModule, ClockModule, SessionModule, UsersModule, AuditModule, MetricsModule, StatsModule],
  controllers: [AuthController],
  providers: [
    AuthService,
    storeProvider(LoginCounters, {
      inject: [Clock],
      redis: (client, keys) => new RedisLoginCounters(client, keys),
      memory: (db, clock) => new MemoryLoginCounters(db, clock),
    }),
    LoginLimiter,
    AuthGuard,
    CsrfGuard,
    RolesGuard,
    FreshAuthGuard,
    ImpersonationGuard,
    { provide: APP_GUARD, useClass: AccessGuard },
  ],
  // The admin API starts impersonations, which are logins of a kind.
  exports: [AuthService],
})
export class AuthModule {}
