import { spawnSync } from 'node:child_process';
import { chromium, Browser } from 'playwright-core';

/**
 * Debian's chromium (scripts/system-deps.mjs installs it), driven by playwright-core: playwright's
 * own browser download needs a host this project cannot reach. Headless, without the sandbox
 * (which needs user namespaces that containers and root shells lack).
 */
export function chromiumPath(): string {
  for (const candidate of [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (candidate && spawnSync(candidate, ['--version'], { stdio: 'ignore' }).status === 0) return candidate;
  }
  throw new Error('chromium not found: apt-get install -y chromium (or set CHROMIUM_PATH)');
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath(),
    args: ['--no-sandbox', '--headless=new', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}
