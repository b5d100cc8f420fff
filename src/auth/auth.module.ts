import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { MetricsModule } from '../metrics/metrics.module';
import { UsersModule } from '../users/users.module';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { CsrfGuard } from './csrf.guard';
import { LoginLimiter } from './login-limiter';
import { RolesGuard } from './roles.guard';

// Guards run in this order: who are you (401), is this request really yours (403), may you (403).
@Module({
  imports: [UsersModule, MetricsModule],
  controllers: [AuthController],
  providers: [
    AuthService,
    LoginLimiter,
    AuthGuard,
    CsrfGuard,
    RolesGuard,
    { provide: APP_GUARD, useExisting: AuthGuard },
    { provide: APP_GUARD, useExisting: CsrfGuard },
    { provide: APP_GUARD, useExisting: RolesGuard },
  ],
})
export class AuthModule {}
