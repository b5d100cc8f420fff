import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ClockModule } from '../common/clock.module';
import { RedisModule } from '../redis/redis.module';
import { ReplicaWait } from '../redis/replica-wait';
import { storeProvider } from '../redis/store-provider';
import { SessionModule } from '../session/session.module';
import { MemoryUserStore } from './memory-user-store';
import { PasswordHasher } from './password-hasher';
import { RedisUserStore } from './redis-user-store';
import { UserStore } from './user-store';
import { UsersService } from './users.service';

@Module({
  imports: [RedisModule, ClockModule, SessionModule, AuditModule],
  providers: [
    PasswordHasher,
    storeProvider(UserStore, {
      inject: [ReplicaWait],
      redis: (client, keys, replicas) => new RedisUserStore(client, keys, replicas),
      memory: (db) => new MemoryUserStore(db),
    }),
    UsersService,
  ],
  exports: [UsersService],
})
export class UsersModule {}
