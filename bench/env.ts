import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

/** The project root, seen from dist-bench/. */
export const ROOT = resolve(__dirname, '..');
export const RESULTS_DIR = resolve(process.env.BENCH_RESULTS_DIR ?? join(ROOT, 'bench', 'results'));

export function intEnv(name: string, fallback: number, min = 1): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} must be a whole number >= ${min}`);
  return value;
}

export function gitRevision(): string {
  try {
    const git = (...args: string[]): string =>
      execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const rev = git('rev-parse', '--short', 'HEAD');
    const dirty = git('status', '--porcelain', '--', 'src');
    return dirty ? `${rev} (src modified)` : rev;
  } catch {
    // Run from an export without .git: the caller may name the revision.
    return process.env.BENCH_REVISION ?? 'unknown';
  }
}
