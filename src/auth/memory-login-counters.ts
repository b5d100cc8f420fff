import { Clock } from '../common/clock';
import { EmbeddedDb, EmbeddedTable } from '../redis/embedded-db';
import { Counter, CounterState, LoginCounters } from './login-counters';

interface Window {
  count: number;
  resetAt: number;
}

/** `<by>:<digest>` -> the counter's window. */
const LOGIN_FAILURES = new EmbeddedTable<string, Window>('login-failures');

/** The embedded store's counters; a window past its end is dropped when next read. */
export class MemoryLoginCounters extends LoginCounters {
  private readonly windows: Map<string, Window>;

  constructor(
    db: EmbeddedDb,
    private readonly clock: Clock,
  ) {
    super();
    this.windows = db.table(LOGIN_FAILURES);
  }

  increment(counter: Counter, windowMs: number): Promise<CounterState> {
    const key = this.key(counter);
    const window = this.live(key) ?? { count: 0, resetAt: this.clock.now() + windowMs };
    window.count += 1;
    this.windows.set(key, window);
    return Promise.resolve({ count: window.count, ttlMs: window.resetAt - this.clock.now() });
  }

  peek(counter: Counter): Promise<CounterState> {
    const window = this.live(this.key(counter));
    return Promise.resolve({ count: window?.count ?? 0, ttlMs: window ? window.resetAt - this.clock.now() : 0 });
  }

  reset(counter: Counter): Promise<void> {
    this.windows.delete(this.key(counter));
    return Promise.resolve();
  }

  private key({ by, digest }: Counter): string {
    return `${by}:${digest}`;
  }

  private live(key: string): Window | undefined {
    const window = this.windows.get(key);
    if (window && window.resetAt <= this.clock.now()) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }
}
