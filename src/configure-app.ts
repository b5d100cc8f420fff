import type { NestExpressApplication } from '@nestjs/platform-express';
import { SwaggerModule } from '@nestjs/swagger';
import express, { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { corsOptions, foreignOriginGuard } from './common/cors';
import { consoleAssets, consoleDir } from './console/console-assets';
import { inputGuard } from './common/input-guard';
import { JsonLogger } from './common/logger';
import { requestEdge, staticHeaders } from './common/request-edge';
import { AppConfig, LegacySessionConfig } from './config/config';
import { createOpenApiDocument } from './docs/openapi-document';
import { swaggerUiOptions } from './docs/swagger-ui';
import { LegacySessionMiddleware } from './legacy/legacy-session.middleware';
import { MetricsService } from './metrics/metrics.service';
import { SessionMiddleware } from './session/session.middleware';
import { VerifyRoute } from './session/verify-route';

export const BODY_LIMIT = '16kb';
/** POST /admin/users/import carries up to 1,000 users (about 200 bytes each with an argon2 hash). */
export const IMPORT_BODY_LIMIT = '512kb';
const IMPORT_PATH = '/admin/users/import';

/** Everything that must touch the express app itself; used by main.ts and by every e2e test. */
export async function configureApp(app: NestExpressApplication, logger: JsonLogger): Promise<void> {
  const appConfig = app.get(AppConfig);

  // Lines Nest buffered while the app was built are written now, at the configured level.
  logger.setLevel(appConfig.logLevel);
  app.useLogger(logger);
  app.set('trust proxy', appConfig.trustProxy);
  app.disable('x-powered-by');
  // Every answer is no-store: an ETag (a hash of each body) would only cost time.
  app.set('etag', false);
  // Swagger UI is a page: it gets all of helmet's headers, with a policy that runs only its own assets.
  const pageHeaders = staticHeaders(
    helmet({
      contentSecurityPolicy: {
        directives: {
          'img-src': ["'self'", 'data:'],
          'script-src': ["'self'"],
          'style-src': ["'self'", "'unsafe-inline'"],
          // Only where TLS is in front: elsewhere it would send Swagger UI's assets to https and break it.
          'upgrade-insecure-requests': appConfig.production ? [] : null,
        },
      },
      hsts: appConfig.production,
    }),
  );
  // The admin console: only its own files and its own API calls; nothing inline, never framed.
  const consoleHeaders = staticHeaders(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          'default-src': ["'self'"],
          'script-src': ["'self'"],
          'style-src': ["'self'"],
          'img-src': ["'self'", 'data:'],
          'connect-src': ["'self'"],
          'font-src': ["'self'"],
          'object-src': ["'none'"],
          'base-uri': ["'none'"],
          'form-action': ["'self'"],
          'frame-ancestors': ["'none'"],
          'upgrade-insecure-requests': appConfig.production ? [] : null,
        },
      },
      frameguard: { action: 'deny' },
      hsts: appConfig.production,
    }),
  );
  // The API answers JSON, never a page: OWASP's REST set (nothing may load, frame or sniff it), not
  // the headers that only steer how a browser renders HTML, which would cost every request.
  const apiHeaders = staticHeaders(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] },
      },
      frameguard: { action: 'deny' },
      hsts: appConfig.production,
      crossOriginOpenerPolicy: false,
      originAgentCluster: false,
      xDnsPrefetchControl: false,
      xDownloadOptions: false,
      xPermittedCrossDomainPolicies: false,
      xXssProtection: false,
    }),
  );
  // GET /auth/verify is answered before express sees the request (gateways call it on every request).
  app.get(VerifyRoute).install(app.getHttpServer(), logger, apiHeaders);
  app.use(requestEdge({ logger, metrics: app.get(MetricsService), apiHeaders, pageHeaders, consoleHeaders }));
  if (appConfig.corsOrigins.length > 0) {
    app.use(foreignOriginGuard(appConfig.corsOrigins));
    app.enableCors(corsOptions(appConfig.corsOrigins));
  }
  // Ahead of the body parser and the sessions: loading the console never reads the store.
  app.use(consoleAssets(consoleDir()));
  // JSON bodies, their errors and the input guard as one step (each router layer costs every request).
  const json = express.json({ limit: BODY_LIMIT, strict: true });
  const importJson = express.json({ limit: IMPORT_BODY_LIMIT, strict: true });
  app.use((req: Request, res: Response, next: NextFunction) => {
    // No body (no length, not chunked): nothing for the parser, as type-is's hasBody decides.
    if (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined) {
      inputGuard(req, res, next);
      return;
    }
    const large = req.method === 'POST' && req.path === IMPORT_PATH;
    (large ? importJson : json)(req, res, (error?: unknown) =>
      error ? bodyErrors(error, res, large ? IMPORT_BODY_LIMIT : BODY_LIMIT) : inputGuard(req, res, next),
    );
  });
  const sessionMiddleware = app.get(SessionMiddleware);
  app.use(sessionMiddleware.use.bind(sessionMiddleware));
  if (app.get(LegacySessionConfig).enabled) {
    const legacyMiddleware = app.get(LegacySessionMiddleware);
    app.use(legacyMiddleware.use.bind(legacyMiddleware));
  }

  if (appConfig.docsEnabled) {
    SwaggerModule.setup('docs', app, await createOpenApiDocument(app), swaggerUiOptions());
  }
}

/** Body parser failures as JSON 4xx, without the parser's own wording or stack. */
function bodyErrors(error: unknown, res: Response, limit: string): void {
  const type = (error as { type?: string } | null)?.type;
  if (type === 'entity.parse.failed') {
    res.status(400).json({ statusCode: 400, message: 'Malformed JSON body', error: 'Bad Request' });
  } else if (type === 'entity.too.large') {
    res.status(413).json({ statusCode: 413, message: `Body larger than ${limit}`, error: 'Payload Too Large' });
  } else if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    res.status(415).json({ statusCode: 415, message: 'Unsupported body encoding', error: 'Unsupported Media Type' });
  } else {
    res.status(400).json({ statusCode: 400, message: 'Unreadable body', error: 'Bad Request' });
  }
}
