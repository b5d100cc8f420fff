import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type LoginOutcome = 'success' | 'failure' | 'rate_limited';

/** The service's Prometheus metrics, in a registry of its own (two apps in one test process do not clash). */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly logins = new Counter({
    name: 'session_logins_total',
    help: 'Login attempts by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly storeErrors = new Counter({
    name: 'session_store_errors_total',
    help: 'Session store operations that failed (Redis unreachable, timed out, ...)',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  readonly storeDuration = new Histogram({
    name: 'session_store_duration_seconds',
    help: 'Session reads on the request path',
    labelNames: ['operation'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [this.registry],
  });

  private countActiveSessions: () => Promise<number> = () => Promise.resolve(0);

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const count = () => this.countActiveSessions();
    new Gauge({
      name: 'sessions_active',
      help: 'Live sessions (read from the store at scrape time, O(log n))',
      registers: [this.registry],
      async collect() {
        this.set(await count());
      },
    });
  }

  /** Set by the session module: how to count live sessions at scrape time. */
  countSessionsWith(count: () => Promise<number>): void {
    this.countActiveSessions = count;
  }

  /** Times a store operation on the request path and counts its failures. */
  async timeStore<T>(operation: string, work: () => Promise<T>): Promise<T> {
    const end = this.storeDuration.startTimer({ operation });
    try {
      return await work();
    } catch (error) {
      this.storeErrors.inc({ operation });
      throw error;
    } finally {
      end();
    }
  }
}
