import { SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';

export const IS_PUBLIC = 'isPublic';

/** Opts a route out of the global authentication guard (and so out of the CSRF check). */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);

/** Roles of which the caller needs at least one; on a handler or a controller. */
export const Roles = Reflector.createDecorator<string[]>();

/**
 * A sensitive action (ASVS 3.7.1): allowed only within REAUTH_WINDOW of the session's last password
 * proof (login or POST /auth/reauthenticate), else 403 `reauthentication_required`. `writes` on a
 * controller covers its state-changing routes only.
 */
export const Sensitive = Reflector.createDecorator<'always' | 'writes'>();

/**
 * Refused to an impersonation session (an admin acting as a user): what only the user themself, or an
 * admin as themself, may do. On a handler or a controller.
 */
export const NotWhileImpersonating = Reflector.createDecorator<true>();
