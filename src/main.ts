import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { AppModule } from './app.module';
import { AppConfig, RedisConfig, SessionConfig } from './config/config';
import { ConfigError } from './config/env';
import { configureApp } from './configure-app';
import { JsonLogger } from './common/logger';

async function bootstrap(): Promise<void> {
  const jsonLogger = new JsonLogger();
  Logger.overrideLogger(jsonLogger);
  const logger = new Logger('Main');
  let module;
  try {
    module = AppModule.forRoot(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      logger.error(error.message);
      process.exit(1);
    }
    throw error;
  }
  const app = await NestFactory.create<NestExpressApplication>(module, {
    bodyParser: false,
    logger: jsonLogger,
    bufferLogs: true,
  });
  // Exit 0 after a clean shutdown (Nest would otherwise re-raise the signal); pending logs flush on exit.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  await configureApp(app, jsonLogger);

  const { port, host } = app.get(AppConfig);
  if (app.get(RedisConfig).topology.kind === 'embedded') {
    logger.warn('REDIS_URL is not set: sessions and users live in this process only (embedded store, development)');
  }
  if (app.get(SessionConfig).secretGenerated) {
    logger.warn('SESSION_SECRET is not set: using a random secret, so sessions end when this process restarts');
  }
  await app.listen(port, host);
  logger.log(`Listening on http://${host}:${port} (Swagger UI at /docs)`);
}

bootstrap().catch((error: unknown) => {
  // An open Redis connection would keep a process that failed to start alive: exit instead.
  new Logger('Main').fatal(`Start-up failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
