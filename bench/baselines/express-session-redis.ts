import { RedisStore } from 'connect-redis';
import express, { NextFunction, Request, Response } from 'express';
import session from 'express-session';
import { createClient } from 'redis';

/**
 * Baseline b: the common pattern, express + express-session + connect-redis, with a middleware
 * that keeps lastActivity/requestCount in the session itself. Every authenticated request then
 * reads the whole session (GET) and writes it back (SET), and concurrent requests of one session
 * overwrite each other's counts.
 */
// Optional: the check build sees the service's own SessionData augmentation in the same program.
declare module 'express-session' {
  interface SessionData {
    user?: { id: string; username: string; roles: string[] };
    createdAt?: number;
    lastActivity?: number;
    requestCount?: number;
  }
}

const DAY_MS = 24 * 60 * 60 * 1000;

async function main(): Promise<void> {
  const secret = process.env.SESSION_SECRET;
  if (!secret) throw new Error('SESSION_SECRET is required');
  const client = createClient({ url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' });
  client.on('error', (error: Error) => console.error(`redis: ${error.message}`));
  await client.connect();

  const app = express();
  app.set('trust proxy', true);
  app.disable('x-powered-by');
  app.use(express.json({ limit: '16kb' }));
  app.use(
    session({
      name: '__Host-sid',
      secret,
      store: new RedisStore({ client, prefix: 'sess:' }),
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, secure: true, sameSite: 'lax', path: '/', maxAge: DAY_MS },
    }),
  );
  app.use((req: Request, _res: Response, next: NextFunction) => {
    if (req.session.user) {
      req.session.lastActivity = Date.now();
      req.session.requestCount = (req.session.requestCount ?? 0) + 1;
    }
    next();
  });

  app.post('/auth/login', (req: Request, res: Response, next: NextFunction) => {
    const username = (req.body as { username?: unknown } | undefined)?.username;
    if (typeof username !== 'string' || username === '') {
      res.status(400).json({ statusCode: 400, message: 'username is required', error: 'Bad Request' });
      return;
    }
    req.session.regenerate((error: unknown) => {
      if (error) return next(error);
      const now = Date.now();
      req.session.user = { id: 'AAAAAAAAAAAA', username, roles: ['admin', 'user'] };
      req.session.createdAt = now;
      req.session.lastActivity = now;
      req.session.requestCount = 1;
      res.json({ user: req.session.user });
    });
  });

  app.get('/auth/profile', (req: Request, res: Response) => {
    const { user, createdAt, lastActivity, requestCount } = req.session;
    if (!user) {
      res.status(401).json({ statusCode: 401, message: 'Authentication required', error: 'Unauthorized' });
      return;
    }
    res.json({
      userId: user.id,
      username: user.username,
      roles: user.roles,
      session: {
        createdAt: new Date(createdAt ?? 0).toISOString(),
        lastActivityAt: new Date(lastActivity ?? 0).toISOString(),
        expiresAt: req.session.cookie.expires?.toISOString() ?? null,
        requestCount,
      },
    });
  });

  const server = app.listen(Number(process.env.PORT ?? 3002), process.env.HOST ?? '127.0.0.1');
  const stop = (): void => {
    server.close();
    void client.close();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
