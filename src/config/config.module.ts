import { DynamicModule, Global, Module } from '@nestjs/common';
import {
  AppConfig,
  AuditConfig,
  AuthConfig,
  LegacySessionConfig,
  loadConfig,
  RedisConfig,
  SessionConfig,
} from './config';
import { Env } from './env';

/**
 * Typed configuration as class tokens: `constructor(private readonly session: SessionConfig)`.
 * Built from an explicit environment rather than @nestjs/config's global process.env so that a
 * test can run two differently configured instances in one process.
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(env: Env): DynamicModule {
    const config = loadConfig(env);
    const providers = [
      { provide: AppConfig, useValue: config.app },
      { provide: RedisConfig, useValue: config.redis },
      { provide: SessionConfig, useValue: config.session },
      { provide: AuthConfig, useValue: config.auth },
      { provide: AuditConfig, useValue: config.audit },
      { provide: LegacySessionConfig, useValue: config.legacy },
    ];
    return { module: ConfigModule, providers, exports: providers.map((p) => p.provide) };
  }
}
