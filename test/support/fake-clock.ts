import { Clock } from '../../src/common/clock';

/** Real time plus an offset that tests move forward instead of sleeping. */
export class FakeClock extends Clock {
  private offset = 0;

  override now(): number {
    return Date.now() + this.offset;
  }

  advance(ms: number): void {
    this.offset += ms;
  }
}
