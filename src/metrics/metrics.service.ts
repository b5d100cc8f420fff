import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** What a histogram's labelled child offers. */
interface Observer {
  observe(value: number): void;
}

export type LoginOutcome = 'success' | 'failure' | 'rate_limited';

/** What became of a request that carried a legacy (express-session) cookie and none of ours. */
export type AdoptionOutcome =
  | 'adopted'
  | 'invalid_signature'
  | 'missing'
  | 'unreadable'
  | 'unknown_user'
  | 'disabled_user'
  | 'user_changed'
  | 'insecure';

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

  readonly adoptions = new Counter({
    name: 'session_legacy_adoptions_total',
    help: 'Requests with a legacy express-session cookie and no session of ours, by outcome (adopted, or why not)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly suspicious = new Counter({
    name: 'session_suspicious_total',
    help: 'Sessions used from another network and browser than at their login, by the action taken',
    labelNames: ['action'] as const,
    registers: [this.registry],
  });

  readonly storeErrors = new Counter({
    name: 'session_store_errors_total',
    help: 'Session store operations that failed (Redis unreachable, timed out, ...)',
    labelNames: ['operation'] as const,
    registers: [this.registry],
  });

  readonly replicaWaitTimeouts = new Counter({
    name: 'session_replica_wait_timeouts_total',
    help: 'Session endings (and the user changes behind them) that no replica acknowledged within REVOCATION_REPLICA_WAIT',
    registers: [this.registry],
  });

  readonly storeDuration = new Histogram({
    name: 'session_store_duration_seconds',
    help: 'Session reads on the request path',
    labelNames: ['operation'] as const,
    buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1],
    registers: [this.registry],
  });

  private readonly requestChildren = new Map<string, Observer>();
  private readonly storeChildren = new Map<string, Observer>();
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

  /** One finished HTTP request. Label children are kept per combination: the labels are a small, fixed set. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let child = this.requestChildren.get(key);
    if (child === undefined) {
      child = this.httpDuration.labels(method, route, String(status));
      this.requestChildren.set(key, child);
    }
    child.observe(seconds);
  }

  /** Times a store operation on the request path and counts its failures. */
  timeStore<T>(operation: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    let child = this.storeChildren.get(operation);
    if (child === undefined) {
      child = this.storeDuration.labels(operation);
      this.storeChildren.set(operation, child);
    }
    const timer = child;
    return work().then(
      (value) => {
        timer.observe((performance.now() - started) / 1000);
        return value;
      },
      (error: unknown) => {
        timer.observe((performance.now() - started) / 1000);
        this.storeErrors.inc({ operation });
        throw error;
      },
    );
  }
}
