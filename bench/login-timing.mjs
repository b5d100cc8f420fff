// Wrong-password login times through HTTP: unknown user, argon2 user (created by the service),
// bcrypt cost-10 user (imported). Starts its own redis-server and the compiled service.
// Usage: npm run bench:login-timing (builds, then: node bench/login-timing.mjs dist/main.js); WARMUP=30 for warm figures.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

const require = createRequire(import.meta.url);
const bcrypt = require('bcrypt');
const main = process.argv[2];
const TRIES = 10;
/** Rounds of the same failures sent and not counted first (0: measure right after start and import). */
const WARMUP = Number(process.env.WARMUP ?? 0);

const freePort = () =>
  new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

const redisPort = await freePort();
const redis = spawn('redis-server', ['--port', String(redisPort), '--save', '', '--appendonly', 'no'], {
  stdio: 'ignore',
});
const port = await freePort();
const service = spawn(process.execPath, [main], {
  stdio: ['ignore', 'ignore', 'inherit'],
  env: {
    ...process.env,
    NODE_ENV: 'development',
    PORT: String(port),
    HOST: '127.0.0.1',
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    SESSION_SECRET: 'measure-secret-0123456789-0123456789-abcdef',
    ADMIN_USERNAME: 'admin',
    ADMIN_PASSWORD: 'admin-password-1',
    LOGIN_MAX_FAILURES: '100000',
    LOG_LEVEL: 'error',
  },
});
const base = `http://127.0.0.1:${port}`;
try {
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${base}/health/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (i > 300) throw new Error('service did not start');
    await sleep(100);
  }
  const post = (path, body, headers = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const res = await post('/auth/login', { username: 'admin', password: 'admin-password-1' });
  const cookie = res.headers.get('set-cookie').split(';')[0];
  const { csrfToken } = await res.json();
  const admin = { cookie, 'x-csrf-token': csrfToken };
  const imported = await post(
    '/admin/users/import',
    { users: [{ username: 'bcrypt-user', passwordHash: await bcrypt.hash('bcrypt-password', 10) }] },
    admin,
  );
  console.log('import:', imported.status, JSON.stringify(await imported.json()));
  console.log(
    'create:',
    (await post('/admin/users', { username: 'argon2-user', password: 'argon2-password' }, admin)).status,
  );

  const time = async (username) => {
    const started = performance.now();
    const r = await post('/auth/login', { username, password: 'not-the-password' });
    if (r.status !== 401) throw new Error(`expected 401, got ${r.status}`);
    await r.arrayBuffer();
    return performance.now() - started;
  };
  for (let i = 0; i < WARMUP; i++) {
    await time(`warm-${i}`);
    await time('argon2-user');
    await time('bcrypt-user');
  }
  const times = { unknown: [], argon2: [], bcrypt10: [] };
  for (let i = 0; i < TRIES; i++) {
    times.unknown.push(await time(`nobody-${i}`));
    times.argon2.push(await time('argon2-user'));
    times.bcrypt10.push(await time('bcrypt-user'));
  }
  const fmt = (v) => v.toFixed(1);
  console.log(
    `Node ${process.version}, ${TRIES} wrong-password logins each, interleaved, after ${WARMUP} uncounted rounds (ms):`,
  );
  for (const [who, list] of Object.entries(times)) {
    const sorted = [...list].sort((a, b) => a - b);
    const median = (sorted[(sorted.length - 1) >> 1] + sorted[sorted.length >> 1]) / 2;
    console.log(`  ${who.padEnd(8)} median ${fmt(median)}  min ${fmt(sorted[0])}  max ${fmt(sorted.at(-1))}`);
  }
} finally {
  service.kill('SIGTERM');
  redis.kill('SIGTERM');
}
