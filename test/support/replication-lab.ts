import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Env } from '../../src/config/env';
import { DelayProxy, startDelayProxy } from './delay-proxy';
import {
  cli,
  dataNode,
  freePorts,
  infoField,
  killChild,
  ManagedNode,
  parseClusterNodes,
  spawnNode,
  waitFor,
  waitUntilAnswers,
} from './redis-topologies';

/**
 * Sentinel and Cluster set-ups whose replicas replicate through a DelayProxy, so that a write a
 * client has been told is done can still be lost with its master, as on real networks
 * (test/replica-wait.e2e.spec.ts). Every master is reached through its proxy, by its replica and
 * by everyone else (clients, Sentinel, the cluster's announced address): a replica that is told
 * another address for its master than its own link would be "fixed" by Sentinel to bypass the proxy.
 */

const HOST = '127.0.0.1';
/** How long a master's replication stream is held on its way to the replica. */
export const REPLICATION_DELAY_MS = 200;
const READY_TIMEOUT_MS = 20_000;
const FAILOVER_TIMEOUT_MS = 20_000;

/** Resolves once the replica on `replicaPort` has applied everything its master on `masterPort` has. */
async function caughtUp(masterPort: number, replicaPort: number): Promise<void> {
  const target = Number(infoField(await cli(masterPort, ['INFO', 'replication']), 'master_repl_offset'));
  await waitFor(`replica ${replicaPort} at offset ${target}`, 5_000, async () => {
    const offset = Number(infoField(await cli(replicaPort, ['INFO', 'replication']), 'slave_repl_offset'));
    return offset >= target ? true : `slave_repl_offset=${offset}`;
  });
}

export interface ProxiedSentinel {
  /** The service's variables for this set-up (REDIS_URL unset). */
  env: Env;
  proxy: DelayProxy;
  masterPort: number;
  replicaPort: number;
  /** Waits until the replica has everything the master has now. */
  replicaCaughtUp(): Promise<void>;
  /** The master's machine dies: what its link holds is lost and the process is SIGKILLed. */
  crashMaster(): Promise<void>;
  /** Waits until the Sentinel names the replica as master. */
  replicaPromoted(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A master, one replica behind a DelayProxy, and a Sentinel that sees the master through the proxy
 * too. One Sentinel (quorum 1) is enough to fail over, and spares the wait until Sentinels find
 * each other (hello messages every 2 s); test/faults.e2e.spec.ts runs three.
 */
export async function startProxiedSentinel(masterName = 'mymaster'): Promise<ProxiedSentinel> {
  const dir = mkdtempSync(join(tmpdir(), 'sess-replica-wait-'));
  const [masterPort, replicaPort, proxyPort, ...sentinelPorts] = await freePorts(4);
  const master = dataNode(dir, masterPort, []);
  const replica = dataNode(dir, replicaPort, ['--replicaof', HOST, String(proxyPort)]);
  const sentinels: ManagedNode[] = [];
  let proxy: DelayProxy | undefined;
  const stop = async () => {
    await Promise.all(sentinels.map((node) => killChild(node.child)));
    await Promise.all([killChild(master.child), killChild(replica.child), proxy?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    spawnNode(master);
    await waitUntilAnswers(master);
    proxy = await startDelayProxy([{ listen: proxyPort, target: masterPort }], REPLICATION_DELAY_MS);
    spawnNode(replica);
    await waitUntilAnswers(replica);
    await waitFor('the replica linked to its master through the proxy', READY_TIMEOUT_MS, async () => {
      const info = await cli(replicaPort, ['INFO', 'replication']);
      return infoField(info, 'master_link_status') === 'up' && infoField(info, 'master_sync_in_progress') === '0'
        ? true
        : `master_link_status=${infoField(info, 'master_link_status')}`;
    });
    for (const port of sentinelPorts) {
      const conf = join(dir, `sentinel-${port}.conf`);
      writeFileSync(
        conf,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `logfile ${join(dir, `sentinel-${port}.log`)}`,
          `sentinel monitor ${masterName} ${HOST} ${proxyPort} 1`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 3000`,
          '',
        ].join('\n'),
      );
      const node: ManagedNode = { port, logFile: join(dir, `sentinel-${port}.log`), args: [conf, '--sentinel'] };
      sentinels.push(node);
      spawnNode(node);
    }
    await Promise.all(sentinels.map((node) => waitUntilAnswers(node)));
    await waitFor('the Sentinel to know the master and its replica', READY_TIMEOUT_MS, async () => {
      for (const sentinel of sentinels) {
        const fields = (await cli(sentinel.port, ['SENTINEL', 'master', masterName])).trim().split('\n');
        const state: Record<string, string> = {};
        for (let i = 0; i + 1 < fields.length; i += 2) state[fields[i]] = fields[i + 1];
        if (state.flags !== 'master' || state['num-slaves'] !== '1') {
          return `sentinel ${sentinel.port}: ${state.flags} slaves=${state['num-slaves']}`;
        }
      }
      return true;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const started = proxy;
  return {
    env: {
      REDIS_URL: undefined,
      REDIS_SENTINELS: sentinels.map((node) => `${HOST}:${node.port}`).join(','),
      REDIS_SENTINEL_NAME: masterName,
    },
    proxy: started,
    masterPort,
    replicaPort,
    replicaCaughtUp: () => caughtUp(masterPort, replicaPort),
    async crashMaster() {
      await Promise.all([started.drop(proxyPort), killChild(master.child)]);
    },
    async replicaPromoted() {
      await waitFor(`the Sentinels to promote ${replicaPort}`, FAILOVER_TIMEOUT_MS, async () => {
        for (const sentinel of sentinels) {
          const [, port] = (await cli(sentinel.port, ['SENTINEL', 'get-master-addr-by-name', masterName])).split('\n');
          if (Number(port) !== replicaPort) return `sentinel ${sentinel.port} names ${port}`;
        }
        return infoField(await cli(replicaPort, ['INFO', 'replication']), 'role') === 'master'
          ? true
          : 'not master yet';
      });
    },
    stop,
  };
}

export interface ProxiedCluster {
  env: Env;
  proxy: DelayProxy;
  /** Waits until the replica of the master serving `key` has everything that master has now. */
  replicaCaughtUp(key: string): Promise<void>;
  /**
   * Finds the master serving `key` now and returns its crash: its machine dies, what its link holds
   * is lost and the process is SIGKILLed. Looked up ahead, so the crash itself is immediate.
   */
  crashOfMasterOf(key: string): Promise<() => Promise<void>>;
  /** Waits until a replica serves the slot of `key` and the cluster is ok again. */
  replicaPromotedFor(key: string): Promise<void>;
  stop(): Promise<void>;
}

function servesSlot(node: { flags: string[]; slots: string[] }, slot: number): boolean {
  return (
    node.flags.includes('master') &&
    node.slots.some((range) => {
      const [from, to] = range.split('-').map(Number);
      return slot >= from && slot <= (to ?? from);
    })
  );
}

interface Shard {
  master: ManagedNode;
  proxyPort: number;
  replica: ManagedNode;
}

/**
 * Three masters, each announced at the port of its own DelayProxy route (so its replica, and every
 * client redirected to it, goes through the proxy), and one replica each.
 */
export async function startProxiedCluster(): Promise<ProxiedCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'sess-replica-wait-cluster-'));
  const ports = await freePorts(9, true);
  const clusterArgs = (port: number) => [
    '--cluster-enabled',
    'yes',
    '--cluster-config-file',
    join(dir, `nodes-${port}.conf`),
    '--cluster-node-timeout',
    '1000',
  ];
  const shards: Shard[] = [0, 1, 2].map((i) => {
    const [masterPort, replicaPort, proxyPort] = ports.slice(i * 3, i * 3 + 3);
    return {
      proxyPort,
      master: dataNode(dir, masterPort, [
        ...clusterArgs(masterPort),
        '--cluster-announce-port',
        String(proxyPort),
        '--cluster-announce-bus-port',
        String(masterPort + 10_000),
      ]),
      replica: dataNode(dir, replicaPort, clusterArgs(replicaPort)),
    };
  });
  const all = shards.flatMap((s) => [s.master, s.replica]);
  let proxy: DelayProxy | undefined;
  const stop = async () => {
    await Promise.all([...all.map((node) => killChild(node.child)), proxy?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  };
  const live = () => all.filter((node) => node.child && node.child.exitCode === null && node.child.signalCode === null);
  const shardOf = async (key: string): Promise<Shard> => {
    const [any] = live();
    const slot = Number((await cli(any.port, ['CLUSTER', 'KEYSLOT', key])).trim());
    const lines = parseClusterNodes(await cli(any.port, ['CLUSTER', 'NODES']));
    const owner = lines.find((n) => servesSlot(n, slot));
    const shard = shards.find((s) => s.proxyPort === owner?.port);
    if (!shard) throw new Error(`slot ${slot} of ${key} is served by ${owner?.port}, not a proxied master`);
    return shard;
  };
  try {
    proxy = await startDelayProxy(
      shards.map((s) => ({ listen: s.proxyPort, target: s.master.port })),
      REPLICATION_DELAY_MS,
    );
    for (const node of all) spawnNode(node);
    await Promise.all(all.map((node) => waitUntilAnswers(node)));
    // Given masters first: redis-cli makes the first three the masters, the others their replicas.
    const create = [
      '--cluster',
      'create',
      ...shards.map((s) => `${HOST}:${s.master.port}`),
      ...shards.map((s) => `${HOST}:${s.replica.port}`),
      '--cluster-replicas',
      '1',
      '--cluster-yes',
    ];
    await new Promise<void>((resolve, reject) =>
      execFile('redis-cli', create, { timeout: 30_000 }, (error, stdout, stderr) =>
        error ? reject(new Error(`redis-cli --cluster create: ${error.message}\n${stdout}\n${stderr}`)) : resolve(),
      ),
    );
    const proxyPorts = new Set(shards.map((s) => String(s.proxyPort)));
    await waitFor('every slot served and every replica linked through a proxy', READY_TIMEOUT_MS, async () => {
      for (const node of all) {
        const state = infoField(await cli(node.port, ['CLUSTER', 'INFO']), 'cluster_state');
        if (state !== 'ok') return `node ${node.port}: cluster_state=${state}`;
      }
      for (const { replica } of shards) {
        const info = await cli(replica.port, ['INFO', 'replication']);
        if (infoField(info, 'role') !== 'slave') return `node ${replica.port} is not a replica`;
        if (infoField(info, 'master_link_status') !== 'up' || !proxyPorts.has(infoField(info, 'master_port') ?? '')) {
          return `replica ${replica.port}: link ${infoField(info, 'master_link_status')} to ${infoField(info, 'master_port')}`;
        }
      }
      return true;
    });
  } catch (error) {
    await stop();
    throw error;
  }
  const started = proxy;
  return {
    env: { REDIS_URL: undefined, REDIS_CLUSTER_NODES: all.map((node) => `${HOST}:${node.port}`).join(',') },
    proxy: started,
    async replicaCaughtUp(key) {
      const shard = await shardOf(key);
      // The master's replica is whichever node replicates from its proxy port.
      for (const node of live()) {
        const info = await cli(node.port, ['INFO', 'replication']);
        if (infoField(info, 'master_port') === String(shard.proxyPort)) return caughtUp(shard.master.port, node.port);
      }
      throw new Error(`no replica of ${shard.master.port}`);
    },
    async crashOfMasterOf(key) {
      const shard = await shardOf(key);
      return async () => {
        await Promise.all([started.drop(shard.proxyPort), killChild(shard.master.child)]);
      };
    },
    async replicaPromotedFor(key) {
      await waitFor(`a replica to serve ${key}`, FAILOVER_TIMEOUT_MS, async () => {
        for (const node of live()) {
          const state = infoField(await cli(node.port, ['CLUSTER', 'INFO']), 'cluster_state');
          if (state !== 'ok') return `node ${node.port}: cluster_state=${state}`;
        }
        const [any] = live();
        const slot = Number((await cli(any.port, ['CLUSTER', 'KEYSLOT', key])).trim());
        const lines = parseClusterNodes(await cli(any.port, ['CLUSTER', 'NODES']));
        const serving = lines.find((n) => servesSlot(n, slot) && !n.flags.includes('fail'));
        return serving && !shards.some((s) => s.proxyPort === serving.port) ? true : `slot ${slot}: ${serving?.port}`;
      });
    },
    stop,
  };
}
