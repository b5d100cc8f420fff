import 'reflect-metadata';
import { availableParallelism } from 'node:os';
import { ConfigError, loadConfig } from './config';
import { Env } from './env';

const SECRET_A = 'Zq3v8N1rT6yB0wKp4mXc7LhD2sGf9JuE';
const SECRET_B = 'Hk5tR2nW8zQ1pV6cY3mB0xL7dJ4gF9sA';
const PRODUCTION: Env = { NODE_ENV: 'production', REDIS_URL: 'redis://redis:6379', SESSION_SECRET: SECRET_A };

function problemsOf(env: Env): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('loadConfig accepted the environment');
}

describe('loadConfig', () => {
  it('fills every default from an empty environment', () => {
    const config = loadConfig({});

    expect(config.app.env).toBe('development');
    expect(config.app.production).toBe(false);
    expect(config.app.port).toBe(3000);
    expect(config.app.host).toBe('0.0.0.0');
    expect(config.app.trustProxy).toBe(false);
    expect(config.redis.topology).toEqual({ kind: 'embedded' });
    expect(config.redis.keyPrefix).toBe('sess:');
    expect(config.session.cookieName).toBe('sid');
    expect(config.session.cookieSecure).toBe(false);
    expect(config.session.cookieSameSite).toBe('lax');
    expect(config.session.idleTimeoutMs).toBe(7200_000);
    expect(config.session.absoluteTimeoutMs).toBe(86400_000);
    expect(config.session.touchIntervalMs).toBe(60_000);
    expect(config.session.maxSessionsPerUser).toBe(10);
    expect(config.auth.loginMaxFailures).toBe(5);
    expect(config.auth.loginWindowSeconds).toBe(900);
    expect(config.auth.impersonationTimeoutMs).toBe(900_000);
    expect(config.auth.adminUsername).toBeUndefined();
    expect(config.auth.adminPassword).toBeUndefined();
  });

  it('generates a random secret per process in development and says so', () => {
    const one = loadConfig({});
    const two = loadConfig({});
    expect(one.session.secretGenerated).toBe(true);
    expect(one.session.secrets).toHaveLength(1);
    expect(one.session.secrets[0].length).toBeGreaterThanOrEqual(32);
    expect(one.session.secrets[0]).not.toBe(two.session.secrets[0]);
  });

  it('treats empty values as unset', () => {
    const config = loadConfig({ PORT: '', SESSION_IDLE_TIMEOUT: ' ', REDIS_URL: '' });
    expect(config.app.port).toBe(3000);
    expect(config.session.idleTimeoutMs).toBe(7200_000);
    expect(config.redis.topology).toEqual({ kind: 'embedded' });
  });

  it('reads given values, durations as seconds', () => {
    const config = loadConfig({
      PORT: '8080',
      REDIS_URL: 'redis://:pw@localhost:6380/2',
      REDIS_KEY_PREFIX: 'app:sess:',
      SESSION_COOKIE_NAME: 'session',
      SESSION_IDLE_TIMEOUT: '3',
      SESSION_ABSOLUTE_TIMEOUT: '7',
      SESSION_TOUCH_INTERVAL: '1',
      MAX_SESSIONS_PER_USER: '0',
      COOKIE_SAMESITE: 'Strict',
      TRUST_PROXY: '2',
    });
    expect(config.app.port).toBe(8080);
    expect(config.redis.topology).toEqual({ kind: 'standalone', url: 'redis://:pw@localhost:6380/2' });
    expect(config.redis.keyPrefix).toBe('app:sess:');
    expect(config.session.cookieName).toBe('session');
    expect(config.session.idleTimeoutMs).toBe(3000);
    expect(config.session.absoluteTimeoutMs).toBe(7000);
    expect(config.session.touchIntervalMs).toBe(1000);
    expect(config.session.maxSessionsPerUser).toBe(0);
    expect(config.session.cookieSameSite).toBe('strict');
    expect(config.app.trustProxy).toBe(2);
  });

  it('throws one ConfigError naming every bad variable at once', () => {
    const env: Env = {
      PORT: 'eighty',
      REDIS_URL: 'http://localhost:6379',
      SESSION_IDLE_TIMEOUT: '0',
      SESSION_TOUCH_INTERVAL: '1.5',
      MAX_SESSIONS_PER_USER: '-1',
      COOKIE_SAMESITE: 'sideways',
      COOKIE_SECURE: 'maybe',
      REDIS_KEY_PREFIX: '{sess}',
      NODE_ENV: 'staging',
      IMPERSONATION_TIMEOUT: '30',
    };
    let error: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      error = e;
    }

    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    for (const name of Object.keys(env)) {
      expect(problems.some((p) => p.includes(name))).toBe(true);
      expect(message).toContain(name);
    }
  });

  it('refuses two Redis topologies at once', () => {
    const problems = problemsOf({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000,c:7001' });
    expect(problems.join('\n')).toMatch(/REDIS_URL.*REDIS_CLUSTER_NODES/);
  });

  it('parses cluster nodes and sentinels as host:port lists', () => {
    expect(loadConfig({ REDIS_CLUSTER_NODES: 'a:7000, b:7001' }).redis.topology).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'a', port: 7000 },
        { host: 'b', port: 7001 },
      ],
    });
    expect(problemsOf({ REDIS_CLUSTER_NODES: 'a:7000,not-a-node' }).join('\n')).toContain('REDIS_CLUSTER_NODES');
    expect(problemsOf({ REDIS_SENTINELS: 's1:26379' }).join('\n')).toContain('REDIS_SENTINEL_NAME');
  });

  it('takes a comma list of secrets: the first signs, all verify', () => {
    const config = loadConfig({ SESSION_SECRET: `${SECRET_A}, ${SECRET_B}` });
    expect(config.session.secrets).toEqual([SECRET_A, SECRET_B]);
    expect(config.session.secretGenerated).toBe(false);
  });

  describe('in production', () => {
    it('accepts a complete configuration and turns on secure __Host- cookies', () => {
      const config = loadConfig(PRODUCTION);
      expect(config.app.production).toBe(true);
      expect(config.session.cookieSecure).toBe(true);
      expect(config.session.cookieName).toBe('__Host-sid');
      expect(config.session.secrets).toEqual([SECRET_A]);
      expect(config.session.secretGenerated).toBe(false);
    });

    it('prefixes a custom cookie name with __Host- too', () => {
      expect(loadConfig({ ...PRODUCTION, SESSION_COOKIE_NAME: 'app' }).session.cookieName).toBe('__Host-app');
    });

    it('refuses a missing SESSION_SECRET', () => {
      const problems = problemsOf({ ...PRODUCTION, SESSION_SECRET: undefined });
      expect(problems).toContain('SESSION_SECRET is required in production');
    });

    it('refuses a secret shorter than 32 characters, also as a second secret', () => {
      expect(problemsOf({ ...PRODUCTION, SESSION_SECRET: 'short-but-not-empty' }).join('\n')).toMatch(
        /SESSION_SECRET.*32/,
      );
      expect(problemsOf({ ...PRODUCTION, SESSION_SECRET: `${SECRET_A},tooshort` }).join('\n')).toMatch(
        /SESSION_SECRET.*32/,
      );
    });

    it('refuses a placeholder secret', () => {
      const problems = problemsOf({ ...PRODUCTION, SESSION_SECRET: 'changeme-changeme-changeme-changeme' });
      expect(problems.join('\n')).toContain('SESSION_SECRET');
    });

    it('refuses to run without Redis', () => {
      const problems = problemsOf({ ...PRODUCTION, REDIS_URL: undefined });
      expect(problems.join('\n')).toMatch(/REDIS_URL.*required in production/);
    });

    it('refuses insecure cookies', () => {
      expect(problemsOf({ ...PRODUCTION, COOKIE_SECURE: 'false' }).join('\n')).toContain('COOKIE_SECURE');
    });

    it('lists every production problem together', () => {
      const problems = problemsOf({ NODE_ENV: 'production', PORT: 'x' });
      const text = problems.join('\n');
      expect(text).toContain('SESSION_SECRET');
      expect(text).toContain('REDIS_URL');
      expect(text).toContain('PORT');
    });
  });

  it('refuses SameSite=None without secure cookies', () => {
    expect(problemsOf({ COOKIE_SAMESITE: 'none' }).join('\n')).toContain('COOKIE_SAMESITE');
    expect(loadConfig({ COOKIE_SAMESITE: 'none', COOKIE_SECURE: 'true' }).session.cookieSameSite).toBe('none');
  });
});

describe('PASSWORD_HASH_CONCURRENCY', () => {
  it('leaves the event loop a core by default, never fewer than one hash', () => {
    expect(loadConfig({}).auth.passwordHashConcurrency).toBe(Math.max(1, availableParallelism() - 1));
  });

  it('takes a positive whole number', () => {
    expect(loadConfig({ PASSWORD_HASH_CONCURRENCY: '3' }).auth.passwordHashConcurrency).toBe(3);
  });

  it.each(['0', '-1', '1.5', 'two'])('refuses %s, naming the variable', (value) => {
    expect(problemsOf({ PASSWORD_HASH_CONCURRENCY: value }).join('\n')).toMatch(/^PASSWORD_HASH_CONCURRENCY /m);
  });
});

describe('REVOCATION_REPLICA_WAIT', () => {
  it('waits 500 ms by default; 0 turns the wait off', () => {
    expect(loadConfig({}).redis.replicaWaitMs).toBe(500);
    expect(loadConfig({ REVOCATION_REPLICA_WAIT: '150' }).redis.replicaWaitMs).toBe(150);
    expect(loadConfig({ REVOCATION_REPLICA_WAIT: '0' }).redis.replicaWaitMs).toBe(0);
  });

  it.each(['-1', '1.5', 'half', '10001'])('refuses %s, naming the variable', (value) => {
    expect(problemsOf({ REVOCATION_REPLICA_WAIT: value }).join('\n')).toMatch(/^REVOCATION_REPLICA_WAIT /m);
  });
});

describe('LOG_LEVEL', () => {
  it('is info unless set, and takes a level in any case', () => {
    expect(loadConfig({}).app.logLevel).toBe('info');
    expect(loadConfig({ LOG_LEVEL: 'DEBUG' }).app.logLevel).toBe('debug');
    expect(loadConfig({ LOG_LEVEL: 'warn' }).app.logLevel).toBe('warn');
  });

  it.each(['verbose', 'trace', 'log', 'loud'])('refuses %s, naming the variable', (value) => {
    expect(problemsOf({ LOG_LEVEL: value })).toContain('LOG_LEVEL must be error, warn, info or debug');
  });
  it('reads CORS origins as an exact list and refuses anything but scheme://host[:port]', () => {
    expect(loadConfig({}).app.corsOrigins).toEqual([]);
    expect(loadConfig({ CORS_ORIGINS: 'https://app.example.com, http://localhost:5173' }).app.corsOrigins).toEqual([
      'https://app.example.com',
      'http://localhost:5173',
    ]);
    for (const bad of ['*', 'https://app.example.com/', 'app.example.com', 'https://*.example.com', 'ftp://x.y']) {
      expect(problemsOf({ CORS_ORIGINS: bad }).join('\n')).toContain('CORS_ORIGINS');
    }
  });

  it('serves the docs unless DOCS_ENABLED is false', () => {
    expect(loadConfig({}).app.docsEnabled).toBe(true);
    expect(loadConfig({ DOCS_ENABLED: 'false' }).app.docsEnabled).toBe(false);
    expect(problemsOf({ DOCS_ENABLED: 'maybe' })).toEqual(['DOCS_ENABLED must be true or false']);
  });

  it('drains for SHUTDOWN_DRAIN seconds: 5 in production, 0 elsewhere by default', () => {
    expect(loadConfig({}).app.shutdownDrainMs).toBe(0);
    expect(loadConfig(PRODUCTION).app.shutdownDrainMs).toBe(5000);
    expect(loadConfig({ ...PRODUCTION, SHUTDOWN_DRAIN: '0' }).app.shutdownDrainMs).toBe(0);
    expect(loadConfig({ SHUTDOWN_DRAIN: '12' }).app.shutdownDrainMs).toBe(12_000);
    expect(problemsOf({ SHUTDOWN_DRAIN: '-1' })).toEqual(['SHUTDOWN_DRAIN must be 0 or more seconds']);
    expect(problemsOf({ SHUTDOWN_DRAIN: '2.5' })).toEqual(['SHUTDOWN_DRAIN must be a whole number of seconds']);
    expect(problemsOf({ SHUTDOWN_DRAIN: '301' })).toEqual(['SHUTDOWN_DRAIN must be at most 300 seconds']);
  });

  describe('legacy session adoption', () => {
    const REDIS: Env = { REDIS_URL: 'redis://redis:6379', SESSION_SECRET: SECRET_A, REDIS_KEY_PREFIX: 'nrs:' };

    it('is off by default, with connect-redis defaults ready', () => {
      const { legacy } = loadConfig({});
      expect(legacy.enabled).toBe(false);
      expect(legacy.cookieName).toBeNull();
      expect(legacy.prefix).toBe('sess:');
      expect(legacy.userField).toEqual(['username']);
    });

    it('turns on with LEGACY_SESSION_COOKIE; the old secret defaults to SESSION_SECRET', () => {
      const { legacy } = loadConfig({
        ...REDIS,
        SESSION_SECRET: `${SECRET_A},${SECRET_B}`,
        LEGACY_SESSION_COOKIE: 'connect.sid',
      });
      expect(legacy.enabled).toBe(true);
      expect(legacy.cookieName).toBe('connect.sid');
      expect(legacy.secrets).toEqual([SECRET_A, SECRET_B]);
    });

    it('reads its own secrets, prefix and a dotted user field', () => {
      const { legacy } = loadConfig({
        ...REDIS,
        LEGACY_SESSION_COOKIE: 'connect.sid',
        LEGACY_SESSION_SECRET: 'old-one, old-two',
        LEGACY_SESSION_PREFIX: 'myapp:sess:',
        LEGACY_SESSION_USER_FIELD: 'passport.user',
      });
      expect(legacy.secrets).toEqual(['old-one', 'old-two']);
      expect(legacy.prefix).toBe('myapp:sess:');
      expect(legacy.userField).toEqual(['passport', 'user']);
    });

    it.each([
      [{ REDIS_KEY_PREFIX: 'sess:' }, 'REDIS_KEY_PREFIX ("sess:") and LEGACY_SESSION_PREFIX ("sess:") overlap'],
      [{ REDIS_KEY_PREFIX: 'sess:new:' }, 'REDIS_KEY_PREFIX ("sess:new:") and LEGACY_SESSION_PREFIX ("sess:") overlap'],
      [{ REDIS_KEY_PREFIX: 's' }, 'REDIS_KEY_PREFIX ("s") and LEGACY_SESSION_PREFIX ("sess:") overlap'],
    ])('refuses prefixes that overlap (%j), saying what to set', (env, problem) => {
      const problems = problemsOf({ ...REDIS, LEGACY_SESSION_COOKIE: 'connect.sid', ...env });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toContain(problem);
      expect(problems[0]).toContain('REDIS_KEY_PREFIX=');
    });

    it('needs Redis, and a secret to verify the old cookies with', () => {
      expect(problemsOf({ LEGACY_SESSION_COOKIE: 'connect.sid', REDIS_KEY_PREFIX: 'nrs:' })).toEqual([
        'LEGACY_SESSION_COOKIE needs the Redis the old app writes to (REDIS_URL, REDIS_CLUSTER_NODES or REDIS_SENTINELS)',
        "LEGACY_SESSION_COOKIE needs the old app's secret: set LEGACY_SESSION_SECRET (or SESSION_SECRET)",
      ]);
    });

    it.each([
      ['LEGACY_SESSION_COOKIE', 'connect sid'],
      ['LEGACY_SESSION_PREFIX', 'sess *'],
      ['LEGACY_SESSION_USER_FIELD', 'passport..user'],
      ['LEGACY_SESSION_USER_FIELD', '__proto__.x.y.z.w'],
    ])('rejects a bad %s (%j)', (name, value) => {
      expect(problemsOf({ ...REDIS, LEGACY_SESSION_COOKIE: 'connect.sid', [name]: value }).join('\n')).toContain(name);
    });
  });
});
