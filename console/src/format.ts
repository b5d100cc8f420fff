import { useEffect, useState } from 'preact/hooks';

const exact = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
const minute = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });
const clock = new Intl.DateTimeFormat(undefined, { timeStyle: 'medium' });
const relative = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });
const count = new Intl.NumberFormat();

export function formatExact(iso: string | Date): string {
  return exact.format(typeof iso === 'string' ? new Date(iso) : iso);
}

export function formatMinute(iso: string): string {
  return minute.format(new Date(iso));
}

export function formatClock(date: Date): string {
  return clock.format(date);
}

export function formatCount(n: number): string {
  return count.format(n);
}

const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['year', 365 * 24 * 3600],
  ['month', 30 * 24 * 3600],
  ['day', 24 * 3600],
  ['hour', 3600],
  ['minute', 60],
];

/** "3 minutes ago", "in 2 hours", "now", in the browser's language. */
export function formatRelative(iso: string, now: number): string {
  const seconds = Math.round((Date.parse(iso) - now) / 1000);
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return relative.format(Math.trunc(seconds / size), unit);
  }
  if (Math.abs(seconds) < 10) return relative.format(0, 'second');
  return relative.format(seconds, 'second');
}

const tickers = new Set<(now: number) => void>();
let timer: number | undefined;

/** The time now, updated every 15 s for every relative time on the page by one shared timer. */
export function useNow(): number {
  const [now, setNow] = useState(Date.now);
  useEffect(() => {
    tickers.add(setNow);
    timer ??= window.setInterval(() => {
      const at = Date.now();
      tickers.forEach((tick) => tick(at));
    }, 15_000);
    return () => {
      tickers.delete(setNow);
      if (tickers.size === 0) {
        window.clearInterval(timer);
        timer = undefined;
      }
    };
  }, []);
  return now;
}
