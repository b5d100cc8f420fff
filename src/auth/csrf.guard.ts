import { CanActivate, ExecutionContext, ForbiddenException, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { SessionService } from '../session/session.service';
import { isPublic } from './auth.guard';

/** Methods that change nothing: no CSRF token needed, and no fresh password for a `writes` rule. */
export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
export const CSRF_HEADER = 'x-csrf-token';

/** Global: a state-changing request made with a session must carry that session's X-CSRF-Token. */
@Injectable()
export class CsrfGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly sessions: SessionService,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    const req = context.switchToHttp().getRequest<Request>();
    const session = req.liveSession;
    if (SAFE_METHODS.has(req.method) || !session || isPublic(this.reflector, context)) return true;
    if (!this.sessions.verifyCsrf(session.secretId, req.get(CSRF_HEADER))) {
      throw new ForbiddenException('Missing or invalid CSRF token');
    }
    return true;
  }
}
