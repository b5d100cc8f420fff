import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import express, { NextFunction, Request, Response } from 'express';
import helmet from 'helmet';
import { accessLog } from './common/access-log';
import { JsonLogger } from './common/json-logger';
import { requestContext } from './common/request-context';
import { AppConfig, SessionConfig } from './config/config';
import { httpMetrics } from './metrics/http-metrics';
import { MetricsService } from './metrics/metrics.service';
import { SessionMiddleware } from './session/session.middleware';

export const BODY_LIMIT = '16kb';

/** Everything that must touch the express app itself; used by main.ts and by every e2e test. */
export async function configureApp(app: NestExpressApplication, logger: JsonLogger): Promise<void> {
  const appConfig = app.get(AppConfig);
  const sessionConfig = app.get(SessionConfig);

  app.useLogger(logger);
  app.use(requestContext);
  app.use(accessLog(logger));
  app.use(httpMetrics(app.get(MetricsService)));
  app.set('trust proxy', appConfig.trustProxy);
  app.disable('x-powered-by');
  app.use(
    helmet({
      contentSecurityPolicy: {
        // Swagger UI's own script and styles are served from here; nothing else runs.
        directives: {
          'img-src': ["'self'", 'data:'],
          'script-src': ["'self'"],
          'style-src': ["'self'", "'unsafe-inline'"],
        },
      },
      hsts: appConfig.production,
    }),
  );
  app.use(express.json({ limit: BODY_LIMIT, strict: true }));
  app.use(bodyErrors);
  app.use(app.get(SessionMiddleware).handler);

  await SwaggerModule.loadPluginMetadata(async () => (await import('./metadata.js')).default);
  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('Session service')
      .setDescription(
        'Login sessions shared through Redis. Log in with POST /auth/login (the browser keeps the cookie), ' +
          'then paste the returned csrfToken into Authorize → csrf for state-changing calls.',
      )
      .setVersion('1.0')
      .addCookieAuth(
        sessionConfig.cookieName,
        { type: 'apiKey', in: 'cookie', name: sessionConfig.cookieName },
        'session',
      )
      .addApiKey({ type: 'apiKey', in: 'header', name: 'X-CSRF-Token' }, 'csrf')
      .build(),
  );
  SwaggerModule.setup('docs', app, document, {
    jsonDocumentUrl: 'docs-json',
    swaggerOptions: { withCredentials: true, persistAuthorization: true },
  });
}

/** Body parser failures as JSON 4xx, without the parser's own wording or stack. */
function bodyErrors(error: unknown, _req: Request, res: Response, next: NextFunction): void {
  const type = (error as { type?: string } | null)?.type;
  if (type === 'entity.parse.failed') {
    res.status(400).json({ statusCode: 400, message: 'Malformed JSON body', error: 'Bad Request' });
  } else if (type === 'entity.too.large') {
    res.status(413).json({ statusCode: 413, message: `Body larger than ${BODY_LIMIT}`, error: 'Payload Too Large' });
  } else if (type === 'encoding.unsupported' || type === 'charset.unsupported') {
    res.status(415).json({ statusCode: 415, message: 'Unsupported body encoding', error: 'Unsupported Media Type' });
  } else if (error) {
    res.status(400).json({ statusCode: 400, message: 'Unreadable body', error: 'Bad Request' });
  } else {
    next();
  }
}
