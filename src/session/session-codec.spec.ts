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
    userAgent:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    browser: 'Chrome 120.0',
    os: 'Windows 10',
    ip: '2001:db8::1',
    createdAt: 1_764_000_000_123,
    lastActivityAt: 1_764_000_360_456,
    absoluteExpiresAt: 1_764_086_400_123,
    requestCount: 4321,
    authenticatedAt: 1_764_000_300_000,
    suspicion: 'none',
    impersonatedBy: null,
  };
  const meta = unpackMeta(packMeta(record.username, record.roles))!;

  it('reads back exactly what it packed', () => {
    expect(unpackSession(handle, packSession(record), meta)).toEqual(record);
    const bare = { ...record, deviceId: null, userAgent: '', browser: '', os: '', ip: '', roles: [], requestCount: 0 };
    expect(unpackSession(handle, packSession(bare), unpackMeta(packMeta('alice', []))!)).toEqual(bare);
  });

  it('packs a session, a desktop browser user agent included, in under 100 bytes', () => {
    const value = packSession(record);
    expect(Buffer.byteLength(value)).toBeLessThan(100);
    expect(value.split(SEP)).toHaveLength(12);
  });

  it('reads values written before the user agent was kept (8 fields) with an empty one, authenticated at login', () => {
    const old = packSession(record).split(SEP).slice(0, 8).join(SEP);
    expect(unpackSession(handle, old, meta)).toEqual({ ...record, userAgent: '', authenticatedAt: record.createdAt });
  });

  it('reads values written before authenticatedAt was kept (9 fields) as authenticated at login', () => {
    const old = packSession(record).split(SEP).slice(0, 9).join(SEP);
    expect(unpackSession(handle, old, meta)).toEqual({ ...record, authenticatedAt: record.createdAt });
  });

  it('reads values written before theft signals were kept (10 fields) as not suspicious', () => {
    const old = packSession({ ...record, suspicion: 'blocked' })
      .split(SEP)
      .slice(0, 10)
      .join(SEP);
    expect(unpackSession(handle, old, meta)).toEqual(record);
  });

  it("reads values written before impersonation was kept (11 fields) as the user's own session", () => {
    const old = packSession({ ...record, impersonatedBy: { id: newUserId(), username: 'root' } })
      .split(SEP)
      .slice(0, 11)
      .join(SEP);
    expect(unpackSession(handle, old, meta)).toEqual(record);
  });

  it('keeps the admin behind an impersonation session', () => {
    const impersonated = { ...record, impersonatedBy: { id: newUserId(), username: 'support.admin' } };
    expect(unpackSession(handle, packSession(impersonated), meta)).toEqual(impersonated);
  });

  it.each(['flagged', 'blocked'] as const)('keeps a %s suspicion', (suspicion) => {
    expect(unpackSession(handle, packSession({ ...record, suspicion }), meta)).toEqual({ ...record, suspicion });
  });

  it('keeps a session that never proved a password (adopted) as such', () => {
    const adopted = { ...record, authenticatedAt: null };
    expect(unpackSession(handle, packSession(adopted), meta)).toEqual(adopted);
  });

  it('keeps a user agent the detection library does not know, as it came', () => {
    const app = { ...record, userAgent: 'MyApp/3.1 (iOS 17.2; iPhone15,2)', browser: '', os: '' };
    expect(unpackSession(handle, packSession(app), meta)).toEqual(app);
  });

  it('keeps the separator out of free text, so a crafted user agent cannot shift fields', () => {
    const crafted = { ...record, browser: `Evil${SEP}999${SEP}`, os: `x${SEP}`, userAgent: `ua${SEP}1${SEP}\x01` };
    expect(unpackSession(handle, packSession(crafted), meta)).toEqual({
      ...crafted,
      browser: 'Evil999',
      os: 'x',
      userAgent: 'ua1',
    });
  });

  it.each([
    ['another layout', 'un'],
    ['too few fields', ['1', '2', '3'].join(SEP)],
    ['too many fields', ['1', '1', '1', '1', '', '', '', '', '', '1', '', '', 'x'].join(SEP)],
    ['an impersonator without a name', ['1', '1', '1', '1', '', '', '', '', '', '1', '', 'abc'].join(SEP)],
    ['a bad authenticatedAt', ['1', '1', '1', '1', '', '', '', '', '', 'z!'].join(SEP)],
    ['an unknown suspicion', ['1', '1', '1', '1', '', '', '', '', '', '1', 'x'].join(SEP)],
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
