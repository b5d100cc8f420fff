import type { NextFunction, Request, Response } from 'express';

/** Keys that mean nothing to this API and everything to a prototype-pollution attempt. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);
/** No DTO nests deeper than 2; validators recurse once per level, so deep input must stop here. */
export const MAX_DEPTH = 16;

function problem(value: unknown): string | null {
  // Iterative walk: a hostile depth cannot overflow this check's own stack.
  const stack: { value: unknown; depth: number }[] = [{ value, depth: 0 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop()!;
    if (current === null || typeof current !== 'object') continue;
    if (depth >= MAX_DEPTH) return `Input nested deeper than ${MAX_DEPTH} levels`;
    for (const key of Object.keys(current)) {
      if (FORBIDDEN_KEYS.has(key)) return `Property name "${key}" is not allowed`;
      stack.push({ value: (current as Record<string, unknown>)[key], depth: depth + 1 });
    }
  }
  return null;
}

/**
 * Rejects bodies and query strings with prototype keys or absurd nesting before any validator sees
 * them. Nest's ValidationPipe would silently strip `__proto__` and let the rest of the body through,
 * and class-transformer recurses once per level of nested arrays.
 */
export function inputGuard(req: Request, res: Response, next: NextFunction): void {
  const body: unknown = req.body;
  // Most requests have neither a body nor a query string: nothing to look at.
  if ((body === undefined || body === null) && !req.url.includes('?')) {
    next();
    return;
  }
  const found = problem(body) ?? problem(req.query);
  if (found) {
    res.status(400).json({ statusCode: 400, message: found, error: 'Bad Request' });
    return;
  }
  next();
}
