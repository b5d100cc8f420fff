import { Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { Clock } from '../common/clock';
import { SessionService } from '../session/session.service';
import { HISTORY_MINUTES, LoginOutcome, StatsHistoryStore, StatsSample } from './stats-history-store';

export const MINUTE_MS = 60_000;
/** How often each instance looks whether a minute has ended: a sample lands within this of its minute's end. */
const CHECK_EVERY_MS = 5_000;

export const minuteOf = (ms: number): number => Math.floor(ms / MINUTE_MS);

/**
 * One sample a minute of live sessions and logins for the admin console's chart. Every instance
 * counts its logins into shared per-minute counters; when a minute ends, each instance tries to
 * claim it and the one that does reads the live total once and appends the sample. A minute no
 * instance saw end (the service was down) has no sample: the chart shows a gap, not a zero.
 * Nothing here runs on a request path except one counter write per login.
 */
@Injectable()
export class StatsHistory implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(StatsHistory.name);
  private timer?: NodeJS.Timeout;
  private running?: Promise<boolean>;
  /** The first minute this instance may sample: the one it started in (it saw that minute's end). */
  private nextMinute: number;
  private failing = false;

  constructor(
    private readonly store: StatsHistoryStore,
    private readonly sessions: SessionService,
    private readonly clock: Clock,
  ) {
    this.nextMinute = minuteOf(clock.now());
  }

  onApplicationBootstrap(): void {
    this.timer = setInterval(() => void this.sampleEndedMinute(), CHECK_EVERY_MS).unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** Counts a login (a refused one, rate limited or not, as failed). Never fails the login: a lost count is only a chart. */
  async countLogin(outcome: LoginOutcome): Promise<void> {
    try {
      await this.store.countLogin(outcome, minuteOf(this.clock.now()));
    } catch (error) {
      this.logger.warn(`Login count for the history failed: ${(error as Error).message}`);
    }
  }

  /**
   * Samples the minute that ended last, if this instance claims it; true when it wrote a sample.
   * Called by the timer; tests call it after moving the clock.
   */
  sampleEndedMinute(): Promise<boolean> {
    if (this.running) return Promise.resolve(false);
    const minute = minuteOf(this.clock.now()) - 1;
    if (minute < this.nextMinute) return Promise.resolve(false);
    this.running = this.sample(minute).finally(() => (this.running = undefined));
    return this.running;
  }

  private async sample(minute: number): Promise<boolean> {
    try {
      this.nextMinute = minute + 1;
      if (!(await this.store.claim(minute))) return false;
      const { total } = await this.sessions.stats();
      await this.store.append(minute, total);
      if (this.failing) this.logger.log('Stats history sampling works again');
      this.failing = false;
      return true;
    } catch (error) {
      // Once per outage, not every 5 s: the store's own errors are logged and counted elsewhere.
      if (!this.failing) this.logger.warn(`Stats history sample of a minute failed: ${(error as Error).message}`);
      this.failing = true;
      return false;
    }
  }

  /** The samples of the last hour, oldest first. */
  lastHour(): Promise<StatsSample[]> {
    return this.store.since(minuteOf(this.clock.now()) - HISTORY_MINUTES);
  }
}
