import type { Storage } from './storage.ts';

/** The reads a store answers (queries, aggregates, entity reads), by their method name. */
export const TIMED_READS = [
  'queryEvents',
  'aggregateEvents',
  'aggregateUnits',
  'find',
  'query',
  'countBy',
] as const satisfies readonly (keyof Storage)[];

export type TimedRead = (typeof TIMED_READS)[number];

/** How long one read took, in seconds, and whether it answered. */
export type ReadObserver = (operation: TimedRead, seconds: number, ok: boolean) => void;

/**
 * The same store, whose reads are timed and reported to `observe` (the server's metrics), whatever the
 * engine: the engines themselves know nothing of it. Every other member is the store's own.
 */
export function timedReads(storage: Storage, observe: ReadObserver): Storage {
  const reads = new Set<PropertyKey>(TIMED_READS);
  /** Each method once, bound to the store (and timed, for a read). */
  const methods = new Map<PropertyKey, unknown>();
  const method = (target: Storage, property: PropertyKey, value: (...args: unknown[]) => unknown) => {
    if (!reads.has(property)) return value.bind(target);
    return async (...args: unknown[]) => {
      const started = performance.now();
      let ok = false;
      try {
        const answer = await value.apply(target, args);
        ok = true;
        return answer;
      } finally {
        observe(property as TimedRead, (performance.now() - started) / 1000, ok);
      }
    };
  };
  return new Proxy(storage, {
    get(target, property) {
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      let found = methods.get(property);
      if (!found) {
        found = method(target, property, value as (...args: unknown[]) => unknown);
        methods.set(property, found);
      }
      return found;
    },
  });
}
