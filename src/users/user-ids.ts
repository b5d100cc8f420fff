import { randomBytes } from 'node:crypto';

const ID = /^[A-Za-z0-9_-]{12}$/;

/** 72 random bits, URL-safe: it appears in session ids, key names and URLs unescaped. */
export function newUserId(): string {
  return randomBytes(9).toString('base64url');
}

export function isUserId(value: string): boolean {
  return ID.test(value);
}
