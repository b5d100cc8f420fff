import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { Roles } from './auth.decorators';

/** Global: a route with @Roles(...) needs one of them; false is Nest's built-in 403. */
@Injectable()
export class RolesGuard implements CanActivate {
  constructor(private readonly reflector: Reflector) {}

  canActivate(context: ExecutionContext): boolean {
    const required = this.reflector.getAllAndOverride(Roles, [context.getHandler(), context.getClass()]);
    if (!required || required.length === 0) return true;
    const roles = context.switchToHttp().getRequest<Request>().liveSession?.record.roles ?? [];
    return required.some((role) => roles.includes(role));
  }
}
