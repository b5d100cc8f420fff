/** One minute of the service, as the admin console charts it. */
export interface StatsSample {
  /** The minute's index: epoch milliseconds / 60,000. */
  minute: number;
  /** Live sessions when the minute ended (when the sample was taken). */
  liveSessions: number;
  loginsSucceeded: number;
  loginsFailed: number;
}

export type LoginOutcome = 'succeeded' | 'failed';

/** The samples kept: the last hour. */
export const HISTORY_MINUTES = 60;

/**
 * The short history behind GET /admin/sessions/stats/history, shared by every instance: per-minute
 * login counters that every instance adds to, and one sample a minute written by whichever instance
 * claims that minute first. Redis (keys under `{stats}`, one slot) or the embedded store.
 */
export abstract class StatsHistoryStore {
  /** Adds one login of `outcome` to the counters of `minute`. */
  abstract countLogin(outcome: LoginOutcome, minute: number): Promise<void>;

  /** True for exactly one caller per minute, on every instance together. */
  abstract claim(minute: number): Promise<boolean>;

  /** Stores the sample of `minute` from its login counters and `liveSessions`; keeps the last HISTORY_MINUTES. */
  abstract append(minute: number, liveSessions: number): Promise<void>;

  /** The samples of minutes >= `from`, oldest first. */
  abstract since(from: number): Promise<StatsSample[]>;
}
