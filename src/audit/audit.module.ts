import { Module } from '@nestjs/common';
import { ClockModule } from '../common/clock.module';
import { AuditConfig } from '../config/config';
import { RedisModule } from '../redis/redis.module';
import { storeProvider } from '../redis/store-provider';
import { AuditLog } from './audit-log';
import { AuditService } from './audit.service';
import { MemoryAuditLog } from './memory-audit-log';
import { RedisAuditLog } from './redis-audit-log';

/** Imports no feature module: sessions, users, auth and admin all record through it. */
@Module({
  imports: [RedisModule, ClockModule],
  providers: [
    storeProvider(AuditLog, {
      inject: [AuditConfig],
      redis: (client, keys, config) => new RedisAuditLog(client, keys, config),
      memory: (db, config) => new MemoryAuditLog(db, config),
    }),
    AuditService,
  ],
  exports: [AuditService],
})
export class AuditModule {}
