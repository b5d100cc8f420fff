import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import { loadConfig } from '../config/config';
import { newUserId } from '../users/user-ids';
import { ActivityTracker } from './activity-tracker';
import { handleFromSessionId, newSessionId, SessionHandle } from './session-ids';
import { SessionStore } from './session-store';

const INTERVAL = 1000;

class ManualClock extends Clock {
  at = 1_800_000_000_000;

  override now(): number {
    return this.at;
  }
}

interface Write {
  id: string;
  at: number;
  count: number;
}

/** Records activity writes; each answers with the next queued outcome, else "alive". */
class FakeStore {
  readonly writes: Write[] = [];
  private readonly outcomes: (boolean | Error | Promise<boolean>)[] = [];

  answerNext(outcome: boolean | Error | Promise<boolean>): void {
    this.outcomes.push(outcome);
  }

  recordActivity(handle: SessionHandle, at: number, count: number): Promise<boolean> {
    this.writes.push({ id: handle.publicId, at, count });
    const outcome = this.outcomes.shift() ?? true;
    return outcome instanceof Error ? Promise.reject(outcome) : Promise.resolve(outcome);
  }

  counted(id: string): number {
    return this.writes.filter((w) => w.id === id).reduce((sum, w) => sum + w.count, 0);
  }
}

function newHandle(): SessionHandle {
  return handleFromSessionId(newSessionId(newUserId()))!;
}

/** Lets the tracker's promise callbacks for writes already answered run. */
function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('ActivityTracker', () => {
  let store: FakeStore;
  let clock: ManualClock;
  let tracker: ActivityTracker;
  let handle: SessionHandle;
  let loginAt: number;

  function build(): ActivityTracker {
    const config = loadConfig({ SESSION_TOUCH_INTERVAL: String(INTERVAL / 1000) }).session;
    return new ActivityTracker(store as unknown as SessionStore, clock, config);
  }

  beforeEach(() => {
    store = new FakeStore();
    clock = new ManualClock();
    tracker = build();
    handle = newHandle();
    loginAt = clock.now();
  });

  afterEach(async () => {
    await tracker.onApplicationShutdown();
    jest.restoreAllMocks();
  });

  it('does not write within the interval after the stored activity', () => {
    tracker.seen(handle, loginAt);
    clock.at += INTERVAL - 1;
    tracker.seen(handle, loginAt);

    expect(store.writes).toEqual([]);
    expect(tracker.unwritten(handle)).toBe(2);
  });

  it('writes every counted request once the interval has passed, as one increment', () => {
    tracker.seen(handle, loginAt);
    clock.at += 400;
    tracker.seen(handle, loginAt);
    clock.at += 600;
    tracker.seen(handle, loginAt);

    expect(store.writes).toEqual([{ id: handle.publicId, at: clock.now(), count: 3 }]);
    expect(tracker.unwritten(handle)).toBe(0);
  });

  it('writes at once when the stored activity is already older than the interval', () => {
    tracker.seen(handle, loginAt - 5 * INTERVAL);
    expect(store.writes).toEqual([{ id: handle.publicId, at: loginAt, count: 1 }]);
  });

  it('writes at most once per interval under a steady stream, and the counts add up', async () => {
    for (let i = 0; i < 95; i += 1) {
      clock.at += 110;
      tracker.seen(handle, loginAt);
      await settle();
    }

    // 95 requests 110 ms apart span 10.45 s: a write every 10th request (1.1 s), 5 still pending.
    expect(store.writes).toHaveLength(9);
    expect(tracker.unwritten(handle)).toBe(5);
    let previous = loginAt;
    for (const write of store.writes) {
      expect(write.at - previous).toBeGreaterThanOrEqual(INTERVAL);
      previous = write.at;
    }
    expect(store.counted(handle.publicId) + tracker.unwritten(handle)).toBe(95);
  });

  it('keeps the counts of different sessions apart', () => {
    const other = newHandle();
    tracker.seen(handle, loginAt);
    tracker.seen(other, loginAt);
    tracker.seen(other, loginAt);
    clock.at += INTERVAL;
    tracker.seen(other, loginAt);

    expect(store.writes).toEqual([{ id: other.publicId, at: clock.now(), count: 3 }]);
    expect(tracker.unwritten(handle)).toBe(1);
    expect(tracker.unwritten(other)).toBe(0);
  });

  it('counts requests that arrive while a write is in flight separately', async () => {
    let answer!: (alive: boolean) => void;
    store.answerNext(new Promise<boolean>((resolve) => (answer = resolve)));
    tracker.seen(handle, loginAt - INTERVAL);
    tracker.seen(handle, loginAt);
    tracker.seen(handle, loginAt);
    expect(tracker.unwritten(handle)).toBe(2);

    answer(true);
    await settle();

    expect(store.writes).toEqual([{ id: handle.publicId, at: loginAt, count: 1 }]);
    expect(tracker.unwritten(handle)).toBe(2);
  });

  it('keeps the count of a failed write and writes it with the next one', async () => {
    const warn = jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    tracker.seen(handle, loginAt);
    tracker.seen(handle, loginAt);
    clock.at += INTERVAL;
    store.answerNext(new Error('store unreachable'));
    tracker.seen(handle, loginAt);
    expect(store.writes).toHaveLength(1);
    expect(store.writes[0].count).toBe(3);

    await settle();
    expect(tracker.unwritten(handle)).toBe(3);
    expect(warn).toHaveBeenCalledWith(expect.stringContaining('store unreachable'));

    clock.at += INTERVAL;
    tracker.seen(handle, loginAt);
    expect(store.writes).toHaveLength(2);
    expect(store.writes[1]).toEqual({ id: handle.publicId, at: clock.now(), count: 4 });
    await settle();
    expect(tracker.unwritten(handle)).toBe(0);
  });

  it('keeps a failed count together with requests that came in meanwhile', async () => {
    jest.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    let fail!: (error: Error) => void;
    store.answerNext(new Promise<boolean>((_, reject) => (fail = reject)));
    tracker.seen(handle, loginAt - INTERVAL);
    tracker.seen(handle, loginAt);

    fail(new Error('store unreachable'));
    await settle();

    expect(tracker.unwritten(handle)).toBe(2);
  });

  it('forgets a session the store says has ended', async () => {
    store.answerNext(false);
    tracker.seen(handle, loginAt - INTERVAL);
    await settle();
    expect(tracker.unwritten(handle)).toBe(0);

    await tracker.flushAll();
    expect(store.writes).toHaveLength(1);
  });

  it('drops the pending count of a session it is told to forget', async () => {
    tracker.seen(handle, loginAt);
    tracker.seen(handle, loginAt);
    tracker.forget(handle);

    expect(tracker.unwritten(handle)).toBe(0);
    await tracker.flushAll();
    expect(store.writes).toEqual([]);
  });

  it('writes everything pending at shutdown, even within the interval', async () => {
    const other = newHandle();
    tracker.seen(handle, loginAt);
    tracker.seen(handle, loginAt);
    tracker.seen(other, loginAt);

    await tracker.onApplicationShutdown();

    expect(store.writes).toHaveLength(2);
    expect(store.counted(handle.publicId)).toBe(2);
    expect(store.counted(other.publicId)).toBe(1);
    expect(tracker.unwritten(handle)).toBe(0);
  });

  it('writes a pending count on its timer once the interval has passed, without a further request', async () => {
    await tracker.onApplicationShutdown();
    jest.useFakeTimers({ doNotFake: ['nextTick', 'queueMicrotask', 'setImmediate', 'Date', 'hrtime', 'performance'] });
    try {
      tracker = build();
      tracker.seen(handle, loginAt);
      tracker.seen(handle, loginAt);

      jest.advanceTimersByTime(INTERVAL);
      expect(store.writes).toEqual([]);

      clock.at += INTERVAL;
      jest.advanceTimersByTime(INTERVAL);
      expect(store.writes).toEqual([{ id: handle.publicId, at: loginAt, count: 2 }]);
      await settle();
      expect(tracker.unwritten(handle)).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });
});
