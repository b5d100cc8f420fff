import { ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { Roles } from './auth.decorators';
import { RolesGuard } from './roles.guard';

class Open {
  list(): void {}
}

@Roles(['admin'])
class AdminOnly {
  list(): void {}

  @Roles(['auditor'])
  audit(): void {}
}

class Mixed {
  @Roles(['admin', 'support'])
  help(): void {}

  @Roles([])
  anyone(): void {}
}

/** The part of an ExecutionContext the guard reads: handler, class and the request's session. */
function contextFor(cls: new () => object, method: string, roles?: string[]): ExecutionContext {
  const request = roles === undefined ? {} : { liveSession: { record: { roles } } };
  return {
    getHandler: () => (cls.prototype as Record<string, unknown>)[method],
    getClass: () => cls,
    switchToHttp: () => ({ getRequest: () => request }),
  } as unknown as ExecutionContext;
}

describe('RolesGuard', () => {
  const guard = new RolesGuard(new Reflector());

  it('lets anyone through a route without @Roles', () => {
    expect(guard.canActivate(contextFor(Open, 'list'))).toBe(true);
    expect(guard.canActivate(contextFor(Open, 'list', ['user']))).toBe(true);
  });

  it('lets anyone through an empty @Roles([])', () => {
    expect(guard.canActivate(contextFor(Mixed, 'anyone', ['user']))).toBe(true);
  });

  it('reads @Roles from the class', () => {
    expect(guard.canActivate(contextFor(AdminOnly, 'list', ['admin', 'user']))).toBe(true);
    expect(guard.canActivate(contextFor(AdminOnly, 'list', ['user']))).toBe(false);
  });

  it('lets the handler’s @Roles override the class’s', () => {
    expect(guard.canActivate(contextFor(AdminOnly, 'audit', ['auditor']))).toBe(true);
    expect(guard.canActivate(contextFor(AdminOnly, 'audit', ['admin']))).toBe(false);
  });

  it('needs any one of the listed roles', () => {
    expect(guard.canActivate(contextFor(Mixed, 'help', ['support']))).toBe(true);
    expect(guard.canActivate(contextFor(Mixed, 'help', ['admin']))).toBe(true);
    expect(guard.canActivate(contextFor(Mixed, 'help', ['user', 'auditor']))).toBe(false);
  });

  it('refuses a request without a session or without roles', () => {
    expect(guard.canActivate(contextFor(AdminOnly, 'list'))).toBe(false);
    expect(guard.canActivate(contextFor(AdminOnly, 'list', []))).toBe(false);
  });

  it('matches roles exactly, not by prefix or case', () => {
    expect(guard.canActivate(contextFor(AdminOnly, 'list', ['Admin']))).toBe(false);
    expect(guard.canActivate(contextFor(AdminOnly, 'list', ['administrator']))).toBe(false);
  });
});
