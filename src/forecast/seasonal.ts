/**
 * Arrivals forecast by weekday × interval of the day, in a time zone: each interval of the future is given the
 * mean of the same weekday and interval over the last N weeks (N = 1 is the seasonal naive forecast: last
 * week again), optionally scaled by the trend of the weekly totals. Its error is measured by backtesting: each of
 * the last K weeks is held out and forecast from the N weeks before it, as the future is from the last N.
 */

export const WEEK_MS = 7 * 86_400_000;
const WEEKDAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];

/** Arrivals counted from `start` (any instant: minute buckets are summed into their interval). */
export interface ArrivalCount {
  start: Date;
  arrivals: number;
}

export interface ForecastOptions {
  timeZone: string;
  intervalMinutes: number;
  /** History ends here (exclusive), on the interval grid: its weeks are the weeks + backtestWeeks before it. */
  historyEnd: Date;
  /** N: how many weeks each forecast averages. */
  weeks: number;
  /** K: how many of the last weeks are held out and forecast, one by one, to measure the error. */
  backtestWeeks: number;
  /** Scale by the least-squares line through the N weekly totals, taken at the forecast week. */
  trend: boolean;
  /** The range to forecast: the intervals from the one holding `from` to the one holding the last instant before `to`. */
  from: Date;
  to: Date;
}

export interface ForecastInterval {
  start: Date;
  end: Date;
  arrivals: number;
}

/** A forecast's error over a set of intervals. MAPE leaves out intervals with no arrivals (it divides by them). */
export interface ForecastError {
  /** Mean absolute error, in arrivals per interval. */
  mae: number;
  /** Σ|forecast − actual| ÷ Σ actual; null when nothing arrived. */
  wape: number | null;
  /** Mean of |forecast − actual| ÷ actual over the intervals where something arrived; null when none did. */
  mape: number | null;
  actualArrivals: number;
  forecastArrivals: number;
  intervals: number;
}

export interface Backtest {
  /** The held-out weeks, the most recent first. */
  weeks: (ForecastError & { from: Date; to: Date })[];
  /** Every held-out interval together; null without a held-out week. */
  overall: ForecastError | null;
}

export interface Forecast {
  intervals: ForecastInterval[];
  backtest: Backtest;
}

/** A time zone's clock: the weekday × interval-of-day slot of an instant, and the start of its interval. */
export interface LocalGrid {
  slotsPerWeek: number;
  slot(instant: Date): number;
  /** The start of the interval holding the instant, on the local grid (a +05:30 zone's hours start at :30 UTC). */
  floor(instant: Date): Date;
}

/** Throws RangeError for a zone that is not an IANA time zone. */
export function localGrid(timeZone: string, intervalMinutes: number): LocalGrid {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone,
    weekday: 'short',
    hour: 'numeric',
    minute: 'numeric',
    hourCycle: 'h23',
  });
  const clock = (instant: Date) => {
    const parts = Object.fromEntries(format.formatToParts(instant).map((p) => [p.type, p.value]));
    return {
      weekday: WEEKDAYS.indexOf(parts.weekday as string),
      minute: Number(parts.hour) * 60 + Number(parts.minute),
    };
  };
  const slotsPerDay = Math.ceil(1440 / intervalMinutes);
  return {
    slotsPerWeek: 7 * slotsPerDay,
    slot(instant) {
      const { weekday, minute } = clock(instant);
      return weekday * slotsPerDay + Math.floor(minute / intervalMinutes);
    },
    floor(instant) {
      const { minute } = clock(instant);
      // Seconds are the same in every zone in use today: only hours and minutes are shifted.
      const into = (minute % intervalMinutes) * 60_000 + (instant.getTime() % 60_000);
      return new Date(instant.getTime() - into);
    },
  };
}

/**
 * History as one profile per week, the most recent (week 0: [historyEnd − 7 days, historyEnd)) first: arrivals
 * by slot. A week across a change of clocks has one slot of the day fewer, or the repeated hour's arrivals
 * summed into one slot.
 */
function weekProfiles(history: ArrivalCount[], grid: LocalGrid, end: number, weeks: number): Float64Array[] {
  const profiles = Array.from({ length: weeks }, () => new Float64Array(grid.slotsPerWeek));
  for (const { start, arrivals } of history) {
    const age = end - start.getTime();
    if (age <= 0 || age > weeks * WEEK_MS) continue;
    const week = profiles[Math.floor((age - 1) / WEEK_MS)] as Float64Array;
    const slot = grid.slot(start);
    week[slot] = (week[slot] as number) + arrivals;
  }
  return profiles;
}

/**
 * The forecast from the given weeks (indices into the profiles) for a week at `position` (in weeks from the
 * history's end; week w of history is at −w − ½): the slot's mean, times the trend factor.
 */
function seasonalForecast(profiles: Float64Array[], weeks: number[], trend: boolean, position: number) {
  const slots = (profiles[0] as Float64Array).length;
  const mean = new Float64Array(slots);
  for (const w of weeks) {
    const profile = profiles[w] as Float64Array;
    for (let s = 0; s < slots; s++) mean[s] = (mean[s] as number) + (profile[s] as number) / weeks.length;
  }
  const factor = trend ? trendFactor(profiles, weeks, position) : 1;
  return (slot: number) => (mean[slot] as number) * factor;
}

/**
 * The least-squares line through the weekly totals, at `position`, over their mean (never below 0): 1 when
 * there is no line to draw (one week) or nothing arrived.
 */
function trendFactor(profiles: Float64Array[], weeks: number[], position: number): number {
  if (weeks.length < 2) return 1;
  const points = weeks.map((w) => ({
    x: -w - 0.5,
    y: (profiles[w] as Float64Array).reduce((sum, v) => sum + v, 0),
  }));
  const meanX = points.reduce((s, p) => s + p.x, 0) / points.length;
  const meanY = points.reduce((s, p) => s + p.y, 0) / points.length;
  if (meanY <= 0) return 1;
  const sxy = points.reduce((s, p) => s + (p.x - meanX) * (p.y - meanY), 0);
  const sxx = points.reduce((s, p) => s + (p.x - meanX) ** 2, 0);
  const slope = sxy / sxx;
  return Math.max(0, meanY + slope * (position - meanX)) / meanY;
}

function errorOf(pairs: { forecast: number; actual: number }[]): ForecastError {
  let absolute = 0;
  let actualArrivals = 0;
  let forecastArrivals = 0;
  let percentSum = 0;
  let percentCount = 0;
  for (const { forecast, actual } of pairs) {
    const error = Math.abs(forecast - actual);
    absolute += error;
    actualArrivals += actual;
    forecastArrivals += forecast;
    if (actual > 0) {
      percentSum += error / actual;
      percentCount++;
    }
  }
  return {
    mae: pairs.length > 0 ? absolute / pairs.length : 0,
    wape: actualArrivals > 0 ? absolute / actualArrivals : null,
    mape: percentCount > 0 ? percentSum / percentCount : null,
    actualArrivals,
    forecastArrivals,
    intervals: pairs.length,
  };
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

/**
 * The forecast per interval of [from, to), and the backtest of the same method. `history` must cover the
 * weeks + backtestWeeks weeks before historyEnd; an interval with no count had no arrivals.
 */
export function forecastArrivals(history: ArrivalCount[], options: ForecastOptions): Forecast {
  const { weeks, backtestWeeks, trend, intervalMinutes } = options;
  const grid = localGrid(options.timeZone, intervalMinutes);
  const end = options.historyEnd.getTime();
  const profiles = weekProfiles(history, grid, end, weeks + backtestWeeks);

  const step = intervalMinutes * 60_000;
  const intervals: ForecastInterval[] = [];
  const forecasts = new Map<number, (slot: number) => number>();
  for (let t = grid.floor(options.from).getTime(); t < options.to.getTime(); t += step) {
    const start = new Date(t);
    const week = Math.floor((t - end) / WEEK_MS);
    let forecast = forecasts.get(week);
    if (!forecast) {
      forecast = seasonalForecast(profiles, range(0, weeks), trend, week + 0.5);
      forecasts.set(week, forecast);
    }
    intervals.push({ start, end: new Date(t + step), arrivals: forecast(grid.slot(start)) });
  }

  const heldOut = range(0, backtestWeeks).map((w) => {
    const forecast = seasonalForecast(profiles, range(w + 1, weeks), trend, -w - 0.5);
    const actual = profiles[w] as Float64Array;
    const pairs = range(0, grid.slotsPerWeek).map((s) => ({
      forecast: forecast(s),
      actual: actual[s] as number,
    }));
    return { pairs, from: new Date(end - (w + 1) * WEEK_MS), to: new Date(end - w * WEEK_MS) };
  });
  return {
    intervals,
    backtest: {
      weeks: heldOut.map(({ pairs, from, to }) => ({ from, to, ...errorOf(pairs) })),
      overall: heldOut.length > 0 ? errorOf(heldOut.flatMap((w) => w.pairs)) : null,
    },
  };
}
