import { RedisClient } from './redis-client';

/** Whether the store this instance works on answers: what readiness reports. */
export abstract class StoreHealth {
  /** Throws when the store cannot be reached. */
  abstract ping(): Promise<void>;
}

export class RedisStoreHealth extends StoreHealth {
  constructor(private readonly redis: RedisClient) {
    super();
  }

  async ping(): Promise<void> {
    await this.redis.ping();
  }
}

/** The embedded store lives in this process: it is there as long as the process is. */
export class EmbeddedStoreHealth extends StoreHealth {
  ping(): Promise<void> {
    return Promise.resolve();
  }
}
