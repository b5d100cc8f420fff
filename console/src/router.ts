import { useEffect, useState } from 'preact/hooks';

export const BASE = '/console';

export type Route = 'overview' | 'sessions' | 'users' | 'audit' | 'me' | 'not-found';

const ROUTES: Record<string, Route> = {
  '': 'overview',
  '/': 'overview',
  '/sessions': 'sessions',
  '/users': 'users',
  '/audit': 'audit',
  '/me': 'me',
};

export const PATHS: Record<Exclude<Route, 'not-found'>, string> = {
  overview: `${BASE}/`,
  sessions: `${BASE}/sessions`,
  users: `${BASE}/users`,
  audit: `${BASE}/audit`,
  me: `${BASE}/me`,
};

export function routeOf(pathname: string): Route {
  if (!pathname.startsWith(BASE)) return 'not-found';
  const rest = pathname.slice(BASE.length).replace(/\/+$/, '/');
  return ROUTES[rest === '/' ? rest : rest.replace(/\/$/, '')] ?? 'not-found';
}

const listeners = new Set<() => void>();

/** Goes to another page of the console without loading it again (the server answers index.html). */
export function navigate(href: string, replace = false): void {
  if (replace) history.replaceState(null, '', href);
  else history.pushState(null, '', href);
  listeners.forEach((listener) => listener());
}

/** The current location; re-renders on navigate() and on the browser's back and forward. */
export function useLocation(): URL {
  const [url, setUrl] = useState(() => new URL(location.href));
  useEffect(() => {
    const update = (): void => setUrl(new URL(location.href));
    listeners.add(update);
    window.addEventListener('popstate', update);
    return () => {
      listeners.delete(update);
      window.removeEventListener('popstate', update);
    };
  }, []);
  return url;
}

/** Keeps a page's filters in its address (so a filtered view can be reloaded or shared). */
export function setQuery(values: Record<string, string | undefined>): void {
  const url = new URL(location.href);
  for (const [key, value] of Object.entries(values)) {
    if (value) url.searchParams.set(key, value);
    else url.searchParams.delete(key);
  }
  navigate(url.pathname + url.search, true);
}

/** A plain click follows the link in the app; middle-click, ctrl/cmd/shift-click open it as the browser would. */
export function followLink(event: MouseEvent): void {
  const anchor = event.currentTarget as HTMLAnchorElement;
  if (
    event.defaultPrevented ||
    event.button !== 0 ||
    event.metaKey ||
    event.ctrlKey ||
    event.shiftKey ||
    event.altKey
  ) {
    return;
  }
  if (anchor.target && anchor.target !== '_self') return;
  event.preventDefault();
  navigate(anchor.pathname + anchor.search);
}
