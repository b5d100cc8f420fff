// The system programs the test suites need, installed before jest runs when this process can do it
// (root, with apt-get); otherwise it stops at once and names the one command that would install them.
//   node scripts/system-deps.mjs        check (and install) from a shell
//   import { ensureSystemDeps } from './system-deps.mjs'   (scripts/test.mjs does, before jest)
// A suite that needs another program adds it to SYSTEM_DEPS: the command it runs, the Debian package
// that provides it, and who needs it.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export const SYSTEM_DEPS = [
  { command: 'redis-server', pkg: 'redis-server', neededBy: 'every suite (each run starts its own Redis)' },
  { command: 'redis-cli', pkg: 'redis-server', neededBy: 'the Redis Cluster set-up (redis-cli --cluster create)' },
  // Debian puts nginx in /usr/sbin, which a non-root PATH often lacks; the gateway suite looks there too.
  {
    command: 'nginx',
    pkg: 'nginx',
    neededBy: 'the gateway suite (nginx auth_request in front of the service)',
    sbin: true,
  },
  { command: 'chromium', pkg: 'chromium', neededBy: 'the admin console browser suite (playwright-core drives it)' },
];

const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

/** True when `command` is an executable file in one of PATH's folders (or of `extraDirs`). */
function onPath(command, extraDirs = []) {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]) {
    if (!dir) continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

const missingOf = (deps) => deps.filter((d) => !onPath(d.command, d.sbin ? SBIN_DIRS : []));
const packagesOf = (deps) => [...new Set(deps.map((d) => d.pkg))];
const describe = (deps) => deps.map((d) => `${d.command} (${d.neededBy})`).join('; ');

/** The single shell command that installs `packages` on Debian/Ubuntu. */
export function installCommand(packages, { sudo = false } = {}) {
  const steps = `apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${packages.join(' ')}`;
  return sudo ? `sudo sh -c '${steps}'` : steps;
}

function run(argv, env = process.env) {
  console.log(`== system packages: ${argv.join(' ')}`);
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (r.error) throw r.error;
  return r.status === 0;
}

/**
 * Makes sure every program in `deps` is on PATH. Installs the missing ones when running as root
 * with apt-get (one `apt-get update`, then one `apt-get install` of all of them); otherwise, or if
 * that fails, throws an Error whose message names the missing programs and the command to run.
 */
export function ensureSystemDeps(deps = SYSTEM_DEPS) {
  const missing = missingOf(deps);
  if (missing.length === 0) return;
  const packages = packagesOf(missing);
  const isRoot = process.getuid?.() === 0;
  if (isRoot && onPath('apt-get')) {
    console.log(`== installing ${packages.join(' ')}: missing ${describe(missing)}`);
    const installed =
      run(['apt-get', 'update', '-qq']) &&
      run(['apt-get', 'install', '-y', '-qq', ...packages], { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
    const still = missingOf(deps);
    if (installed && still.length === 0) return;
    throw new Error(
      `could not install ${packagesOf(still.length ? still : missing).join(' ')} with apt-get ` +
        `(missing: ${describe(still.length ? still : missing)}); see the apt-get output above`,
    );
  }
  const how = onPath('apt-get')
    ? `run: ${installCommand(packages, { sudo: !isRoot })}`
    : `install ${packages.join(' ')} (Debian package names) with this system's package manager`;
  throw new Error(`missing ${describe(missing)}; ${how}`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    ensureSystemDeps();
    console.log(`== system packages: ${SYSTEM_DEPS.map((d) => d.command).join(', ')} present`);
  } catch (error) {
    console.error(`== system packages: ${error.message}`);
    process.exit(1);
  }
}
