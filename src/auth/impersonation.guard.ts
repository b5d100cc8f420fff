import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { NotWhileImpersonating } from './auth.decorators';

export const IMPERSONATION_RESTRICTED = 'impersonation_restricted';

/** The 403 of what an impersonation session may not do; also used by FreshAuthGuard. */
export function impersonationRestricted(what: string): ForbiddenException {
  return new ForbiddenException({
    statusCode: 403,
    message: `${what} is not allowed in an impersonation session: end it first (POST /auth/impersonation/end)`,
    error: 'Forbidden',
    code: IMPERSONATION_RESTRICTED,
  });
}

/**
 * Global: an impersonation session cannot reach a @NotWhileImpersonating() route (the admin API, a
 * password change, a re-authentication). Read from the record the request already holds: no Redis.
 */
@Injectable()
export class ImpersonationGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    if (!req.liveSession?.record.impersonatedBy) return true;
    if (!this.reflector.getAllAndOverride(NotWhileImpersonating, [context.getHandler(), context.getClass()])) {
      return true;
    }
    throw impersonationRestricted(`${req.method} ${req.path}`);
  }
}
