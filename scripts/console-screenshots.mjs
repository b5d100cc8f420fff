// The README's screenshots of the admin console (docs/console-*.png), taken from the built service
// (dist/main.js, embedded store, on a free port) after a few minutes of real traffic, so that the
// overview's chart has samples of its own:
//   npm run build && node scripts/console-screenshots.mjs            (SCREENSHOT_MINUTES=4 by default)
// It creates a handful of users, logs them in from several browsers, fails some logins, keeps
// doing so once a minute, then signs in to /console in chromium and saves the pages at 1280x800.
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

const ROOT = join(import.meta.dirname, '..');
const OUT = join(ROOT, 'docs');
const MINUTES = Number(process.env.SCREENSHOT_MINUTES ?? 4);
const ADMIN = { username: 'admin', password: 'console-demo-admin-1' };
const AGENTS = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15',
  'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1',
];
const PEOPLE = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];

function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function api(base, method, path, { cookie, csrf, body, agent } = {}) {
  const headers = { 'content-type': 'application/json' };
  if (cookie) headers.cookie = cookie;
  if (csrf) headers['x-csrf-token'] = csrf;
  if (agent) headers['user-agent'] = agent;
  const res = await fetch(`${base}${path}`, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return {
    status: res.status,
    body: text ? JSON.parse(text) : null,
    cookie: res.headers.getSetCookie()[0]?.split(';')[0],
  };
}

async function logIn(base, username, password, agent, deviceId) {
  return api(base, 'POST', '/auth/login', { body: { username, password, ...(deviceId ? { deviceId } : {}) }, agent });
}

const port = await freePort();
const base = `http://127.0.0.1:${port}`;
const service = spawn(process.execPath, [join(ROOT, 'dist', 'main.js')], {
  env: {
    ...process.env,
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_USERNAME: ADMIN.username,
    ADMIN_PASSWORD: ADMIN.password,
    // The failed logins below come from one address: keep them from locking it out.
    LOGIN_MAX_FAILURES: '1000',
    LOG_LEVEL: 'warn',
    REDIS_URL: '',
  },
  stdio: ['ignore', 'inherit', 'inherit'],
});
try {
  for (let i = 0; ; i++) {
    if ((await fetch(`${base}/health/live`).catch(() => null))?.ok) break;
    if (i > 150) throw new Error('the service did not start');
    await sleep(200);
  }
  const admin = await logIn(base, ADMIN.username, ADMIN.password, AGENTS[0], 'ops-laptop');
  const asAdmin = { cookie: admin.cookie, csrf: admin.body.csrfToken };
  for (const [i, name] of PEOPLE.entries()) {
    const roles = i === 0 ? ['admin', 'user'] : i === 1 ? ['user', 'support'] : ['user'];
    const created = await api(base, 'POST', '/admin/users', {
      ...asAdmin,
      body: { username: name, password: `${name}-password-1`, roles },
    });
    if (created.status !== 201) throw new Error(`creating ${name}: ${created.status} ${JSON.stringify(created.body)}`);
  }
  console.log(`[screenshots] traffic for ${MINUTES} min so that the chart has samples`);
  for (let minute = 0; minute < MINUTES; minute++) {
    for (const [i, name] of PEOPLE.entries()) {
      if ((i + minute) % 3 === 0) continue;
      await logIn(
        base,
        name,
        `${name}-password-1`,
        AGENTS[(i + minute) % AGENTS.length],
        `${name}-${(i + minute) % 2 ? 'phone' : 'laptop'}`,
      );
    }
    for (let f = 0; f < minute + 1; f++) await logIn(base, PEOPLE[f % PEOPLE.length], 'a-wrong-password', AGENTS[2]);
    await sleep(60_000);
  }

  mkdirSync(OUT, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
    args: ['--no-sandbox', '--headless=new', '--disable-gpu'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${base}/console`);
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Overview', exact: true }).waitFor();
    const shots = [
      ['Overview', 'console-overview.png'],
      ['Sessions', 'console-sessions.png'],
      ['Users', 'console-users.png'],
    ];
    for (const [heading, file] of shots) {
      await page.getByRole('navigation').getByRole('link', { name: heading, exact: true }).click();
      await page.getByRole('heading', { level: 1, name: heading, exact: true }).waitFor();
      await sleep(1500);
      await page.screenshot({ path: join(OUT, file) });
      console.log(`[screenshots] docs/${file}`);
    }
  } finally {
    await browser.close();
  }
} finally {
  service.kill('SIGTERM');
}
