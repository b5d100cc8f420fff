/**
 * The raw User-Agent of a session, kept so that a user can tell their devices apart even when the
 * browser-detection library knows nothing of the client (`MyApp/3.1`, `curl/8.5.0`).
 *
 * Stored compacted: the fragments that make up most of every browser's user agent are replaced by
 * one control character each. No library does this, and it is what keeps a session within its
 * memory budget (≤ 369 bytes in Redis with every index): a desktop Chrome user agent of 111
 * characters is stored in 9. It is exact: control characters are stripped from user agents before
 * anything else, so a code can only be one this table wrote, and every fragment decodes back.
 */

/** Longest kept; a longer user agent is cut (after stripping control characters). */
export const USER_AGENT_MAX = 256;

/** Code \x01 + index. Order matters for encoding: a fragment is replaced before the shorter ones inside it. */
const FRAGMENTS = [
  'Mozilla/5.0 (',
  'Windows NT 10.0; Win64; x64) ',
  'AppleWebKit/537.36 (KHTML, like Gecko) ',
  'Chrome/',
  ' Safari/537.36',
  'Macintosh; Intel Mac OS X 10_15_7) ',
  'X11; Linux x86_64) ',
  'Gecko/20100101 Firefox/',
  'Windows NT 10.0; Win64; x64; rv:',
  'Macintosh; Intel Mac OS X 10.15; rv:',
  'X11; Ubuntu; Linux x86_64; rv:',
  'iPhone; CPU iPhone OS ',
  ' like Mac OS X) ',
  'AppleWebKit/605.1.15 (KHTML, like Gecko) ',
  'Version/',
  ' Mobile/15E148 Safari/604.1',
  'Linux; Android ',
  ' Mobile Safari/537.36',
  ' Edg/',
  ' OPR/',
  'Safari/605.1.15',
  '.0.0.0',
  'iPad; CPU OS ',
  'Macintosh; Intel Mac OS X ',
  'CriOS/',
  'FxiOS/',
  'SamsungBrowser/',
  '; K) ',
  ' (KHTML, like Gecko)',
  'Mobile',
] as const;

// Control characters are the point of both patterns: what is stripped, and what the codes are.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\x00-\x1f\x7f]/g;
// eslint-disable-next-line no-control-regex
const CODES = /[\x01-\x1e]/g;

const code = (index: number): string => String.fromCharCode(1 + index);
if (FRAGMENTS.length > 30) throw new Error('user-agent codes end at \\x1e (\\x1f separates packed fields)');

/** Printable text only: control characters (and DEL) out, at most USER_AGENT_MAX characters. */
export function cleanUserAgent(userAgent: string | undefined): string {
  if (!userAgent) return '';
  return userAgent.replace(CONTROL, '').trim().slice(0, USER_AGENT_MAX);
}

/** A clean user agent (cleanUserAgent) in its stored form. */
export function compactUserAgent(clean: string): string {
  let out = clean;
  for (let i = 0; i < FRAGMENTS.length; i++) {
    if (out.includes(FRAGMENTS[i])) out = out.split(FRAGMENTS[i]).join(code(i));
  }
  return out;
}

export function expandUserAgent(stored: string): string {
  return stored.replace(CODES, (c) => FRAGMENTS[c.charCodeAt(0) - 1] ?? '');
}
