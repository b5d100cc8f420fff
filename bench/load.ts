import autocannon from 'autocannon';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';

export type LoadTool = 'wrk' | 'autocannon';

export interface LoadSpec {
  url: string;
  connections: number;
  durationS: number;
  headers: Record<string, string>;
}

export interface LoadResult {
  /** Responses received. */
  requests: number;
  /**
   * Requests the target served: the responses plus those still in flight when the load generator
   * stopped (the target still does their work). autocannon counts them; for wrk, whose closed loop
   * keeps one request in flight per connection, it is responses + connections.
   */
  served: number;
  durationS: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Responses other than 2xx (wrk: other than 2xx/3xx). */
  badStatus: number;
  /** Connect, read, write errors and timeouts. */
  socketErrors: number;
}

function wrkInstalled(): boolean {
  try {
    execFileSync('wrk', ['-v'], { stdio: 'ignore' });
    return true;
  } catch (error) {
    // `wrk -v` prints its usage and exits 1 when it is there; ENOENT when it is not.
    return (error as NodeJS.ErrnoException).code !== 'ENOENT';
  }
}

/** wrk when installed (it costs the machine less than a Node load generator), else autocannon. */
export function chooseTool(wanted = process.env.BENCH_LOADGEN ?? 'auto'): LoadTool {
  if (wanted === 'autocannon') return 'autocannon';
  if (wanted === 'wrk' || wanted === 'auto') {
    if (wrkInstalled()) return 'wrk';
    if (wanted === 'wrk') throw new Error('BENCH_LOADGEN=wrk but wrk is not installed (apt-get install wrk)');
    return 'autocannon';
  }
  throw new Error(`BENCH_LOADGEN must be auto, wrk or autocannon, not "${wanted}"`);
}

export function runLoad(tool: LoadTool, spec: LoadSpec): Promise<LoadResult> {
  return tool === 'wrk' ? runWrk(spec) : runAutocannon(spec);
}

interface WrkJson {
  requests: number;
  duration_us: number;
  connect: number;
  read: number;
  write: number;
  status: number;
  timeout: number;
  p50_us: number;
  p99_us: number;
}

async function runWrk(spec: LoadSpec): Promise<LoadResult> {
  const threads = Math.min(Number(process.env.BENCH_WRK_THREADS ?? 1), spec.connections);
  const args = ['-t', String(threads), '-c', String(spec.connections), '-d', `${spec.durationS}s`, '--timeout', '5s'];
  args.push('-s', join(__dirname, '..', 'bench', 'wrk-report.lua'));
  for (const [name, value] of Object.entries(spec.headers)) args.push('-H', `${name}: ${value}`);
  args.push(spec.url);
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(text) : reject(new Error(`wrk exited ${code}: ${text}`))));
  });
  const line = /^BENCH_JSON (.*)$/m.exec(output);
  if (!line) throw new Error(`wrk printed no summary:\n${output}`);
  const r = JSON.parse(line[1]) as WrkJson;
  const durationS = r.duration_us / 1e6;
  return {
    requests: r.requests,
    served: r.requests + spec.connections,
    durationS,
    rps: r.requests / durationS,
    p50Ms: r.p50_us / 1000,
    p99Ms: r.p99_us / 1000,
    badStatus: r.status,
    socketErrors: r.connect + r.read + r.write + r.timeout,
  };
}

async function runAutocannon(spec: LoadSpec): Promise<LoadResult> {
  const r = await autocannon({
    url: spec.url,
    connections: spec.connections,
    duration: spec.durationS,
    headers: spec.headers,
    timeout: 5,
  });
  const durationS = (r.finish.getTime() - r.start.getTime()) / 1000;
  return {
    requests: r.requests.total,
    served: Math.max(r.requests.sent, r.requests.total),
    durationS,
    rps: r.requests.total / durationS,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    badStatus: r.non2xx,
    socketErrors: r.errors,
  };
}
