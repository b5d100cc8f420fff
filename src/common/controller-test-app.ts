import type { Server } from 'node:http';
import type { Provider, Type } from '@nestjs/common';
import { APP_FILTER, APP_GUARD, APP_PIPE } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { Test } from '@nestjs/testing';
import { sign } from 'cookie-signature';
import type { NextFunction, Request, Response } from 'express';
import { AccessGuard } from '../auth/access.guard';
import { AuthGuard } from '../auth/auth.guard';
import { CsrfGuard } from '../auth/csrf.guard';
import { FreshAuthGuard } from '../auth/fresh-auth.guard';
import { ImpersonationGuard } from '../auth/impersonation.guard';
import { RolesGuard } from '../auth/roles.guard';
import { AllExceptionsFilter } from './all-exceptions.filter';
import { Clock } from './clock';
import { validationPipe } from './validation';
import { AuthConfig, loadConfig, SessionConfig } from '../config/config';
import { ActivityTracker } from '../session/activity-tracker';
import { SessionCookie } from '../session/session-cookie';
import { handleFromSessionId, newSessionId } from '../session/session-ids';
import type { RequestSession } from '../session/session.middleware';
import { SessionService } from '../session/session.service';
import { SessionRecord, SessionStore } from '../session/session-store';
import { newUserId } from '../users/user-ids';

/** Where every request of a controller spec comes from (sent as X-Forwarded-For; the app trusts it). */
export const CLIENT_IP = '203.0.113.9';

export interface SignedIn {
  session: RequestSession;
  /** `name=value`, for a Cookie header. */
  cookie: string;
  /** The session's real CSRF token. */
  csrfToken: string;
}

export interface ControllerApp {
  http: Server;
  config: SessionConfig;
  /** A live session the app will find behind the returned cookie, as SessionMiddleware would. */
  signIn(user: { username: string; roles: string[] }): SignedIn;
  close(): Promise<void>;
}

/**
 * For controller specs (beside their controllers): one controller over HTTP with the production request pipeline: the global validation pipe, the
 * access guard (authentication, CSRF, roles, fresh authentication: a signed-in session has just proved its password) and the exception filter. Services are the caller's
 * fakes. The session store is replaced by a map read through the real SessionCookie, and the CSRF
 * tokens are SessionService's own (they need only the secret, never the store).
 */
export async function createControllerApp(controller: Type, providers: Provider[]): Promise<ControllerApp> {
  const loaded = loadConfig({ NODE_ENV: 'test', SESSION_SECRET: 'controller-spec-secret-0123456789-abcdef' });
  const config = loaded.session;
  const csrf = new SessionService({} as SessionStore, {} as ActivityTracker, config, new Clock());
  const cookie = new SessionCookie(config);
  const moduleRef = await Test.createTestingModule({
    controllers: [controller],
    providers: [
      ...providers,
      { provide: SessionConfig, useValue: config },
      { provide: SessionCookie, useValue: cookie },
      { provide: SessionService, useValue: csrf },
      AuthGuard,
      CsrfGuard,
      RolesGuard,
      FreshAuthGuard,
      ImpersonationGuard,
      { provide: Clock, useValue: new Clock() },
      { provide: AuthConfig, useValue: loaded.auth },
      { provide: APP_GUARD, useClass: AccessGuard },
      { provide: APP_PIPE, useValue: validationPipe() },
      { provide: APP_FILTER, useClass: AllExceptionsFilter },
    ],
  }).compile();
  const app = moduleRef.createNestApplication<NestExpressApplication>({ logger: false });
  app.set('trust proxy', true);
  const sessions = new Map<string, RequestSession>();
  app.use((req: Request, _res: Response, next: NextFunction) => {
    const named = cookie.read(req);
    const session = named && sessions.get(named.secretId);
    if (session) req.liveSession = session;
    next();
  });
  await app.init();

  return {
    http: app.getHttpServer(),
    config,
    signIn({ username, roles }) {
      const secretId = newSessionId(newUserId());
      const handle = handleFromSessionId(secretId)!;
      const record: SessionRecord = {
        handle,
        username,
        roles,
        deviceId: null,
        userAgent: '',
        browser: '',
        os: '',
        ip: CLIENT_IP,
        createdAt: 0,
        lastActivityAt: 0,
        absoluteExpiresAt: 0,
        requestCount: 1,
        authenticatedAt: Date.now(),
        suspicion: 'none',
        impersonatedBy: null,
      };
      const session: RequestSession = { secretId, record, ended: false };
      sessions.set(secretId, session);
      return {
        session,
        cookie: `${config.cookieName}=${encodeURIComponent(`s:${sign(secretId, config.secrets[0])}`)}`,
        csrfToken: csrf.csrfToken(secretId),
      };
    },
    close: () => app.close(),
  };
}
