import { Module } from '@nestjs/common';
import { ClockModule } from '../common/clock.module';
import { RedisModule } from '../redis/redis.module';
import { storeProvider } from '../redis/store-provider';
import { SessionModule } from '../session/session.module';
import { MemoryStatsHistoryStore } from './memory-stats-history-store';
import { RedisStatsHistoryStore } from './redis-stats-history-store';
import { StatsHistory } from './stats-history.service';
import { StatsHistoryStore } from './stats-history-store';

/** The per-minute history of live sessions and logins (the admin console's chart). */
@Module({
  imports: [RedisModule, ClockModule, SessionModule],
  providers: [
    storeProvider(StatsHistoryStore, {
      redis: (client, keys) => new RedisStatsHistoryStore(client, keys),
      memory: (db) => new MemoryStatsHistoryStore(db),
    }),
    StatsHistory,
  ],
  exports: [StatsHistory],
})
export class StatsModule {}
