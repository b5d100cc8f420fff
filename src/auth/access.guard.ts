import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { AuthGuard } from './auth.guard';
import { CsrfGuard } from './csrf.guard';
import { FreshAuthGuard } from './fresh-auth.guard';
import { ImpersonationGuard } from './impersonation.guard';
import { RolesGuard } from './roles.guard';

/**
 * The one global guard: who are you (401), is this request really yours (403), is it not barred to
 * an impersonation session (403), may you (403), have you proved your password lately where it
 * matters (403), in that order. One guard instead of three, because Nest builds a context and awaits per guard on
 * every request.
 */
@Injectable()
export class AccessGuard implements CanActivate {
  constructor(
    private readonly auth: AuthGuard,
    private readonly csrf: CsrfGuard,
    private readonly impersonation: ImpersonationGuard,
    private readonly roles: RolesGuard,
    private readonly fresh: FreshAuthGuard,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    return (
      this.auth.canActivate(context) &&
      this.csrf.canActivate(context) &&
      this.impersonation.canActivate(context) &&
      this.roles.canActivate(context) &&
      this.fresh.canActivate(context)
    );
  }
}
