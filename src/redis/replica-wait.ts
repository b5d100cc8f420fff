import { Logger, Provider } from '@nestjs/common';
import type { RedisClusterType, RedisSentinelType } from 'redis';
import { RedisConfig } from '../config/config';
import { MetricsService } from '../metrics/metrics.service';
import {
  COMMAND_TIMEOUT_MS,
  connectLogged,
  createForTopology,
  Deadlines,
  REDIS_CLIENT,
  RedisClient,
  withDeadlines,
} from './redis-client';

/** A write sent on the client it is given. */
export type Write<T> = (client: RedisClient) => Promise<T>;

/**
 * Writes that must outlive a failover: the endings of sessions, and the user changes behind them
 * (role, password, deletion). Redis acknowledges a write before any replica has it, so a master
 * that dies right after a logout can take the logout with it and the promoted replica serves the
 * session again. On Sentinel and Cluster these writes therefore return only once a replica has
 * them (`WAIT 1`), or once REVOCATION_REPLICA_WAIT has passed (a warning and a metric; README
 * "Revocation and failover"). The embedded store does not use this.
 */
export abstract class ReplicaWait {
  /** Runs `write`, then waits until a replica has it and everything `ahead()` sent before it to the same hash tag. */
  abstract acknowledged<T>(key: string, write: Write<T>): Promise<T>;
  /**
   * Runs `write` where acknowledged() runs its writes, without waiting: the next acknowledged write
   * to a key of the same hash tag covers it (one wait for a user change and the endings it causes).
   */
  abstract ahead<T>(key: string, write: Write<T>): Promise<T>;
  abstract close(): Promise<void>;
}

/** Standalone Redis (no replicas to wait for) or REVOCATION_REPLICA_WAIT=0: the shared connection, nothing more. */
export class NoReplicaWait extends ReplicaWait {
  constructor(private readonly redis: RedisClient | null) {
    super();
  }

  acknowledged<T>(_key: string, write: Write<T>): Promise<T> {
    if (!this.redis) throw new Error('No Redis is configured: the embedded store writes in process');
    return write(this.redis);
  }

  ahead<T>(key: string, write: Write<T>): Promise<T> {
    return this.acknowledged(key, write);
  }

  async close(): Promise<void> {}
}

interface Waiter {
  /** performance.now() by which this write's caller stops waiting. */
  deadline: number;
  settle(acked: number): void;
}

/**
 * The WAITs of one connection. WAIT counts only what was sent before it on its own connection, and
 * holds that connection until it answers; so one WAIT answers every write that had completed when
 * it was sent, and writes wait here while a WAIT is out (the server would hold them just as long,
 * past their command deadline). Endings that come together share one WAIT, and with a replica
 * gone none of them waits longer than its own bound.
 */
class Lane {
  private out = false;
  private done: Waiter[] = [];
  private held: (() => void)[] = [];

  constructor(private readonly sendWait: (timeoutMs: number) => Promise<number>) {}

  /** Resolves once no WAIT holds the connection. */
  async free(): Promise<void> {
    if (this.out) await new Promise<void>((resolve) => this.held.push(resolve));
  }

  /** How many replicas have every write this connection completed so far; 0 once `deadline` passed. */
  acknowledge(deadline: number): Promise<number> {
    return new Promise((settle) => {
      this.done.push({ deadline, settle });
      this.flush();
    });
  }

  private flush(): void {
    if (this.out || this.done.length === 0) return;
    const waiters = this.done;
    this.done = [];
    this.out = true;
    const now = performance.now();
    const last = Math.max(...waiters.map((w) => w.deadline));
    // WAIT 0 would wait for ever: at least 1 ms.
    const timeoutMs = Math.max(1, Math.ceil(last - now));
    const timers = waiters
      .filter((w) => w.deadline < last)
      .map((w) => setTimeout(() => w.settle(0), Math.max(0, w.deadline - now)));
    void this.sendWait(timeoutMs).then((acked) => {
      for (const timer of timers) clearTimeout(timer);
      for (const w of waiters) w.settle(acked);
      this.out = false;
      const held = this.held;
      this.held = [];
      for (const release of held) release();
      this.flush();
    });
  }
}

/** Sentinel or Cluster: a connection of its own (never the shared one, which a WAIT would hold up), and its lanes. */
class WaitForReplica extends ReplicaWait {
  private readonly logger = new Logger('Redis');
  /** One lane per master connection: one for Sentinel, one per master node on a cluster. */
  private readonly lanes = new WeakMap<object, Lane>();
  private readonly waits: Deadlines;

  constructor(
    private readonly client: RedisClient,
    private readonly target: WaitTarget,
    private readonly boundMs: number,
    private readonly metrics: MetricsService,
  ) {
    super();
    this.waits = new Deadlines(boundMs + COMMAND_TIMEOUT_MS);
  }

  async acknowledged<T>(key: string, write: Write<T>): Promise<T> {
    const started = performance.now();
    const lane = await this.laneOf(key);
    await lane.free();
    const value = await write(this.client);
    if ((await lane.acknowledge(started + this.boundMs)) < 1) {
      this.metrics.replicaWaitTimeouts.inc();
      this.logger.warn(
        `No replica acknowledged a session ending within ${this.boundMs} ms (REVOCATION_REPLICA_WAIT): ` +
          'it is lost if the master fails before it replicates',
      );
    }
    return value;
  }

  async ahead<T>(key: string, write: Write<T>): Promise<T> {
    await (await this.laneOf(key)).free();
    return write(this.client);
  }

  close(): Promise<void> {
    return this.client.close();
  }

  private async laneOf(key: string): Promise<Lane> {
    const connection = await this.target.connectionOf(key);
    let lane = this.lanes.get(connection);
    if (!lane) {
      lane = new Lane((timeoutMs) => this.wait(key, timeoutMs));
      this.lanes.set(connection, lane);
    }
    return lane;
  }

  /** WAIT 1; a failure (the master gone, a timeout) counts as no replica. */
  private async wait(key: string, timeoutMs: number): Promise<number> {
    try {
      return await this.waits.bound(this.target.wait(key, timeoutMs));
    } catch (error) {
      this.logger.warn(`WAIT for a replica failed: ${error instanceof Error ? error.message : String(error)}`);
      return 0;
    }
  }
}

/** Where a WAIT goes: the master connection the write to `key` went on. */
interface WaitTarget {
  connectionOf(key: string): object | Promise<object>;
  wait(key: string, timeoutMs: number): Promise<number>;
}

const waitArgs = (timeoutMs: number) => ['WAIT', '1', String(timeoutMs)];

export const replicaWaitProvider: Provider = {
  provide: ReplicaWait,
  inject: [RedisConfig, REDIS_CLIENT, MetricsService],
  useFactory: async (config: RedisConfig, shared: RedisClient | null, metrics: MetricsService) => {
    const { kind } = config.topology;
    if (config.replicaWaitMs === 0 || (kind !== 'sentinel' && kind !== 'cluster')) return new NoReplicaWait(shared);
    const client = createForTopology(config);
    if (!client) return new NoReplicaWait(shared);
    await connectLogged(client, `${kind}, endings`);
    let target: WaitTarget;
    if (kind === 'sentinel') {
      const sentinel = client as unknown as RedisSentinelType;
      // Commands that are not leased share one master connection (masterPoolSize 1).
      target = { connectionOf: () => sentinel, wait: (_key, t) => sentinel.sendCommand<number>(false, waitArgs(t)) };
    } else {
      const cluster = client as unknown as RedisClusterType;
      // Routed by key, like the write before it: to the master that owns the key's slot.
      target = {
        connectionOf: (key) => cluster.getNodeClientForKey(key),
        wait: (key, t) => cluster.sendCommand<number>(key, false, waitArgs(t)),
      };
    }
    return new WaitForReplica(withDeadlines(client, COMMAND_TIMEOUT_MS), target, config.replicaWaitMs, metrics);
  },
};
