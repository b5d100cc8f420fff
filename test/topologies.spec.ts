import { createHash } from 'node:crypto';
import { createCluster, createSentinel, RedisClusterType, RedisSentinelType } from 'redis';
import {
  RedisClusterTopology,
  RedisSentinelTopology,
  startRedisCluster,
  startRedisSentinel,
} from './support/redis-topologies';

/**
 * Cluster and Sentinel topologies with the node-redis 6 clients the session service would use:
 * hash-tagged session keys, a two-key Lua script, and writes resuming after a master dies.
 */

const FAILOVER_BUDGET_MS = 15_000;
const COMMAND_TIMEOUT_MS = 1000;

const reconnectStrategy = (retries: number) => Math.min(50 * 2 ** Math.min(retries, 4), 500);

// Both client kinds expose the same command signatures; the spec exercises them through this view.
type Commands = Pick<
  RedisSentinelType,
  | 'hSet'
  | 'hGet'
  | 'hGetAll'
  | 'hSetNX'
  | 'zAdd'
  | 'zRem'
  | 'zRange'
  | 'zCard'
  | 'eval'
  | 'evalSha'
  | 'ping'
  | 'xAdd'
  | 'xRevRange'
  | 'del'
>;

const SCRIPT = `
redis.call('HSET', KEYS[1], 'touched', ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
return redis.call('ZCARD', KEYS[2])
`;
const SCRIPT_SHA = createHash('sha1').update(SCRIPT).digest('hex');

async function runScript(client: Commands, keys: string[], args: string[]): Promise<unknown> {
  const options = { keys, arguments: args };
  try {
    return await client.evalSha(SCRIPT_SHA, options);
  } catch (error) {
    if (error instanceof Error && error.message.startsWith('NOSCRIPT')) return client.eval(SCRIPT, options);
    throw error;
  }
}

/** The session-store command set against one topology, all on keys of the `{u:abc}` slot. */
async function exerciseCommands(client: Commands): Promise<void> {
  const session = '{u:abc}:session:s1';
  const index = '{u:abc}:sessions';
  const events = '{u:abc}:events';
  await client.del([session, index, events]);

  expect(await client.hSet(session, { userId: 'abc', device: 'laptop' })).toBe(2);
  expect(await client.hSetNX(session, 'device', 'phone')).toBe(0);
  expect(await client.hSetNX(session, 'createdAt', '1')).toBe(1);
  expect(await client.hGetAll(session)).toEqual({ userId: 'abc', device: 'laptop', createdAt: '1' });

  expect(await client.zAdd(index, { score: 10, value: 's1' })).toBe(1);
  // XX + GT: only move an existing member forward; CH makes the reply count the change.
  expect(await client.zAdd(index, { score: 5, value: 's1' }, { condition: 'XX', comparison: 'GT', CH: true })).toBe(0);
  expect(await client.zAdd(index, { score: 20, value: 's1' }, { condition: 'XX', comparison: 'GT', CH: true })).toBe(1);
  expect(await client.zAdd(index, { score: 1, value: 'nope' }, { condition: 'XX', comparison: 'GT' })).toBe(0);
  expect(await client.zRange(index, 0, -1)).toEqual(['s1']);

  // Two keys of one hash tag: EVALSHA (NOSCRIPT on a node that never saw it) then EVAL.
  expect(await runScript(client, [session, index], ['s2', '30'])).toBe(2);
  expect(await client.evalSha(SCRIPT_SHA, { keys: [session, index], arguments: ['s3', '40'] })).toBe(3);
  expect(await client.hGet(session, 'touched')).toBe('s3');
  expect(await client.zRem(index, ['s2', 's3'])).toBe(2);
  expect(await client.zCard(index)).toBe(1);

  const id = await client.xAdd(events, '*', { type: 'login', sessionId: 's1' });
  // xRange/xRevRange are typed `StreamMessageReply[] | null`, hence the `?.`.
  const entries = await client.xRevRange(events, '+', '-', { COUNT: 1 });
  expect(entries?.[0]).toEqual({ id, message: { type: 'login', sessionId: 's1' } });

  expect(await client.ping()).toBe('PONG');
}

/** Retries `attempt` until it succeeds; returns the elapsed time and the distinct errors seen. */
async function until(
  attempt: () => Promise<unknown>,
  budgetMs = FAILOVER_BUDGET_MS,
): Promise<{ ms: number; attempts: number; slowestAttemptMs: number; errors: string[] }> {
  const start = Date.now();
  const errors = new Set<string>();
  let attempts = 0;
  let slowestAttemptMs = 0;
  for (;;) {
    const t = Date.now();
    attempts++;
    try {
      await attempt();
      return { ms: Date.now() - start, attempts, slowestAttemptMs, errors: [...errors] };
    } catch (error) {
      slowestAttemptMs = Math.max(slowestAttemptMs, Date.now() - t);
      errors.add(`${(error as Error).constructor.name}: ${(error as Error).message}`.slice(0, 140));
    }
    if (Date.now() - start > budgetMs) {
      throw new Error(`no successful write within ${budgetMs} ms; errors: ${[...errors].join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Distinct error events, ports blanked out, for the log. */
function summarize(events: string[]): string {
  const distinct = [...new Set(events.map((e) => e.replace(/\b\d{4,5}\b/g, 'N')))];
  return distinct.length ? distinct.join(' | ') : 'none';
}

describe('Redis Cluster (3 masters + 3 replicas) with createCluster', () => {
  let topo: RedisClusterTopology;
  let cluster: RedisClusterType;
  const errors: string[] = [];

  beforeAll(async () => {
    const t = Date.now();
    topo = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    console.log(`cluster up in ${Date.now() - t} ms on ports ${topo.nodes.map((n) => n.port).join(',')}`);
    cluster = createCluster({
      rootNodes: topo.nodes.map((n) => ({ url: `redis://${n.host}:${n.port}` })),
      // Per-node connection options live in `defaults` (rootNodes only seed discovery).
      defaults: {
        disableOfflineQueue: true,
        socket: { connectTimeout: 1000, reconnectStrategy },
      },
      // Cluster-level: not allowed inside `defaults`.
      commandOptions: { timeout: COMMAND_TIMEOUT_MS },
      // Re-read the topology 500 ms after a node starts reconnecting (default 5000 ms).
      topologyRefreshOnReconnectionAttemptStrategy: 500,
    });
    cluster.on('error', (e: unknown) => errors.push(`error: ${e instanceof Error ? e.message : String(e)}`));
    cluster.on('node-error', (e: Error, node: { port: number }) =>
      errors.push(`node-error ${node.port}: ${e.message}`),
    );
    await cluster.connect();
  }, 40_000);

  afterAll(async () => {
    console.log(`cluster client events seen: ${summarize(errors)}`);
    // close() lets pending commands finish; destroy() (synchronous on a cluster) drops them.
    if (cluster?.isOpen) await cluster.close();
    await topo?.stop();
  });

  it('runs the session commands and a two-key script on a hash tag', async () => {
    expect(cluster.isOpen).toBe(true);
    expect(cluster.isReady).toBe(true);
    await exerciseCommands(cluster);
  });

  it('writes again after the master of {u:abc} dies', async () => {
    const key = '{u:abc}:session:failover';
    await cluster.hSet(key, { before: '1' });
    // Raw commands on a cluster: sendCommand(firstKey, isReadonly, args). The replica has the write
    // before its master dies: WAIT returns as soon as it acknowledges, so its limit only bounds a hang.
    expect(await cluster.sendCommand(key, false, ['WAIT', '1', String(FAILOVER_BUDGET_MS)])).toBe(1);

    const victim = await topo.masterOf(key);
    const killedAt = Date.now();
    await topo.stopNode(victim);
    const result = await until(() => cluster.hSet(key, { after: '1' }));
    console.log(
      `cluster failover: writes to {u:abc} resumed ${Date.now() - killedAt} ms after killing master ${victim} ` +
        `(${result.attempts} attempts, slowest failed attempt ${result.slowestAttemptMs} ms; errors: ${result.errors.join(' | ')})`,
    );
    expect(await topo.masterOf(key)).not.toBe(victim);
    expect(await cluster.hGetAll(key)).toEqual({ before: '1', after: '1' });

    // The old master comes back as a replica of the promoted one.
    const restartedAt = Date.now();
    await topo.startNode(victim);
    await topo.waitUntilHealthy(15_000);
    console.log(`cluster: restarted node ${victim} healthy again after ${Date.now() - restartedAt} ms`);
    expect(await topo.masters()).not.toContain(victim);
    expect(await cluster.hGet(key, 'before')).toBe('1');
  }, 40_000);
});

describe('Redis Sentinel (master + replica + 3 sentinels) with createSentinel', () => {
  let topo: RedisSentinelTopology;
  let sentinel: RedisSentinelType;
  const errors: string[] = [];

  beforeAll(async () => {
    const t = Date.now();
    topo = await startRedisSentinel();
    console.log(
      `sentinel set-up up in ${Date.now() - t} ms: master ${topo.masterPort}, replica ${topo.replicaPort}, ` +
        `sentinels ${topo.sentinels.map((n) => n.port).join(',')}`,
    );
    sentinel = createSentinel({
      name: topo.masterName,
      sentinelRootNodes: topo.sentinels,
      nodeClientOptions: {
        disableOfflineQueue: true,
        socket: { connectTimeout: 1000, reconnectStrategy },
      },
      sentinelClientOptions: { socket: { connectTimeout: 1000 } },
      commandOptions: { timeout: COMMAND_TIMEOUT_MS },
      // While the master is unreachable a command waits for a topology re-read, 1 s apart, up
      // to this many times before it fails (default 16, i.e. ~16 s of blocking).
      maxCommandRediscovers: 2,
      passthroughClientErrorEvents: true,
    });
    // 'error' may carry a plain string (failed Sentinel probe), not only an Error.
    sentinel.on('error', (e: unknown) => errors.push(`error: ${e instanceof Error ? e.message : String(e)}`));
    await sentinel.connect();
  }, 40_000);

  afterAll(async () => {
    console.log(`sentinel client events seen: ${summarize(errors)}`);
    if (sentinel?.isOpen) await sentinel.close();
    await topo?.stop();
  });

  it('runs the session commands and a two-key script', async () => {
    expect(sentinel.isOpen).toBe(true);
    expect(sentinel.isReady).toBe(true);
    await exerciseCommands(sentinel);
  });

  it('writes to the promoted replica after the master dies', async () => {
    const key = '{u:abc}:session:failover';
    await sentinel.hSet(key, { before: '1' });
    // Raw commands on a sentinel client: sendCommand(isReadonly, args). The replica has the write
    // before its master dies: WAIT returns as soon as it acknowledges, so its limit only bounds a hang.
    expect(await sentinel.sendCommand(false, ['WAIT', '1', String(FAILOVER_BUDGET_MS)])).toBe(1);

    const killed = await topo.killMaster();
    expect(killed).toBe(topo.masterPort);
    const killedAt = Date.now();
    const result = await until(() => sentinel.hSet(key, { after: '1' }));
    console.log(
      `sentinel failover: writes resumed ${Date.now() - killedAt} ms after killing master ${killed} ` +
        `(${result.attempts} attempts, slowest failed attempt ${result.slowestAttemptMs} ms; errors: ${result.errors.join(' | ')})`,
    );
    expect(await topo.currentMaster()).toEqual({ host: '127.0.0.1', port: topo.replicaPort });
    expect(await sentinel.hGetAll(key)).toEqual({ before: '1', after: '1' });
  }, 40_000);
});
