import { useEffect, useRef } from 'preact/hooks';

/**
 * Runs `load` now and then every `intervalMs` after the previous run ended (never two at once),
 * paused while the tab is hidden and run again as soon as it is shown.
 */
export function usePolling(load: () => Promise<void>, intervalMs: number): void {
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    let timer: number | undefined;
    let running = false;
    let stopped = false;
    const run = async (): Promise<void> => {
      window.clearTimeout(timer);
      timer = undefined;
      if (running || stopped || document.hidden) return;
      running = true;
      try {
        await latest.current();
      } finally {
        running = false;
        if (!stopped && !document.hidden) timer = window.setTimeout(() => void run(), intervalMs);
      }
    };
    const onVisibility = (): void => {
      if (document.hidden) {
        window.clearTimeout(timer);
        timer = undefined;
      } else void run();
    };
    document.addEventListener('visibilitychange', onVisibility);
    void run();
    return () => {
      stopped = true;
      window.clearTimeout(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [intervalMs]);
}
