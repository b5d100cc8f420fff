import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { Clock } from '../common/clock';
import { AuthConfig } from '../config/config';
import { Sensitive } from './auth.decorators';
import { SAFE_METHODS } from './csrf.guard';
import { impersonationRestricted } from './impersonation.guard';

export const REAUTHENTICATION_REQUIRED = 'reauthentication_required';

/**
 * Global: a @Sensitive() route needs a password proof within REAUTH_WINDOW. Read from the session
 * record the request already holds (its `authenticatedAt`), so it costs no Redis command.
 */
@Injectable()
export class FreshAuthGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly clock: Clock,
    private readonly config: AuthConfig,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const rule = this.reflector.getAllAndOverride(Sensitive, [context.getHandler(), context.getClass()]);
    if (!rule) return true;
    const req = context.switchToHttp().getRequest<Request>();
    if (rule === 'writes' && SAFE_METHODS.has(req.method)) return true;
    const record = req.liveSession?.record;
    const at = record?.authenticatedAt ?? null;
    if (at !== null && this.clock.now() - at <= this.config.reauthWindowMs) return true;
    // An impersonation session carries its admin's proof and cannot make a new one.
    if (record?.impersonatedBy) throw impersonationRestricted('A sensitive action past REAUTH_WINDOW');
    throw new ForbiddenException({
      statusCode: 403,
      message: `Confirm your password first (POST /auth/reauthenticate): this action needs a password proof from the last ${this.config.reauthWindowMs / 1000} s`,
      error: 'Forbidden',
      code: REAUTHENTICATION_REQUIRED,
    });
  }
}
