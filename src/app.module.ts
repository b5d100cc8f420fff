import { DynamicModule, Module } from '@nestjs/common';
import { APP_FILTER, APP_PIPE } from '@nestjs/core';
import { AdminModule } from './admin/admin.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { AllExceptionsFilter } from './common/all-exceptions.filter';
import { validationPipe } from './common/validation';
import { ConfigModule } from './config/config.module';
import { Env } from './config/env';
import { HealthModule } from './health/health.module';
import { LegacyModule } from './legacy/legacy.module';
import { MetricsModule } from './metrics/metrics.module';
import { SessionModule } from './session/session.module';
import { UsersModule } from './users/users.module';

@Module({})
export class AppModule {
  /** The whole service, configured from `env` (process.env in main.ts, a test's own in tests). */
  static forRoot(env: Env): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(env),
        SessionModule,
        AuditModule,
        UsersModule,
        AuthModule,
        AdminModule,
        LegacyModule,
        HealthModule,
        MetricsModule,
      ],
      providers: [
        {
          provide: APP_PIPE,
          useValue: validationPipe(),
        },
        { provide: APP_FILTER, useClass: AllExceptionsFilter },
      ],
    };
  }
}
