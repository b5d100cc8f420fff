import { cleanUserAgent, compactUserAgent, expandUserAgent, USER_AGENT_MAX } from './user-agent';

const REAL = [
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Safari/605.1.15',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1',
  'Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0',
  'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.0.0',
  'MyApp/3.1 (iOS 17.2; iPhone15,2)',
  'curl/8.5.0',
  'okhttp/4.12.0',
  '',
];

describe('user agents as stored', () => {
  it.each(REAL)('round-trips %j', (ua) => {
    expect(expandUserAgent(compactUserAgent(ua))).toBe(ua);
  });

  it('stores a desktop Chrome user agent in a few bytes', () => {
    const stored = compactUserAgent(REAL[0]);
    expect(Buffer.byteLength(stored)).toBeLessThanOrEqual(16);
    expect(stored).not.toContain('\x1f');
  });

  it('round-trips any printable text, fragments and near-fragments included', () => {
    const pieces = [
      'Mozilla/5.0 (',
      'Chrome/',
      ' Safari/537.36',
      '.0.0.0',
      'Mobile',
      'Mozilla/5.0',
      'Chr',
      'x',
      ' ',
      '(',
      'é',
      '✓',
    ];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let round = 0; round < 2000; round++) {
      const ua = cleanUserAgent(Array.from({ length: next() % 12 }, () => pieces[next() % pieces.length]).join(''));
      expect(expandUserAgent(compactUserAgent(ua))).toBe(ua);
    }
  });

  it('strips control characters, trims and bounds the length before storing', () => {
    expect(cleanUserAgent(' curl/8.5.0\r\n\x1fX-Injected: 1\x7f ')).toBe('curl/8.5.0X-Injected: 1');
    expect(cleanUserAgent('a'.repeat(1000))).toHaveLength(USER_AGENT_MAX);
    expect(cleanUserAgent(undefined)).toBe('');
  });
});
