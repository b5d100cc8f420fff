import { isoTime } from './iso-time';

describe('isoTime', () => {
  it('formats as Date#toISOString does, also when asked again and after many other times', () => {
    const times = [0, 1_700_000_000_123, 1_700_000_000_123, Date.UTC(2026, 11, 2, 3, 4, 5, 6)];
    for (let i = 0; i < 25_000; i++) times.push(1_800_000_000_000 + i * 997);
    times.push(1_700_000_000_123);
    for (const ms of times) expect(isoTime(ms)).toBe(new Date(ms).toISOString());
  });

  it('refuses a time Date cannot show, as toISOString does', () => {
    expect(() => isoTime(Number.NaN)).toThrow(RangeError);
  });
});
