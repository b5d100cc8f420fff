import { EmbeddedDb, EmbeddedTable } from '../redis/embedded-db';
import { HISTORY_MINUTES, LoginOutcome, StatsHistoryStore, StatsSample } from './stats-history-store';

const COUNTERS = new EmbeddedTable<number, { succeeded: number; failed: number }>('stats-logins');
const CLAIMS = new EmbeddedTable<number, true>('stats-claims');
const SAMPLES = new EmbeddedTable<number, StatsSample>('stats-history');

/** The embedded store's history: the same rules as Redis's, in this process. */
export class MemoryStatsHistoryStore extends StatsHistoryStore {
  private readonly counters: Map<number, { succeeded: number; failed: number }>;
  private readonly claims: Map<number, true>;
  private readonly samples: Map<number, StatsSample>;

  constructor(db: EmbeddedDb) {
    super();
    this.counters = db.table(COUNTERS);
    this.claims = db.table(CLAIMS);
    this.samples = db.table(SAMPLES);
  }

  async countLogin(outcome: LoginOutcome, minute: number): Promise<void> {
    const counts = this.counters.get(minute) ?? { succeeded: 0, failed: 0 };
    counts[outcome]++;
    this.counters.set(minute, counts);
  }

  async claim(minute: number): Promise<boolean> {
    if (this.claims.has(minute)) return false;
    this.claims.set(minute, true);
    return true;
  }

  async append(minute: number, liveSessions: number): Promise<void> {
    const counts = this.counters.get(minute) ?? { succeeded: 0, failed: 0 };
    this.samples.set(minute, {
      minute,
      liveSessions,
      loginsSucceeded: counts.succeeded,
      loginsFailed: counts.failed,
    });
    // What Redis lets expire: anything older than the kept hour (and its margin).
    const oldest = minute - HISTORY_MINUTES + 1;
    for (const table of [this.samples, this.counters, this.claims]) {
      for (const key of table.keys()) if (key < oldest - HISTORY_MINUTES) table.delete(key);
    }
    for (const key of this.samples.keys()) if (key < oldest) this.samples.delete(key);
  }

  async since(from: number): Promise<StatsSample[]> {
    return [...this.samples.values()].filter((s) => s.minute >= from).sort((a, b) => a.minute - b.minute);
  }
}
