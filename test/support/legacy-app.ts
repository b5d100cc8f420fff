import bcrypt from 'bcrypt';
import { RedisStore } from 'connect-redis';
import express, { Express, NextFunction, Request, Response } from 'express';
import session from 'express-session';
import type { RedisClientType } from 'redis';
import request from 'supertest';

/**
 * The app teams migrate from, as they run it: express + express-session + connect-redis on
 * node-redis, a signed `connect.sid` cookie, sessions stored as JSON under `<prefix><sid>` with a
 * TTL, and users with bcrypt hashes in a database of their own (here an array).
 */

declare module 'express-session' {
  interface SessionData {
    userId?: string;
    username?: string;
    role?: string;
    deviceId?: string;
    loginTime?: number;
    lastActivity?: number;
    requestCount?: number;
  }
}

export interface LegacyUser {
  id: string;
  username: string;
  password: string;
  passwordHash: string;
  role: 'admin' | 'user';
}

export interface LegacyAppOptions {
  /** A node-redis client of any topology on the service's Redis. */
  client: RedisClientType;
  prefix: string;
  secret: string;
  users: LegacyUser[];
  /** The session cookie's max age (connect-redis derives the key's TTL from it). */
  maxAgeMs?: number;
}

export const LEGACY_COOKIE = 'connect.sid';

export async function legacyUser(id: string, username: string, role: LegacyUser['role'] = 'user'): Promise<LegacyUser> {
  const password = `${username}-old-password`;
  return { id, username, password, passwordHash: await bcrypt.hash(password, 10), role };
}

export function legacyApp(options: LegacyAppOptions): Express {
  const app = express();
  app.use(express.json());
  app.use(
    session({
      name: LEGACY_COOKIE,
      secret: options.secret,
      store: new RedisStore({ client: options.client, prefix: options.prefix }),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax', maxAge: options.maxAgeMs ?? 60 * 60 * 1000 },
    }),
  );
  app.use((req: Request, _res: Response, next: NextFunction) => {
    if (req.session.userId) {
      req.session.lastActivity = Date.now();
      req.session.requestCount = (req.session.requestCount ?? 0) + 1;
    }
    next();
  });
  app.post('/login', (req: Request, res: Response, next: NextFunction) => {
    const { username, password, deviceId } = req.body as { username: string; password: string; deviceId?: string };
    const user = options.users.find((u) => u.username === username);
    void (async () => {
      if (!user || !(await bcrypt.compare(password, user.passwordHash))) {
        res.status(401).json({ message: 'Invalid credentials' });
        return;
      }
      req.session.regenerate((error: unknown) => {
        if (error) return next(error);
        const now = Date.now();
        req.session.userId = user.id;
        req.session.username = user.username;
        req.session.role = user.role;
        if (deviceId) req.session.deviceId = deviceId;
        req.session.loginTime = now;
        req.session.lastActivity = now;
        req.session.requestCount = 1;
        res.json({ username: user.username });
      });
    })().catch(next);
  });
  app.get('/me', (req: Request, res: Response) => {
    if (!req.session.userId) {
      res.status(401).json({ message: 'Not logged in' });
      return;
    }
    res.json({ username: req.session.username, requestCount: req.session.requestCount });
  });
  return app;
}

/** Logs in on the old app; returns its cookie as a browser would send it (`connect.sid=...`). */
export async function legacyLogin(app: Express, user: LegacyUser, deviceId?: string): Promise<string> {
  const res = await request(app)
    .post('/login')
    .send({ username: user.username, password: user.password, deviceId })
    .expect(200);
  const set = ([] as string[]).concat(res.headers['set-cookie'] ?? []);
  const cookie = set.find((c) => c.startsWith(`${LEGACY_COOKIE}=`));
  if (!cookie) throw new Error('the old app set no session cookie');
  return cookie.split(';')[0];
}

/** The old session's id inside its cookie (for reading its key in Redis). */
export function legacySid(cookie: string): string {
  const value = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1));
  return value.slice(2, value.lastIndexOf('.'));
}
