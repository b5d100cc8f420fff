import { Module } from '@nestjs/common';
import { REDIS_CLIENT, RedisClient } from '../session/redis.provider';
import { EmbeddedDb } from '../session/embedded-db';
import { KeyLayout } from '../session/session-keys';
import { MemoryUserStore } from './memory-user-store';
import { PasswordHasher } from './password-hasher';
import { RedisUserStore } from './redis-user-store';
import { UserStore } from './user-store';
import { UsersService } from './users.service';

@Module({
  providers: [
    PasswordHasher,
    {
      provide: UserStore,
      inject: [REDIS_CLIENT, KeyLayout, EmbeddedDb],
      useFactory: (redis: RedisClient | null, keys: KeyLayout, db: EmbeddedDb) =>
        redis ? new RedisUserStore(redis, keys) : new MemoryUserStore(db),
    },
    UsersService,
  ],
  exports: [UsersService, UserStore],
})
export class UsersModule {}
