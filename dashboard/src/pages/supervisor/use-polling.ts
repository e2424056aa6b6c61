import { useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  data: T | undefined;
  /** When the data on screen was asked for. */
  at: Date | undefined;
  loading: boolean;
}

/**
 * Calls `load(now)` at once, then again `everyMs` after each answer (not on a fixed clock: a slow answer is
 * never overtaken by the next call, so the page always moves on), and again at once when `key` changes.
 */
export function usePolling<T>(load: (now: Date) => Promise<T>, key: string, everyMs: number): Polled<T> {
  const [state, setState] = useState<Polled<T>>({ data: undefined, at: undefined, loading: true });
  const loader = useRef(load);
  loader.current = load;

  useEffect(() => {
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    setState((previous) => ({ ...previous, loading: true }));
    const round = async () => {
      // Whole seconds, so the instant shown on the page (data-now) is the one every query used.
      const now = new Date(Math.floor(Date.now() / 1000) * 1000);
      const data = await loader.current(now);
      if (stopped) return;
      setState({ data, at: now, loading: false });
      timer = setTimeout(round, everyMs);
    };
    void round();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, [key, everyMs]);

  return state;
}

/** Each call's answer or error: one failing section does not blank the others. */
export type Settled<K extends string, T> = { [Name in K]?: { value?: T; error?: unknown } };

export async function settleAll<K extends string, T>(
  calls: Record<K, () => Promise<T>>,
): Promise<Settled<K, T>> {
  const names = Object.keys(calls) as K[];
  const results = await Promise.allSettled(names.map((name) => calls[name]()));
  const out: Settled<K, T> = {};
  names.forEach((name, index) => {
    const result = results[index];
    out[name] = result?.status === 'fulfilled' ? { value: result.value } : { error: result?.reason };
  });
  return out;
}

/** The answers that came, by name: what the pages' number functions read. */
export function settledValues<K extends string, T>(
  settled: Settled<K, T> | undefined,
): Partial<Record<K, T>> {
  const out: Partial<Record<K, T>> = {};
  for (const [name, entry] of Object.entries(settled ?? {}) as [K, { value?: T } | undefined][]) {
    if (entry?.value) out[name] = entry.value;
  }
  return out;
}

/**
 * A Section's state when its calls were loaded together: loading until the first answer, the first error
 * among its own calls, and a retry that loads them all again.
 */
export function sectionState<K extends string, T>(
  loaded: { data: Settled<K, T> | undefined; loading: boolean; reload: () => void },
  ...names: K[]
): { loading: boolean; error: unknown; retry: () => void } {
  let error: unknown;
  for (const name of names) error ??= loaded.data?.[name]?.error;
  return { loading: loaded.loading && !loaded.data, error, retry: loaded.reload };
}
