import { startRedisCluster, startRedisSentinel } from './redis-topologies';
import { startRedisServer } from './redis-server';

type Stoppable = { stop(): Promise<void> };

/**
 * Gives every test file a Redis of the topology named by TEST_TOPOLOGY (standalone, the default;
 * cluster: 3 masters + 3 replicas; sentinel: master, replica, 3 Sentinels), started here on free
 * loopback ports and stopped after. With REDIS_URL set (standalone only), tests use that Redis,
 * only under key prefixes of their own. The app's connection variables travel in TEST_REDIS_ENV.
 */
export default async function globalSetup(): Promise<void> {
  const topology = process.env.TEST_TOPOLOGY ?? 'standalone';
  let env: Record<string, string>;
  let owned: Stoppable | undefined;
  if (topology === 'cluster') {
    const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
    owned = cluster;
    env = { REDIS_CLUSTER_NODES: cluster.nodes.map((n) => `${n.host}:${n.port}`).join(',') };
  } else if (topology === 'sentinel') {
    const sentinel = await startRedisSentinel();
    owned = sentinel;
    env = {
      REDIS_SENTINELS: sentinel.sentinels.map((n) => `${n.host}:${n.port}`).join(','),
      REDIS_SENTINEL_NAME: sentinel.masterName,
    };
  } else if (topology === 'standalone') {
    if (process.env.REDIS_URL) {
      env = { REDIS_URL: process.env.REDIS_URL };
    } else {
      const server = await startRedisServer();
      owned = server;
      env = { REDIS_URL: server.url };
    }
  } else {
    throw new Error(`TEST_TOPOLOGY must be standalone, cluster or sentinel, not "${topology}"`);
  }
  process.env.TEST_TOPOLOGY = topology;
  process.env.TEST_REDIS_ENV = JSON.stringify(env);
  if (env.REDIS_URL) process.env.TEST_REDIS_URL = env.REDIS_URL;
  (globalThis as { __REDIS_TOPOLOGY__?: Stoppable }).__REDIS_TOPOLOGY__ = owned;
}
