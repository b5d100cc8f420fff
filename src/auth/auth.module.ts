import { Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { MetricsModule } from '../metrics/metrics.module';
import { UsersModule } from '../users/users.module';
import { AccessGuard } from './access.guard';
import { AuthController } from './auth.controller';
import { AuthGuard } from './auth.guard';
import { AuthService } from './auth.service';
import { CsrfGuard } from './csrf.guard';
import { LoginLimiter } from './login-limiter';
import { RolesGuard } from './roles.guard';

@Module({
  imports: [UsersModule, MetricsModule],
  controllers: [AuthController],
  providers: [
    AuthService,
    LoginLimiter,
    AuthGuard,
    CsrfGuard,
    RolesGuard,
    { provide: APP_GUARD, useClass: AccessGuard },
  ],
})
export class AuthModule {}
