// npm test: the whole suite on a standalone Redis, then the session, device and admin e2e suites on
// a Redis Cluster (3 masters + 3 replicas) and on Sentinel (master, replica, 3 Sentinels). Each run
// starts its own Redis (test/support/global-setup.ts) on free ports. Ends with one line: "N passed, N failed".
//   npm test                      everything
//   npm test -- <jest args>       only the standalone run, with those arguments (e.g. a file)
//   TEST_TOPOLOGIES=cluster npm test   choose the runs
//   TEST_PARALLEL=1 npm test      the cluster and sentinel runs side by side (default: one after the other)
// Jest runs on the Node that runs this script (and the services the tests start run on that Node too):
//   PATH="$(scripts/node-runtime.sh 24):$PATH" npm test
// System programs the suites need (redis-server, nginx, chromium) are installed first when possible: scripts/system-deps.mjs.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSystemDeps } from './system-deps.mjs';

const MATRIX_SUITES = [
  'test/auth.e2e.spec.ts',
  'test/sessions.e2e.spec.ts',
  'test/admin.e2e.spec.ts',
  'test/concurrency.e2e.spec.ts',
  'test/redis-client.spec.ts',
  'test/legacy.e2e.spec.ts',
  'test/reauth.e2e.spec.ts',
  'test/theft.e2e.spec.ts',
];
const extra = process.argv.slice(2);
const topologies = (process.env.TEST_TOPOLOGIES ?? (extra.length ? 'standalone' : 'standalone,cluster,sentinel'))
  .split(',')
  .map((t) => t.trim())
  .filter(Boolean);
// The cluster and sentinel runs use ports and Redis processes of their own, so they can run side by
// side (the standalone run always runs alone). Off by default until measured on a quiet 2-core
// machine: more load at once is what makes a login wait past the hasher's 5 s slot bound (503).
const parallel = process.env.TEST_PARALLEL === '1';

try {
  ensureSystemDeps();
} catch (error) {
  console.error(`npm test: ${error.message}`);
  process.exit(1);
}

const jestBin = createRequire(import.meta.url).resolve('jest/bin/jest');
const dir = mkdtempSync(join(tmpdir(), 'jest-runs-'));

/**
 * One jest run on one topology, on this Node. `quiet`: its output goes to a file, printed once the
 * run ends, so that two runs side by side do not interleave their lines.
 */
function runJest(topology, quiet) {
  const out = join(dir, `${topology}.json`);
  const files = topology === 'standalone' ? extra : MATRIX_SUITES.filter((f) => existsSync(f));
  const title = `== jest on ${topology} Redis, Node ${process.version}${files.length ? `: ${files.join(' ')}` : ''}`;
  const started = Date.now();
  if (!quiet) console.log(`\n${title}`);
  else console.log(`== started: jest on ${topology} Redis (its output follows when it ends)`);
  const logFile = join(dir, `${topology}.log`);
  const child = spawn(process.execPath, [jestBin, '--runInBand', '--json', `--outputFile=${out}`, ...files], {
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    env: { ...process.env, TEST_TOPOLOGY: topology },
  });
  const logged = quiet
    ? new Promise((resolve) => {
        const log = createWriteStream(logFile);
        child.stdout.pipe(log, { end: false });
        child.stderr.pipe(log, { end: false });
        child.on('close', () => log.end(resolve));
      })
    : Promise.resolve();
  return new Promise((resolve) => {
    const run = { topology, out, started, quiet, logFile, title };
    child.on('error', (error) => resolve({ ...run, status: 1, error, ended: Date.now() }));
    child.on('close', (status) => logged.then(() => resolve({ ...run, status, ended: Date.now() })));
  });
}

let passed = 0;
let failed = 0;
let exitCode = 0;

function report(run) {
  if (run.quiet) {
    console.log(`\n${run.title}`);
    if (existsSync(run.logFile)) process.stdout.write(readFileSync(run.logFile));
  }
  const seconds = Math.round((run.ended - run.started) / 1000);
  const label = `== ${run.topology} (Node ${process.version})`;
  if (run.status !== 0) exitCode = 1;
  if (run.error) console.log(`== ${run.topology}: jest did not start: ${run.error.message}`);
  if (!existsSync(run.out)) {
    console.log(`${label}: jest wrote no results (${seconds} s)`);
    failed += 1;
    return;
  }
  const r = JSON.parse(readFileSync(run.out, 'utf8'));
  // A suite that fails to load runs no test; count it as one failure.
  const broken = r.testResults.filter((s) => s.status === 'failed' && s.assertionResults.length === 0).length;
  passed += r.numPassedTests;
  failed += r.numFailedTests + broken;
  console.log(`${label}: ${r.numPassedTests} passed, ${r.numFailedTests + broken} failed (${seconds} s)`);
}

const together = parallel ? topologies.filter((t) => t !== 'standalone') : [];
for (const topology of topologies.filter((t) => !together.includes(t))) report(await runJest(topology, false));
if (together.length === 1) report(await runJest(together[0], false));
else if (together.length > 1) {
  // Reported in the order given, each as soon as it and those before it have ended.
  const runs = together.map((t) => runJest(t, true));
  for (const run of runs) report(await run);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(exitCode || (failed > 0 ? 1 : 0));
