import { Injectable } from '@nestjs/common';

/** The one source of "now" for session timing, so tests can move time instead of sleeping. */
@Injectable()
export class Clock {
  now(): number {
    return Date.now();
  }
}
