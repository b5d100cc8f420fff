import 'reflect-metadata';
import { sign } from 'cookie-signature';
import type { Request } from 'express';
import { loadConfig } from '../config/config';
import { SessionCookie } from './session-cookie';
import { handleFromSessionId, newSessionId } from './session-ids';

const OLD = 'old-secret-0123456789-0123456789-abc';
const NEW = 'new-secret-0123456789-0123456789-xyz';
const USER = 'AAAAAAAAAAAA';

function cookieWith(secrets: string[]): SessionCookie {
  return new SessionCookie(loadConfig({ SESSION_SECRET: secrets.join(',') }).session);
}

const requestWith = (cookie: string | undefined): Request => ({ headers: { cookie } }) as unknown as Request;
const signed = (id: string, secret: string): string => `sid=${encodeURIComponent(`s:${sign(id, secret)}`)}`;

describe('SessionCookie.read', () => {
  const id = newSessionId(USER);

  it('names the session of a cookie signed by any of the secrets', () => {
    const cookie = cookieWith([NEW, OLD]);
    for (const secret of [NEW, OLD]) {
      expect(cookie.read(requestWith(`a=1; ${signed(id, secret)}; b=2`))).toEqual({
        secretId: id,
        handle: handleFromSessionId(id),
      });
    }
  });

  it('refuses unsigned, tampered, foreign-secret and malformed cookies, also after a valid one was read', () => {
    const cookie = cookieWith([NEW]);
    const valid = signed(id, NEW);
    expect(cookie.read(requestWith(valid))).not.toBeNull();
    const tampered = signed(id, NEW).replace(/.(%3B|$)/, (c) => (c[0] === 'A' ? 'B' : 'A') + c.slice(1));
    for (const header of [
      undefined,
      '',
      'other=1',
      `sid=${encodeURIComponent(`s:${id}`)}`,
      `sid=${id}`,
      signed(id, OLD),
      valid.slice(0, -2),
      tampered,
      signed('not-a-session-id', NEW),
      `sid=${encodeURIComponent(sign(id, NEW))}`,
    ]) {
      expect({ header, read: cookie.read(requestWith(header)) }).toEqual({ header, read: null });
    }
  });

  it('keeps answering correctly past the bound of remembered cookies', () => {
    const cookie = cookieWith([NEW]);
    const ids = Array.from({ length: 10_050 }, () => newSessionId(USER));
    for (const each of ids) expect(cookie.read(requestWith(signed(each, NEW)))?.secretId).toBe(each);
    expect(cookie.read(requestWith(signed(ids[0], NEW)))?.secretId).toBe(ids[0]);
    expect(cookie.read(requestWith(signed(ids[0], OLD)))).toBeNull();
  });
});
