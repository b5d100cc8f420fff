import type { CommandCounts } from './processes';
import type { LoadResult } from './load';

export type TargetKey = 'service' | 'verify' | 'bareNest' | 'expressSession' | 'bareHttp';

export const TARGET_LABELS: Record<TargetKey, string> = {
  service: 'service (NestJS + Redis sessions)',
  verify: 'service GET /auth/verify (forward auth)',
  bareNest: 'baseline a: bare NestJS, no session',
  expressSession: 'baseline b: express-session + connect-redis',
  bareHttp: 'baseline c: bare node:http, no framework, no Redis (the ceiling of any Node route)',
};

export interface Measured extends LoadResult {
  /** CPU time of the target's Node process (all threads) per request. */
  nodeCpuUsPerReq: number;
  redisCmdsPerReq: number | null;
  redisCpuUsPerReq: number | null;
  redisCommands: CommandCounts | null;
}

export interface Summary {
  rounds: number;
  requests: number;
  served: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  nodeCpuUsPerReq: number;
  redisCmdsPerReq: number | null;
  redisCpuUsPerReq: number | null;
  /** Redis calls per request by command, over all rounds. */
  redisCommandsPerReq: Record<string, number> | null;
  badStatus: number;
  socketErrors: number;
}

/** One figure over the rounds: its median, its range and every round's value (in round order). */
export interface Spread {
  median: number;
  min: number;
  max: number;
  values: number[];
}

export interface Ratios {
  rps: Spread;
  p50: Spread;
  p99: Spread;
  nodeCpuPerReq: Spread;
}

/** A target of the issue on a same-round ratio, checked on the median of the rounds. */
export interface TargetCheck {
  name: string;
  /** What is measured against the baseline: the profile route, or GET /auth/verify. */
  subject: 'service' | 'verify';
  ratio: 'rps' | 'nodeCpuPerReq';
  baseline: 'bareNest' | 'expressSession';
  op: '<=' | '>=';
  limit: number;
  value: Spread;
  pass: boolean;
}

export interface Check {
  name: string;
  pass: boolean;
  detail: string;
}

export interface StormRound {
  quiet: Measured;
  storm: Measured;
  logins: {
    ok: number;
    failed: number;
    /** Failed logins by HTTP status, or `error` when no answer came. */
    failures: Record<string, number>;
    perSecond: number;
    p50Ms: number;
    p99Ms: number;
  };
}

export interface StormSummary {
  concurrency: number;
  rounds: number;
  quietRps: number;
  stormRps: number;
  quietP99Ms: number;
  stormP99Ms: number;
  /** Per round: (profile p99 during the storm) / (profile p99 of the quiet run next to it). */
  p99Ratio: Spread;
  rpsRatio: Spread;
  loginsPerSecond: number;
  loginP50Ms: number;
  loginP99Ms: number;
  loginFailures: number;
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function spread(values: number[]): Spread {
  const finite = values.filter(Number.isFinite);
  return {
    median: median(finite),
    min: finite.length ? Math.min(...finite) : NaN,
    max: finite.length ? Math.max(...finite) : NaN,
    values: values.map((v) => round(v, 4)),
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

export function summarize(rounds: Measured[]): Summary {
  const requests = rounds.reduce((n, r) => n + r.requests, 0);
  const served = rounds.reduce((n, r) => n + r.served, 0);
  const withRedis = rounds.every((r) => r.redisCommands !== null);
  const perCommand: Record<string, number> = {};
  if (withRedis) {
    for (const r of rounds)
      for (const [command, c] of Object.entries(r.redisCommands ?? {}))
        perCommand[command] = (perCommand[command] ?? 0) + c.calls;
    for (const command of Object.keys(perCommand)) perCommand[command] = round(perCommand[command] / served, 4);
  }
  return {
    rounds: rounds.length,
    requests,
    served,
    rps: median(rounds.map((r) => r.rps)),
    p50Ms: median(rounds.map((r) => r.p50Ms)),
    p99Ms: median(rounds.map((r) => r.p99Ms)),
    nodeCpuUsPerReq: median(rounds.map((r) => r.nodeCpuUsPerReq)),
    redisCmdsPerReq: withRedis ? median(rounds.map((r) => r.redisCmdsPerReq ?? 0)) : null,
    redisCpuUsPerReq: withRedis ? median(rounds.map((r) => r.redisCpuUsPerReq ?? 0)) : null,
    redisCommandsPerReq: withRedis ? perCommand : null,
    badStatus: rounds.reduce((n, r) => n + r.badStatus, 0),
    socketErrors: rounds.reduce((n, r) => n + r.socketErrors, 0),
  };
}

/** Per-round ratios service/baseline (each round's targets measured back to back), then their spread. */
export function sameRoundRatios(service: Measured[], baseline: Measured[]): Ratios {
  const ratio = (pick: (m: Measured) => number): Spread => spread(service.map((s, i) => pick(s) / pick(baseline[i])));
  return {
    rps: ratio((m) => m.rps),
    p50: ratio((m) => m.p50Ms),
    p99: ratio((m) => m.p99Ms),
    nodeCpuPerReq: ratio((m) => m.nodeCpuUsPerReq),
  };
}

export function summarizeStorm(rounds: StormRound[], concurrency: number): StormSummary {
  const all = <T>(pick: (r: StormRound) => T): T[] => rounds.map(pick);
  const logins = all((r) => r.logins);
  return {
    concurrency,
    rounds: rounds.length,
    quietRps: median(all((r) => r.quiet.rps)),
    stormRps: median(all((r) => r.storm.rps)),
    quietP99Ms: median(all((r) => r.quiet.p99Ms)),
    stormP99Ms: median(all((r) => r.storm.p99Ms)),
    p99Ratio: spread(all((r) => r.storm.p99Ms / r.quiet.p99Ms)),
    rpsRatio: spread(all((r) => r.storm.rps / r.quiet.rps)),
    loginsPerSecond: median(logins.map((l) => l.perSecond)),
    loginP50Ms: median(logins.map((l) => l.p50Ms)),
    loginP99Ms: median(logins.map((l) => l.p99Ms)),
    loginFailures: logins.reduce((n, l) => n + l.failed, 0),
  };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const fmt = (value: number | null, digits = 0): string =>
  value === null || !Number.isFinite(value)
    ? '–'
    : value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

export interface Table {
  header: string[];
  rows: string[][];
  /** Columns aligned right (numbers). */
  right: boolean[];
}

export function targetsTable(summaries: Partial<Record<TargetKey, Summary>>): Table {
  const rows = (Object.keys(TARGET_LABELS) as TargetKey[])
    .filter((key) => summaries[key])
    .map((key) => {
      const s = summaries[key] as Summary;
      return [
        TARGET_LABELS[key],
        fmt(s.rps),
        fmt(s.p50Ms, 2),
        fmt(s.p99Ms, 2),
        fmt(s.nodeCpuUsPerReq, 0),
        fmt(s.redisCmdsPerReq, 2),
        fmt(s.redisCpuUsPerReq, 1),
      ];
    });
  return {
    header: ['target', 'req/s', 'p50 ms', 'p99 ms', 'Node CPU µs/req', 'Redis cmds/req', 'Redis CPU µs/req'],
    rows,
    right: [false, true, true, true, true, true, true],
  };
}

/** `median (min–max)` of a spread. */
export function fmtSpread(s: Spread, digits = 2): string {
  return `${fmt(s.median, digits)} (${fmt(s.min, digits)}–${fmt(s.max, digits)})`;
}

export function ratiosTable(ratios: { name: string; value: Ratios }[]): Table {
  return {
    header: ['same-round ratio: median (min–max)', 'req/s', 'p50', 'p99', 'Node CPU/req'],
    rows: ratios.map(({ name, value }) => [
      name,
      fmtSpread(value.rps),
      fmtSpread(value.p50),
      fmtSpread(value.p99),
      fmtSpread(value.nodeCpuPerReq),
    ]),
    right: [false, true, true, true, true],
  };
}

const BASELINE_NAMES = { bareNest: 'bare NestJS', expressSession: 'express-session' } as const;
const RATIO_NAMES = { rps: 'throughput', nodeCpuPerReq: 'Node CPU per request' } as const;

/** The targets on the medians of the same-round ratios (GET /auth/verify's against bare NestJS only). */
export function checkTargets(
  ratios: Record<'bareNest' | 'expressSession', Ratios>,
  verifyVsBareNest: Ratios,
): TargetCheck[] {
  const specs: Omit<TargetCheck, 'name' | 'value' | 'pass'>[] = [
    { subject: 'service', ratio: 'nodeCpuPerReq', baseline: 'bareNest', op: '<=', limit: 1.15 },
    { subject: 'service', ratio: 'nodeCpuPerReq', baseline: 'expressSession', op: '<=', limit: 0.75 },
    { subject: 'service', ratio: 'rps', baseline: 'bareNest', op: '>=', limit: 0.85 },
    { subject: 'service', ratio: 'rps', baseline: 'expressSession', op: '>=', limit: 1.3 },
    { subject: 'verify', ratio: 'nodeCpuPerReq', baseline: 'bareNest', op: '<=', limit: 0.5 },
    { subject: 'verify', ratio: 'rps', baseline: 'bareNest', op: '>=', limit: 2 },
  ];
  return specs.map((spec) => {
    const value = spec.subject === 'verify' ? verifyVsBareNest[spec.ratio] : ratios[spec.baseline][spec.ratio];
    const m = value.median;
    const what = spec.subject === 'verify' ? `/auth/verify ${RATIO_NAMES[spec.ratio]}` : RATIO_NAMES[spec.ratio];
    return {
      ...spec,
      name: `${what} vs ${BASELINE_NAMES[spec.baseline]} ${spec.op === '<=' ? '≤' : '≥'} ${spec.limit.toFixed(2)}×`,
      value,
      pass: Number.isFinite(m) && (spec.op === '<=' ? m <= spec.limit : m >= spec.limit),
    };
  });
}

export function targetChecksTable(checks: TargetCheck[]): Table {
  return {
    header: ['target (median of same-round ratios)', 'median', 'min–max', 'result'],
    rows: checks.map((c) => [
      c.name,
      fmt(c.value.median, 2),
      `${fmt(c.value.min, 2)}–${fmt(c.value.max, 2)}`,
      c.pass ? 'PASS' : 'FAIL',
    ]),
    right: [false, true, true, false],
  };
}

export function stormTable(s: StormSummary): Table {
  return {
    header: ['GET /auth/profile on the service', 'req/s', 'p99 ms', 'logins/s', 'login p50 ms', 'login p99 ms'],
    rows: [
      ['quiet', fmt(s.quietRps), fmt(s.quietP99Ms, 2), '–', '–', '–'],
      [
        `login storm (${s.concurrency} concurrent logins)`,
        fmt(s.stormRps),
        fmt(s.stormP99Ms, 2),
        fmt(s.loginsPerSecond, 1),
        fmt(s.loginP50Ms, 1),
        fmt(s.loginP99Ms, 1),
      ],
      ['storm / quiet: median of same-round ratios', fmt(s.rpsRatio.median, 2), fmt(s.p99Ratio.median, 2), '', '', ''],
      [
        'storm / quiet: min–max over the rounds',
        `${fmt(s.rpsRatio.min, 2)}–${fmt(s.rpsRatio.max, 2)}`,
        `${fmt(s.p99Ratio.min, 2)}–${fmt(s.p99Ratio.max, 2)}`,
        '',
        '',
        '',
      ],
    ],
    right: [false, true, true, true, true, true],
  };
}

export function textTable(t: Table): string {
  const widths = t.header.map((h, i) => Math.max(h.length, ...t.rows.map((r) => r[i].length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (t.right[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  return [line(t.header), widths.map((w) => '-'.repeat(w)).join('  '), ...t.rows.map(line)].join('\n');
}

export function markdownTable(t: Table): string {
  const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
  return [line(t.header), line(t.right.map((r) => (r ? '---:' : '---'))), ...t.rows.map(line)].join('\n');
}
