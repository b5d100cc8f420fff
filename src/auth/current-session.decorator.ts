import { createParamDecorator, ExecutionContext, UnauthorizedException } from '@nestjs/common';
import type { Request } from 'express';
import { SessionRecord } from '../session/session-store';

/** The caller's session record (the AuthGuard has already made sure there is one). */
export const CurrentSession = createParamDecorator((_: unknown, context: ExecutionContext): SessionRecord => {
  const record = context.switchToHttp().getRequest<Request>().liveSession?.record;
  if (!record) throw new UnauthorizedException('Authentication required');
  return record;
});
