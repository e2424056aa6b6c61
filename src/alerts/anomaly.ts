/**
 * The anomaly flag for volume measures: is this window's value far outside the recent mean and spread?
 *
 * Method (documented in the README, "Breach alerts"):
 * 1. History: the `HISTORY_WINDOWS` windows of the same length just before the current one, oldest first.
 *    Windows before the first one that holds any event in scope are not history (the data, or the scope,
 *    did not exist yet); what is left must be at least `minHistory` windows, or there is no verdict.
 * 2. mean m and sample standard deviation s of the history.
 * 3. The spread is max(s, √m, 1): a count's own noise is about √m (Poisson), so a flat history does not
 *    make a tiny change look like a huge one, and an almost empty one does not flag a single event.
 * 4. z = (value − m) / spread; a spike when z > k, a dip when z < −k (k: the rule's `deviations`, 3).
 */

export const VOLUME_MEASURES = [
  'count',
  'distinctUsers',
  'distinctClients',
  'distinctVisits',
  'distinctSessions',
  'distinctConversations',
] as const;
/** Only `count` adds up across time buckets; a distinct count of two hours is not the sum of each hour's. */
export const ADDITIVE_MEASURES: readonly string[] = ['count'];

export const HISTORY_WINDOWS = 24;
export const ANOMALY_DEFAULTS = { deviations: 3, minHistory: 8 } as const;

export interface AnomalyOptions {
  /** How many spreads from the mean a value must lie to be flagged (k). */
  deviations: number;
  /** The fewest history windows (after leading empty ones are dropped) that give a verdict. */
  minHistory: number;
}

/** What a verdict was judged on: the history's mean and spread, and where the value lies against them. */
export interface AnomalyFigures {
  mean: number;
  stddev: number;
  /** max(stddev, √mean, 1): the spread z is measured in. */
  spread: number;
  z: number;
  deviations: number;
  historyWindows: number;
  /** The values flagged lie below `lower` or above `upper`. */
  lower: number;
  upper: number;
}

export type AnomalyVerdict =
  | { kind: 'insufficientHistory'; historyWindows: number; minHistory: number }
  | ({ kind: 'normal' | 'spike' | 'dip' } & AnomalyFigures);

/** Judges `value` against `history` (oldest first). Pure. */
export function detectAnomaly(
  value: number,
  history: readonly number[],
  options: AnomalyOptions = ANOMALY_DEFAULTS,
): AnomalyVerdict {
  const first = history.findIndex((v) => v !== 0);
  const used = first === -1 ? [] : history.slice(first);
  if (used.length < options.minHistory || used.length < 2) {
    return { kind: 'insufficientHistory', historyWindows: used.length, minHistory: options.minHistory };
  }
  const n = used.length;
  const mean = used.reduce((sum, v) => sum + v, 0) / n;
  const stddev = Math.sqrt(used.reduce((sum, v) => sum + (v - mean) ** 2, 0) / (n - 1));
  const spread = Math.max(stddev, Math.sqrt(mean), 1);
  const z = (value - mean) / spread;
  const k = options.deviations;
  return {
    kind: z > k ? 'spike' : z < -k ? 'dip' : 'normal',
    mean,
    stddev,
    spread,
    z,
    deviations: k,
    historyWindows: n,
    lower: mean - k * spread,
    upper: mean + k * spread,
  };
}

export type HistoryGranularity = 'minute' | 'hour' | 'day';
const UNIT_MINUTES: Record<HistoryGranularity, number> = { minute: 1, hour: 60, day: 1440 };

/**
 * The time buckets one query reads the history in: the largest of day, hour and minute (UTC) that divides
 * the window, so each history window is a whole number of buckets.
 */
export const historyGranularity = (windowMinutes: number): HistoryGranularity =>
  windowMinutes % 1440 === 0 ? 'day' : windowMinutes % 60 === 0 ? 'hour' : 'minute';

/**
 * Why an anomaly rule cannot be evaluated with this measure and window, or undefined when it can:
 * - only volume measures;
 * - a distinct count is not additive, so its window must be exactly one bucket (1, 60 or 1440 minutes);
 * - a window read in minute buckets is at most a day (24 windows × 1440 minutes stay within a query's limit).
 */
export function anomalyWindowProblem(measure: string, windowMinutes: number): string | undefined {
  const granularity = historyGranularity(windowMinutes);
  if (!ADDITIVE_MEASURES.includes(measure) && windowMinutes !== UNIT_MINUTES[granularity]) {
    return `a distinct count does not add up across time, so its anomaly window must be 1, 60 or 1440 minutes`;
  }
  if (granularity === 'minute' && windowMinutes > 1440) {
    return 'an anomaly window longer than a day must be whole hours';
  }
  return undefined;
}

export interface HistoryPlan {
  granularity: HistoryGranularity;
  /** The history's range: HISTORY_WINDOWS windows ending at the bucket boundary at or before the current window. */
  from: Date;
  to: Date;
  windowMs: number;
  windows: number;
}

/** Where the history of a window ending at `now` lies, aligned to its buckets (UTC). Pure. */
export function historyPlan(now: Date, windowMinutes: number, windows = HISTORY_WINDOWS): HistoryPlan {
  const granularity = historyGranularity(windowMinutes);
  const unitMs = UNIT_MINUTES[granularity] * 60_000;
  const windowMs = windowMinutes * 60_000;
  const to = Math.floor((now.getTime() - windowMs) / unitMs) * unitMs;
  return { granularity, from: new Date(to - windows * windowMs), to: new Date(to), windowMs, windows };
}

/** Each history window's value (oldest first): the sum of the buckets it holds; a missing bucket is 0. Pure. */
export function foldBuckets(plan: HistoryPlan, buckets: readonly { time: Date; value: number }[]): number[] {
  const sums = new Array<number>(plan.windows).fill(0);
  for (const { time, value } of buckets) {
    const index = Math.floor((time.getTime() - plan.from.getTime()) / plan.windowMs);
    if (index >= 0 && index < plan.windows) sums[index] = (sums[index] ?? 0) + value;
  }
  return sums;
}
