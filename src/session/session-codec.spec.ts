import { newUserId } from '../users/user-ids';
import { handleFromSessionId, newSessionId } from './session-ids';
import { META_FIELD, packMeta, packSession, SEP, unpackMeta, unpackSession } from './session-codec';
import { SessionRecord } from './session-store';

describe('session codec', () => {
  const userId = newUserId();
  const handle = handleFromSessionId(newSessionId(userId))!;
  const record: SessionRecord = {
    handle,
    username: 'alice',
    roles: ['admin', 'user'],
    deviceId: 'laptop:1',
    browser: 'Chrome 120.0',
    os: 'Windows 10',
    ip: '2001:db8::1',
    createdAt: 1_764_000_000_123,
    lastActivityAt: 1_764_000_360_456,
    absoluteExpiresAt: 1_764_086_400_123,
    requestCount: 4321,
  };
  const meta = unpackMeta(packMeta(record.username, record.roles))!;

  it('reads back exactly what it packed', () => {
    expect(unpackSession(handle, packSession(record), meta)).toEqual(record);
    const bare = { ...record, deviceId: null, browser: '', os: '', ip: '', roles: [], requestCount: 0 };
    expect(unpackSession(handle, packSession(bare), unpackMeta(packMeta('alice', []))!)).toEqual(bare);
  });

  it('packs a session in well under 64 bytes of numbers and texts', () => {
    const value = packSession(record);
    expect(value.length).toBeLessThan(80);
    expect(value.split(SEP)).toHaveLength(8);
  });

  it('keeps the separator out of free text, so a crafted user agent cannot shift fields', () => {
    const crafted = { ...record, browser: `Evil${SEP}999${SEP}`, os: `x${SEP}` };
    expect(unpackSession(handle, packSession(crafted), meta)).toEqual({ ...crafted, browser: 'Evil999', os: 'x' });
  });

  it.each([
    ['another layout', 'un'],
    ['too few fields', ['1', '2', '3'].join(SEP)],
    ['a bad number', ['zz!', '1', '1', '1', '', '', '', ''].join(SEP)],
  ])('reads %s as no session', (_, value) => {
    expect(unpackSession(handle, value, meta)).toBeNull();
  });

  it('reads a missing or malformed user meta as none', () => {
    expect(unpackMeta(null)).toBeNull();
    expect(unpackMeta('')).toBeNull();
    expect(unpackMeta('no-separator')).toBeNull();
    expect(META_FIELD).not.toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});
