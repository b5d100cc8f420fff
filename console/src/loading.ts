import { useEffect, useRef, useState } from 'preact/hooks';
import { describeError } from './api';

/** What a page has loaded, and whether a request for it is out. */
export interface Loaded<T> {
  /** Undefined until the first answer: a failed reload keeps what was shown. */
  data: T | undefined;
  /** For a change the page made itself (a row ended or edited), without asking the service again. */
  setData: (update: (data: T | undefined) => T | undefined) => void;
  loading: boolean;
  error: string | undefined;
  reload: () => void;
}

/**
 * Loads on mount, again when a value in `deps` changes and on reload(). The answer to an older
 * request is dropped, so a slow answer never replaces a newer one.
 */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const latest = useRef(load);
  latest.current = load;
  const [data, setData] = useState<T>();
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string>();
  const [reloads, setReloads] = useState(0);

  useEffect(() => {
    let stale = false;
    setLoading(true);
    latest.current().then(
      (result) => {
        if (stale) return;
        setData(result);
        setError(undefined);
        setLoading(false);
      },
      (failure: unknown) => {
        if (stale) return;
        setError(describeError(failure));
        setLoading(false);
      },
    );
    return () => {
      stale = true;
    };
  }, [...deps, reloads]);

  return { data, setData, loading, error, reload: () => setReloads((n) => n + 1) };
}

/** One page of a cursor-paged admin route: its rows, and the cursor of the next page (null on the last). */
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PagedList<T> {
  items: T[] | undefined;
  setItems: (update: (items: T[]) => T[]) => void;
  /** 1 for the first page. */
  page: number;
  hasNext: boolean;
  loading: boolean;
  error: string | undefined;
  next: () => void;
  first: () => void;
  reload: () => void;
}

/**
 * A cursor-paged list: the page at the current cursor, loaded as useLoad loads. The cursors
 * walked so far are kept so First page can go back; new `filters` go back to the first page,
 * since a cursor only means something in the list it came from.
 */
export function usePagedList<T>(
  load: (cursor: string | undefined) => Promise<Page<T>>,
  filters: unknown[],
): PagedList<T> {
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => setCursors([undefined]), filters);

  const { data, setData, loading, error, reload } = useLoad(() => load(cursor), [...filters, cursor]);
  const nextCursor = data?.nextCursor ?? null;

  return {
    items: data?.items,
    setItems: (update) => setData((current) => current && { ...current, items: update(current.items) }),
    page: cursors.length,
    hasNext: nextCursor !== null,
    loading,
    error,
    next: () => {
      if (nextCursor) setCursors((list) => [...list, nextCursor]);
    },
    first: () => setCursors([undefined]),
    reload,
  };
}
