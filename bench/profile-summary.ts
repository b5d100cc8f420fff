import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fmt, markdownTable, Table, textTable } from './report';

/**
 * `node dist-bench/profile-summary.js [--top N] [--md] PATH...`: self time of V8 CPU profiles
 * (`node --cpu-prof`, see bench/README.md) by package and by function. A PATH is a .cpuprofile file
 * or a folder of them (all of a folder's profiles are added up: a process's worker threads write
 * profiles of their own). Idle time is left out; the shares are of the time the process ran
 * JavaScript, native code, GC or V8's own work ("(program)").
 *
 * By default only the load window counts: the longest run of 1-second bins in which the process was
 * busy at least half the time (a measured round of the bench), so that start-up (module loading,
 * compiling, Nest's DI scan) and the checks do not mix with the per-request work. `--all` keeps
 * every sample.
 */

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Where a function comes from: a package, Node's own modules, the service's code, or V8. */
export function category(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName.startsWith('(')) return functionName; // (garbage collector), (program), (idle), (root)
    return '(native)';
  }
  if (url.startsWith('node:')) {
    const module = url.slice('node:'.length);
    if (module.startsWith('internal/streams') || module === 'stream') return 'node: streams';
    if (/^(_http_|http$|internal\/http)/.test(module)) return 'node: http';
    if (/^(net$|internal\/net|internal\/stream_base_commons|dns)/.test(module)) return 'node: net';
    if (/^internal\/(process\/task_queues|timers|async_hooks)|^timers$|^async_hooks$/.test(module))
      return 'node: timers, ticks, async hooks';
    if (/^internal\/(modules|vm|bootstrap)/.test(module)) return 'node: module loading';
    return `node: ${module.replace(/^internal\//, '').split('/')[0]}`;
  }
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return `service: ${url.slice(dist + '/dist/'.length).split('/')[0]}`;
  const bench = url.indexOf('/dist-bench/');
  if (bench >= 0) return `bench: ${url.slice(bench + '/dist-bench/'.length)}`;
  return url;
}

function where(frame: CallFrame): string {
  const name = frame.functionName || '(anonymous)';
  if (frame.url === '') return name;
  const nm = frame.url.lastIndexOf('/node_modules/');
  const dist = frame.url.indexOf('/dist/');
  const file =
    nm >= 0
      ? frame.url.slice(nm + '/node_modules/'.length)
      : dist >= 0
        ? frame.url.slice(dist + 1)
        : frame.url.replace(/^file:\/\//, '');
  return `${name} ${file}:${frame.lineNumber + 1}`;
}

function files(paths: string[]): string[] {
  return paths.flatMap((p) =>
    statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => f.endsWith('.cpuprofile'))
          .map((f) => join(p, f))
      : [p],
  );
}

/** Sample i's time is the delta to the next sample (the last one's is unknown: left out). */
function sampleTimes(profile: CpuProfile): { at: number[]; us: number[] } {
  const at: number[] = [];
  const us: number[] = [];
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length - 1; i++) {
    t += profile.timeDeltas[i];
    at.push(t);
    us.push(Math.max(0, profile.timeDeltas[i + 1]));
  }
  return { at, us };
}

/** [from, to) in the profile's clock (µs): the longest run of 1 s bins at least half busy. */
export function loadWindow(profile: CpuProfile, idleIds: Set<number>): [number, number] | null {
  const { at, us } = sampleTimes(profile);
  const bins = new Map<number, number>();
  for (let i = 0; i < at.length; i++) {
    if (idleIds.has(profile.samples[i])) continue;
    const bin = Math.floor((at[i] - profile.startTime) / 1e6);
    bins.set(bin, (bins.get(bin) ?? 0) + us[i]);
  }
  const last = Math.floor((profile.endTime - profile.startTime) / 1e6);
  let best: [number, number] | null = null;
  let runStart = -1;
  for (let b = 0; b <= last + 1; b++) {
    const busy = b <= last && (bins.get(b) ?? 0) >= 500_000;
    if (busy && runStart < 0) runStart = b;
    if (!busy && runStart >= 0) {
      if (!best || b - runStart > best[1] - best[0]) best = [runStart, b];
      runStart = -1;
    }
  }
  return best ? [profile.startTime + best[0] * 1e6, profile.startTime + best[1] * 1e6] : null;
}

export interface ProfileSummary {
  files: string[];
  /** Seconds of each file's samples counted (the load window, or the whole profile). */
  windowsS: number[];
  /** Sampled time without (idle), in ms. */
  busyMs: number;
  idleMs: number;
  byCategory: { name: string; ms: number; share: number }[];
  byFunction: { name: string; category: string; ms: number; share: number }[];
}

export function summarizeProfiles(paths: string[], loadOnly = true): ProfileSummary {
  const byCategory = new Map<string, number>();
  const byFunction = new Map<string, { category: string; us: number }>();
  let idleUs = 0;
  let busyUs = 0;
  const list = files(paths);
  const windowsS: number[] = [];
  for (const file of list) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const idleIds = new Set(profile.nodes.filter((n) => n.callFrame.functionName === '(idle)').map((n) => n.id));
    const window = loadOnly ? loadWindow(profile, idleIds) : [profile.startTime, profile.endTime + 1];
    // A worker thread that idled throughout has no load window: none of its samples count.
    if (!window) continue;
    windowsS.push((window[1] - window[0]) / 1e6);
    const { at, us: times } = sampleTimes(profile);
    for (let i = 0; i < at.length; i++) {
      if (at[i] < window[0] || at[i] >= window[1]) continue;
      const node = nodes.get(profile.samples[i]);
      const us = times[i];
      if (!node || !(us > 0)) continue;
      const cat = category(node.callFrame);
      if (cat === '(idle)') {
        idleUs += us;
        continue;
      }
      busyUs += us;
      byCategory.set(cat, (byCategory.get(cat) ?? 0) + us);
      const key = where(node.callFrame);
      const entry = byFunction.get(key) ?? { category: cat, us: 0 };
      entry.us += us;
      byFunction.set(key, entry);
    }
  }
  const share = (us: number): number => (busyUs > 0 ? us / busyUs : NaN);
  return {
    files: list.map((f) => basename(f)),
    windowsS,
    busyMs: busyUs / 1000,
    idleMs: idleUs / 1000,
    byCategory: [...byCategory.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([name, us]) => ({ name, ms: us / 1000, share: share(us) })),
    byFunction: [...byFunction.entries()]
      .sort((a, b) => b[1].us - a[1].us)
      .map(([name, { category: cat, us }]) => ({ name, category: cat, ms: us / 1000, share: share(us) })),
  };
}

export function profileTables(s: ProfileSummary, top: number): Table[] {
  return [
    {
      header: ['package / area (self time)', 'ms', 'share'],
      rows: s.byCategory.slice(0, top).map((c) => [c.name, fmt(c.ms), `${fmt(c.share * 100, 1)}%`]),
      right: [false, true, true],
    },
    {
      header: ['function (self time)', 'package / area', 'ms', 'share'],
      rows: s.byFunction.slice(0, top).map((f) => [f.name, f.category, fmt(f.ms), `${fmt(f.share * 100, 1)}%`]),
      right: [false, false, true, true],
    },
  ];
}

function main(): void {
  const args = process.argv.slice(2);
  let top = 25;
  let md = false;
  let loadOnly = true;
  const paths: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--top') top = Number(args[++i]);
    else if (args[i] === '--md') md = true;
    else if (args[i] === '--all') loadOnly = false;
    else paths.push(args[i]);
  }
  if (paths.length === 0 || !(top > 0)) {
    console.error('usage: node dist-bench/profile-summary.js [--top N] [--md] [--all] PROFILE_OR_FOLDER...');
    process.exit(2);
  }
  const s = summarizeProfiles(paths, loadOnly);
  const windows = loadOnly ? `, load windows of ${s.windowsS.map((w) => `${w} s`).join(', ')}` : '';
  console.log(
    `${s.files.length} profile(s)${windows}: ${fmt(s.busyMs)} ms busy, ${fmt(s.idleMs)} ms idle ` +
      '(idle left out of the shares)\n',
  );
  for (const table of profileTables(s, top)) console.log(`${md ? markdownTable(table) : textTable(table)}\n`);
}

if (require.main === module) main();
