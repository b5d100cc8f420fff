/** One failure counter: of a username or of a client network, named by a hash of it. */
export interface Counter {
  by: 'username' | 'network';
  digest: string;
}

export interface CounterState {
  count: number;
  /** Until the window ends. */
  ttlMs: number;
}

/**
 * The login limiter's counters: in Redis, shared by every instance, or in the embedded store.
 * Each lives for one window from its first count, so the counters cannot be used to fill the store.
 */
export abstract class LoginCounters {
  /** Counts one more; the first count starts the window. */
  abstract increment(counter: Counter, windowMs: number): Promise<CounterState>;

  /** The count so far, without counting. */
  abstract peek(counter: Counter): Promise<CounterState>;

  abstract reset(counter: Counter): Promise<void>;
}
