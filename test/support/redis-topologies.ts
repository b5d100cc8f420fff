import { ChildProcess, execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis-server';

/**
 * Throwaway Redis Cluster and Sentinel set-ups for tests: redis-server processes on free loopback
 * ports, all files in one temp dir, every wait bounded, and every child killed by stop() — also
 * when start-up fails half way, and (as a last resort) when the test process exits.
 */

export interface RedisNodeAddress {
  host: string;
  port: number;
}

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;
const CLUSTER_READY_TIMEOUT_MS = 20_000;
const SENTINEL_READY_TIMEOUT_MS = 20_000;
const EXIT_TIMEOUT_MS = 5_000;

// ---------------------------------------------------------------------------------------------
// Process bookkeeping
// ---------------------------------------------------------------------------------------------

/** Every redis-server this module started and that has not exited yet. */
const liveChildren = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last resort when a test forgets stop() or the runner exits early: kill() is synchronous.
  process.once('exit', () => {
    for (const child of liveChildren) child.kill('SIGKILL');
  });
}

export interface ManagedNode {
  port: number;
  args: string[];
  logFile: string;
  child?: ChildProcess;
  spawnError?: Error;
}

export function spawnNode(node: ManagedNode): ChildProcess {
  installExitHook();
  // stdout/stderr go to <log>.out: errors before the log file is opened (bad config) land there.
  const out = openSync(`${node.logFile}.out`, 'a');
  let child: ChildProcess;
  try {
    child = spawn('redis-server', node.args, { stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
  // A missing binary is reported as an 'error' event; the readiness wait turns it into a clear error.
  child.once('error', (error) => {
    node.spawnError = error;
    liveChildren.delete(child);
  });
  node.child = child;
  node.spawnError = undefined;
  return child;
}

export function isRunning(child: ChildProcess | undefined): child is ChildProcess {
  return !!child && child.exitCode === null && child.signalCode === null && child.pid !== undefined;
}

export async function killChild(child: ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (!isRunning(child)) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      resolve();
    }, EXIT_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill(signal);
  });
}

function logTail(node: ManagedNode, lines = 15): string {
  const tail = (file: string) => {
    try {
      if (!existsSync(file)) return '';
      return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  };
  return [tail(`${node.logFile}.out`), tail(node.logFile)].filter(Boolean).join('\n') || '(no output logged)';
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Runs redis-cli against one port; rejects on a non-zero exit, a timeout or an error reply. */
export function cli(port: number, args: string[], timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'redis-cli',
      ['-h', HOST, '-p', String(port), ...args],
      { timeout: timeoutMs, maxBuffer: 4 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`redis-cli -p ${port} ${args.join(' ')}: ${stderr || error.message}`));
        // redis-cli exits 0 on an error reply when stdout is not a tty; surface it as an error.
        if (/^(ERR|WRONGTYPE|NOSCRIPT|LOADING|MASTERDOWN|CLUSTERDOWN|NOAUTH)\b/.test(stdout)) {
          return reject(new Error(`redis-cli -p ${port} ${args.join(' ')}: ${stdout.trim()}`));
        }
        resolve(stdout);
      },
    );
  });
}

export function infoField(info: string, field: string): string | undefined {
  const match = new RegExp(`^${field}:(.*)$`, 'm').exec(info);
  return match?.[1].trim();
}

/**
 * Polls `check` until it returns true or the deadline passes; the error names what was awaited and
 * the last observed state (what `check` last returned as a string, or the last exception).
 */
export async function waitFor(
  what: string,
  timeoutMs: number,
  check: () => Promise<true | string>,
  intervalMs = 100,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last: string;
  for (;;) {
    try {
      const result = await check();
      if (result === true) return;
      last = result;
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}; last: ${last}`);
    await sleep(intervalMs);
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen(port, HOST, () => server.close(() => resolve(true)));
  });
}

/**
 * `count` distinct free ports. With `clusterBus`, port + 10000 (Redis' default cluster bus port)
 * must be a valid, free port as well.
 */
export async function freePorts(count: number, clusterBus = false): Promise<number[]> {
  const ports: number[] = [];
  for (let attempt = 0; ports.length < count; attempt++) {
    if (attempt > count * 50) throw new Error(`Could not find ${count} free loopback ports`);
    const port = await freePort();
    if (port === 0 || ports.includes(port) || (clusterBus && ports.includes(port + 10_000))) continue;
    if (clusterBus && (port + 10_000 > 65_535 || ports.some((p) => p + 10_000 === port))) continue;
    if (clusterBus && !(await canListen(port + 10_000))) continue;
    ports.push(port);
  }
  return ports;
}

export async function waitUntilAnswers(node: ManagedNode, timeoutMs = START_TIMEOUT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const child: ChildProcess | undefined = node.child;
    if (node.spawnError) throw new Error(`could not start redis-server: ${node.spawnError.message}`);
    if (!isRunning(node.child)) {
      throw new Error(
        `redis-server on port ${node.port} exited (code ${child?.exitCode}, signal ${child?.signalCode}) ` +
          `during start-up:\n${logTail(node)}`,
      );
    }
    try {
      if ((await cli(node.port, ['PING'], 1_000)).trim() === 'PONG') return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      throw new Error(`redis-server on port ${node.port} did not answer within ${timeoutMs} ms:\n${logTail(node)}`);
    }
    await sleep(50);
  }
}

// ---------------------------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------------------------

export interface RedisClusterOptions {
  masters?: number;
  replicasPerMaster?: number;
}

export interface RedisClusterTopology {
  nodes: RedisNodeAddress[];
  /** Ports of the masters that currently serve slots and are not flagged failed. */
  masters(): Promise<number[]>;
  /** Port of the master currently serving the slot of `key` (hash tags honoured). */
  masterOf(key: string): Promise<number>;
  /** Kills one node (SIGKILL by default: a crash, not a clean shutdown) and waits for it to exit. */
  stopNode(port: number, signal?: NodeJS.Signals): Promise<void>;
  /** Restarts a stopped node on the same port with the same nodes.conf and AOF; waits until it answers. */
  startNode(port: number): Promise<void>;
  /** Waits until every running node reports cluster_state:ok with all 16384 slots ok. */
  waitUntilHealthy(timeoutMs?: number): Promise<void>;
  dir: string;
  stop(): Promise<void>;
}

interface ClusterNodeLine {
  id: string;
  port: number;
  flags: string[];
  masterId: string;
  linkState: string;
  slots: string[];
}

export function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text
    .trim()
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => {
      const [id, address, flags, masterId, , , , linkState, ...slots] = line.trim().split(' ');
      // address: ip:port@cport[,hostname]
      const port = Number(address.split('@')[0].split(':').pop());
      return { id, port, flags: flags.split(','), masterId, linkState, slots };
    });
}

function slotInRanges(slot: number, ranges: string[]): boolean {
  return ranges.some((range) => {
    if (range.startsWith('[')) return false; // migrating/importing markers
    const [from, to] = range.split('-').map(Number);
    return slot >= from && slot <= (to ?? from);
  });
}

export async function startRedisCluster(options: RedisClusterOptions = {}): Promise<RedisClusterTopology> {
  const masterCount = options.masters ?? 3;
  const replicasPerMaster = options.replicasPerMaster ?? 1;
  if (masterCount < 3) throw new Error('redis-cli --cluster create needs at least 3 masters');
  const total = masterCount * (1 + replicasPerMaster);

  const dir = mkdtempSync(join(tmpdir(), 'sess-cluster-'));
  const nodes = new Map<number, ManagedNode>();

  const stop = async (): Promise<void> => {
    await Promise.all([...nodes.values()].map((node) => killChild(node.child)));
    rmSync(dir, { recursive: true, force: true });
  };

  const running = () => [...nodes.values()].filter((node) => isRunning(node.child));

  const clusterNodes = async (): Promise<ClusterNodeLine[]> => {
    let lastError: unknown = new Error('no running cluster node');
    for (const node of running()) {
      try {
        return parseClusterNodes(await cli(node.port, ['CLUSTER', 'NODES']));
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  };

  const waitUntilHealthy = async (timeoutMs = CLUSTER_READY_TIMEOUT_MS): Promise<void> => {
    await waitFor('cluster_state:ok with all slots covered on every node', timeoutMs, async () => {
      for (const node of running()) {
        const info = await cli(node.port, ['CLUSTER', 'INFO']);
        const state = infoField(info, 'cluster_state');
        const slotsOk = infoField(info, 'cluster_slots_ok');
        const known = Number(infoField(info, 'cluster_known_nodes'));
        if (state !== 'ok' || slotsOk !== '16384' || known < total) {
          return `port ${node.port}: cluster_state=${state} cluster_slots_ok=${slotsOk} known_nodes=${known}`;
        }
      }
      // All running nodes agree on who serves slots, and none of them is flagged failed (a
      // restarted ex-master briefly still claims its old slots until it learns the new epoch).
      const runningPorts = new Set(running().map((node) => node.port));
      let agreed: string | undefined;
      for (const node of running()) {
        const lines = parseClusterNodes(await cli(node.port, ['CLUSTER', 'NODES']));
        const flagged = lines.filter(
          (n) => runningPorts.has(n.port) && (n.flags.includes('fail') || n.flags.includes('fail?')),
        );
        if (flagged.length)
          return `port ${node.port} flags running node ${flagged[0].port} as ${flagged[0].flags.join(',')}`;
        const masters = lines
          .filter((n) => n.flags.includes('master') && n.slots.length > 0)
          .map((n) => `${n.port}:${n.slots.join(',')}`)
          .sort()
          .join(' ');
        if (agreed !== undefined && masters !== agreed) {
          return `nodes disagree on slot owners: ${agreed} vs (port ${node.port}) ${masters}`;
        }
        agreed = masters;
      }
      // Replicas must be synced, or a later failover has no eligible candidate.
      for (const node of running()) {
        const info = await cli(node.port, ['INFO', 'replication']);
        if (infoField(info, 'role') === 'slave' && infoField(info, 'master_link_status') !== 'up') {
          return `replica ${node.port}: master_link_status=${infoField(info, 'master_link_status')}`;
        }
      }
      return true;
    });
  };

  try {
    const ports = await freePorts(total, true);
    for (const port of ports) {
      const logFile = join(dir, `redis-${port}.log`);
      const node: ManagedNode = {
        port,
        logFile,
        args: [
          '--port',
          String(port),
          '--bind',
          HOST,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--cluster-node-timeout',
          '1000',
          // Full syncs start at once instead of after the default 5 s diskless-sync delay.
          '--repl-diskless-sync-delay',
          '0',
          '--appendonly',
          'yes',
          '--appendfilename',
          `appendonly-${port}.aof`,
          '--appenddirname',
          `aof-${port}`,
          '--dbfilename',
          `dump-${port}.rdb`,
          '--save',
          '',
          '--dir',
          dir,
          '--logfile',
          logFile,
        ],
      };
      nodes.set(port, node);
      spawnNode(node);
    }
    await Promise.all([...nodes.values()].map((node) => waitUntilAnswers(node)));

    const createArgs = [
      '--cluster',
      'create',
      ...ports.map((port) => `${HOST}:${port}`),
      '--cluster-replicas',
      String(replicasPerMaster),
      '--cluster-yes',
    ];
    await new Promise<void>((resolve, reject) => {
      execFile('redis-cli', createArgs, { timeout: 30_000 }, (error, stdout, stderr) => {
        if (error) reject(new Error(`redis-cli --cluster create failed: ${error.message}\n${stdout}\n${stderr}`));
        else resolve();
      });
    });
    await waitUntilHealthy();
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    nodes: [...nodes.keys()].map((port) => ({ host: HOST, port })),
    dir,
    async masters() {
      const lines = await clusterNodes();
      return lines
        .filter((n) => n.flags.includes('master') && !n.flags.includes('fail') && n.slots.length > 0)
        .map((n) => n.port)
        .sort((a, b) => a - b);
    },
    async masterOf(key: string) {
      const [any] = running();
      if (!any) throw new Error('no running cluster node');
      const slot = Number((await cli(any.port, ['CLUSTER', 'KEYSLOT', key])).trim());
      const owner = (await clusterNodes()).find(
        (n) => n.flags.includes('master') && !n.flags.includes('fail') && slotInRanges(slot, n.slots),
      );
      if (!owner) throw new Error(`no healthy master serves slot ${slot} (key ${key})`);
      return owner.port;
    },
    async stopNode(port: number, signal: NodeJS.Signals = 'SIGKILL') {
      const node = nodes.get(port);
      if (!node) throw new Error(`port ${port} is not a node of this cluster`);
      await killChild(node.child, signal);
    },
    async startNode(port: number) {
      const node = nodes.get(port);
      if (!node) throw new Error(`port ${port} is not a node of this cluster`);
      if (isRunning(node.child)) throw new Error(`node ${port} is still running`);
      spawnNode(node);
      try {
        await waitUntilAnswers(node);
      } catch (error) {
        await killChild(node.child);
        throw error;
      }
    },
    waitUntilHealthy,
    stop,
  };
}

// ---------------------------------------------------------------------------------------------
// Sentinel
// ---------------------------------------------------------------------------------------------

/** A plain (not clustered) redis-server of a test topology: no persistence, full syncs at once. */
export function dataNode(dir: string, port: number, extra: string[]): ManagedNode {
  const logFile = join(dir, `redis-${port}.log`);
  return {
    port,
    logFile,
    args: [
      '--port',
      String(port),
      '--bind',
      HOST,
      '--save',
      '',
      '--appendonly',
      'no',
      // The first full sync starts at once, not after the default 5 s.
      '--repl-diskless-sync-delay',
      '0',
      '--dbfilename',
      `dump-${port}.rdb`,
      '--dir',
      dir,
      '--logfile',
      logFile,
      ...extra,
    ],
  };
}

export interface RedisSentinelTopology {
  sentinels: RedisNodeAddress[];
  masterName: string;
  /** Port of the initial master. */
  masterPort: number;
  /** Port of the initial replica. */
  replicaPort: number;
  /** SIGKILLs the data node the Sentinels currently name as master; resolves with its port. */
  killMaster(): Promise<number>;
  /** The master address according to the first Sentinel that answers. */
  currentMaster(): Promise<RedisNodeAddress>;
  dir: string;
  stop(): Promise<void>;
}

export async function startRedisSentinel(
  options: { masterName?: string; sentinels?: number; quorum?: number } = {},
): Promise<RedisSentinelTopology> {
  const masterName = options.masterName ?? 'mymaster';
  const sentinelCount = options.sentinels ?? 3;
  const quorum = options.quorum ?? 2;
  const dir = mkdtempSync(join(tmpdir(), 'sess-sentinel-'));
  const dataNodes = new Map<number, ManagedNode>();
  const sentinelNodes: ManagedNode[] = [];

  const stop = async (): Promise<void> => {
    // Sentinels first, so none of them starts a failover while the data nodes go away.
    await Promise.all(sentinelNodes.map((node) => killChild(node.child)));
    await Promise.all([...dataNodes.values()].map((node) => killChild(node.child)));
    rmSync(dir, { recursive: true, force: true });
  };

  const currentMaster = async (): Promise<RedisNodeAddress> => {
    let lastError: unknown = new Error('no running sentinel');
    for (const sentinel of sentinelNodes.filter((node) => isRunning(node.child))) {
      try {
        const [host, port] = (await cli(sentinel.port, ['SENTINEL', 'get-master-addr-by-name', masterName]))
          .trim()
          .split('\n');
        if (host && port) return { host, port: Number(port) };
        lastError = new Error(`sentinel ${sentinel.port} does not know ${masterName}`);
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError;
  };

  let masterPort = 0;
  let replicaPort = 0;
  try {
    const [mPort, rPort, ...sentinelPorts] = await freePorts(2 + sentinelCount);
    masterPort = mPort;
    replicaPort = rPort;
    for (const port of [masterPort, replicaPort]) {
      const node = dataNode(dir, port, port === replicaPort ? ['--replicaof', HOST, String(masterPort)] : []);
      dataNodes.set(port, node);
      spawnNode(node);
    }
    await Promise.all([...dataNodes.values()].map((node) => waitUntilAnswers(node)));
    await waitFor(`replica ${replicaPort} in sync with master ${masterPort}`, START_TIMEOUT_MS, async () => {
      const info = await cli(replicaPort, ['INFO', 'replication']);
      const link = infoField(info, 'master_link_status');
      const syncing = infoField(info, 'master_sync_in_progress');
      return link === 'up' && syncing === '0' ? true : `master_link_status=${link} sync_in_progress=${syncing}`;
    });

    for (const port of sentinelPorts) {
      const confFile = join(dir, `sentinel-${port}.conf`);
      const logFile = join(dir, `sentinel-${port}.log`);
      // Sentinel rewrites its own config file at run time, so each needs a private, writable one.
      writeFileSync(
        confFile,
        [
          `port ${port}`,
          `bind ${HOST}`,
          `dir ${dir}`,
          `logfile ${logFile}`,
          'sentinel resolve-hostnames no',
          `sentinel monitor ${masterName} ${HOST} ${masterPort} ${quorum}`,
          `sentinel down-after-milliseconds ${masterName} 1000`,
          `sentinel failover-timeout ${masterName} 3000`,
          `sentinel parallel-syncs ${masterName} 1`,
          '',
        ].join('\n'),
      );
      const node: ManagedNode = { port, logFile, args: [confFile, '--sentinel'] };
      sentinelNodes.push(node);
      spawnNode(node);
    }
    await Promise.all(sentinelNodes.map((node) => waitUntilAnswers(node)));

    // Each Sentinel must know the master, the replica and the other Sentinels (found through hello
    // messages every 2 s), or a failover cannot reach its quorum / majority.
    await waitFor(
      `all ${sentinelCount} sentinels to know ${masterName}, its replica and each other`,
      SENTINEL_READY_TIMEOUT_MS,
      async () => {
        for (const sentinel of sentinelNodes) {
          const [host, port] = (await cli(sentinel.port, ['SENTINEL', 'get-master-addr-by-name', masterName]))
            .trim()
            .split('\n');
          if (host !== HOST || Number(port) !== masterPort) return `sentinel ${sentinel.port}: master ${host}:${port}`;
          const fields = (await cli(sentinel.port, ['SENTINEL', 'master', masterName])).trim().split('\n');
          const master: Record<string, string> = {};
          for (let i = 0; i + 1 < fields.length; i += 2) master[fields[i]] = fields[i + 1];
          if (master['num-slaves'] !== '1' || master['num-other-sentinels'] !== String(sentinelCount - 1)) {
            return `sentinel ${sentinel.port}: num-slaves=${master['num-slaves']} num-other-sentinels=${master['num-other-sentinels']} flags=${master.flags}`;
          }
          if (master.flags !== 'master') return `sentinel ${sentinel.port}: flags=${master.flags}`;
        }
        return true;
      },
      200,
    );
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    sentinels: sentinelNodes.map((node) => ({ host: HOST, port: node.port })),
    masterName,
    masterPort,
    replicaPort,
    dir,
    currentMaster,
    async killMaster() {
      const { port } = await currentMaster();
      const node = dataNodes.get(port);
      if (!node) throw new Error(`sentinels name ${port} as master, which this set-up did not start`);
      await killChild(node.child, 'SIGKILL');
      return port;
    },
    stop,
  };
}
