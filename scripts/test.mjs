// npm test: the whole suite on a standalone Redis, then the session, device and admin e2e suites on
// a Redis Cluster (3 masters + 3 replicas) and on Sentinel (master, replica, 3 Sentinels). Each run
// starts its own Redis (test/support/global-setup.ts). Ends with one line: "N passed, N failed".
//   npm test                      everything
//   npm test -- <jest args>       only the standalone run, with those arguments (e.g. a file)
//   TEST_TOPOLOGIES=cluster npm test   choose the runs
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const MATRIX_SUITES = [
  'test/auth.e2e.spec.ts',
  'test/sessions.e2e.spec.ts',
  'test/admin.e2e.spec.ts',
  'test/concurrency.e2e.spec.ts',
  'test/redis-client.spec.ts',
];
const extra = process.argv.slice(2);
const topologies = (process.env.TEST_TOPOLOGIES ?? (extra.length ? 'standalone' : 'standalone,cluster,sentinel'))
  .split(',')
  .map((t) => t.trim())
  .filter(Boolean);

const dir = mkdtempSync(join(tmpdir(), 'jest-runs-'));
let passed = 0;
let failed = 0;
let exitCode = 0;
for (const topology of topologies) {
  const out = join(dir, `${topology}.json`);
  const files = topology === 'standalone' ? extra : MATRIX_SUITES.filter((f) => existsSync(f));
  console.log(`\n== jest on ${topology} Redis${files.length ? `: ${files.join(' ')}` : ''}`);
  const run = spawnSync('npx', ['jest', '--runInBand', '--json', `--outputFile=${out}`, ...files], {
    stdio: 'inherit',
    env: { ...process.env, TEST_TOPOLOGY: topology },
  });
  if (run.status !== 0) exitCode = 1;
  if (!existsSync(out)) {
    console.log(`== ${topology}: jest wrote no results`);
    failed += 1;
    continue;
  }
  const r = JSON.parse(readFileSync(out, 'utf8'));
  // A suite that fails to load runs no test; count it as one failure.
  const broken = r.testResults.filter((s) => s.status === 'failed' && s.assertionResults.length === 0).length;
  passed += r.numPassedTests;
  failed += r.numFailedTests + broken;
  console.log(`== ${topology}: ${r.numPassedTests} passed, ${r.numFailedTests + broken} failed`);
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode || (failed > 0 ? 1 : 0));
