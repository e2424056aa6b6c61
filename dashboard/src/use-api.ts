import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from './api.ts';

export interface Loaded<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** Loads again now. */
  reload: () => void;
}

/**
 * Runs an API call when `key` changes (a string naming everything the call depends on: page parameters, the
 * range), and every `refreshMs` if given. An answer that arrives after a newer call started is dropped, so a
 * slow answer never overwrites a newer view; while refreshing, the previous data stays on screen.
 */
export function useApi<T>(load: () => Promise<T>, key: string, refreshMs?: number): Loaded<T> {
  const [state, setState] = useState<{ data?: T; error?: ApiError; loading: boolean }>({ loading: true });
  const [tick, setTick] = useState(0);
  const latest = useRef(0);
  const loader = useRef(load);
  loader.current = load;

  useEffect(() => {
    const call = ++latest.current;
    setState((previous) => ({ ...previous, loading: true }));
    loader
      .current()
      .then((data) => {
        if (call === latest.current) setState({ data, loading: false });
      })
      .catch((error: unknown) => {
        if (call !== latest.current) return;
        const failure =
          error instanceof ApiError
            ? error
            : new ApiError(0, 'CLIENT', (error as Error)?.message ?? String(error));
        setState((previous) => ({ data: previous.data, error: failure, loading: false }));
      });
  }, [key, tick]);

  useEffect(() => {
    if (!refreshMs) return;
    const timer = setInterval(() => setTick((n) => n + 1), refreshMs);
    return () => clearInterval(timer);
  }, [refreshMs]);

  return { ...state, data: state.data, error: state.error, reload: () => setTick((n) => n + 1) } as Loaded<T>;
}
