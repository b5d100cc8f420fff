import Bowser from 'bowser';
import ipaddr from 'ipaddr.js';
import { cleanUserAgent } from './user-agent';

/**
 * The client network of an address, as theft signals compare them: an IPv4 /24 or an IPv6 /48
 * (a mobile carrier or an office NAT moves a client within these; another ISP or country does
 * not). An address that does not parse is its own network.
 */
export function networkOf(ip: string): string {
  if (!ipaddr.isValid(ip)) return ip;
  const address = ipaddr.process(ip);
  if (address.kind() === 'ipv4') return `${(address as ipaddr.IPv4).octets.slice(0, 3).join('.')}.0/24`;
  const parts = (address as ipaddr.IPv6).parts.slice(0, 3).map((p) => p.toString(16));
  return `${parts.join(':')}::/48`;
}

/** The browser's name without its version ("Chrome 131.0" and "Chrome 132.0" are one family). */
export function browserFamily(browser: string): string {
  return browser.replace(/\s+[\d.]+$/, '');
}

export function browserOf(userAgent: string | undefined): string {
  const clean = cleanUserAgent(userAgent);
  return clean ? (Bowser.parse(clean).browser.name ?? '') : '';
}

export interface TheftSignal {
  network: { login: string; now: string };
  browser: { login: string; now: string };
}

/**
 * A session used from another client network AND another browser family than its login's: the
 * pattern of a cookie copied to another machine (a laptop that changes networks keeps its browser;
 * a second browser on the same network is the same person). Null otherwise. The common case (the
 * login's own address) costs one string comparison; the user agent is parsed only when the
 * network differs.
 */
export function theftSignal(
  login: { ip: string; browser: string },
  ip: string,
  userAgent: string | undefined,
): TheftSignal | null {
  if (ip === login.ip) return null;
  const [was, is] = [networkOf(login.ip), networkOf(ip)];
  if (was === is) return null;
  const [before, now] = [browserFamily(login.browser), browserOf(userAgent)];
  if (before === now) return null;
  return { network: { login: was, now: is }, browser: { login: before || 'unknown', now: now || 'unknown' } };
}
