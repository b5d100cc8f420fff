import { createParamDecorator, ExecutionContext, UnauthorizedException } from '@nestjs/common';
import type { Request } from 'express';
import type { RequestSession } from '../session/session.middleware';
import { SessionRecord } from '../session/session-store';

function liveSession(context: ExecutionContext): RequestSession {
  const session = context.switchToHttp().getRequest<Request>().liveSession;
  if (!session) throw new UnauthorizedException('Authentication required');
  return session;
}

/** The caller's session record (the AuthGuard has already made sure there is one). */
export const CurrentSession = createParamDecorator(
  (_: unknown, context: ExecutionContext): SessionRecord => liveSession(context).record,
);

/** The request's session itself, for the routes that need its secret id or may end it. */
export const LiveSession = createParamDecorator((_: unknown, context: ExecutionContext): RequestSession =>
  liveSession(context),
);
