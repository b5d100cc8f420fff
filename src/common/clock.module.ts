import { Module } from '@nestjs/common';
import { Clock } from './clock';

/** One Clock for the whole app: a test replaces it once (overrideProvider) and every user sees the same time. */
@Module({
  providers: [Clock],
  exports: [Clock],
})
export class ClockModule {}
