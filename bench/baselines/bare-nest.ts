import 'reflect-metadata';
import { Controller, Get, Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';

/** Baseline a: what NestJS 12 on express costs with no session, no guard, no middleware at all. */
const startedAt = new Date().toISOString();

@Controller('auth')
class ProfileController {
  /** The same shape as the service's profile, from constants: no store, no session. */
  @Get('profile')
  profile(): object {
    return {
      userId: 'AAAAAAAAAAAA',
      username: 'bench-admin',
      roles: ['admin', 'user'],
      session: {
        id: 'AAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA',
        deviceId: null,
        createdAt: startedAt,
        lastActivityAt: startedAt,
        expiresAt: startedAt,
        requestCount: 1,
      },
    };
  }
}

@Module({ controllers: [ProfileController] })
class BareModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestExpressApplication>(BareModule, { logger: ['error', 'warn'] });
  // Exit 0 after a clean shutdown (not a re-raised signal), so that --cpu-prof can write its profile.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  await app.listen(Number(process.env.PORT ?? 3001), process.env.HOST ?? '127.0.0.1');
}

void main();
