import type { Params } from '../../url-state.ts';

/**
 * The Manager's forecast and staffing call: `POST /api/v1/staffing` (docs/api/forecast.md), which forecasts the
 * arrivals of the coming week from the history of the same weekdays and times of day (with the error of that
 * method on the last weeks held out) and answers the agents each interval needs by Erlang C. The targets and
 * the handle time are the URL's `sl` (percent), `answer` (seconds), `aht` (seconds) and `interval` (minutes),
 * edited on the page; without `aht`, the range's measured average handle time (or 300 s before it is known).
 */

export const FORECAST_DAYS = 7;
export const DEFAULTS = { sl: 80, answer: 20, aht: 300, interval: 30, weeks: 2, backtestWeeks: 2 } as const;

export interface StaffingInterval {
  start: string;
  end: string;
  arrivals: number;
  trafficErlangs: number;
  agents: number;
  probabilityOfWaiting: number;
  serviceLevel: number;
  asaSeconds: number;
  occupancy: number;
}

export interface ForecastError {
  mae: number;
  wape: number | null;
  mape: number | null;
  actualArrivals: number;
  forecastArrivals: number;
  intervals: number;
}

export interface StaffingAnswer {
  intervalMinutes: number;
  intervals: StaffingInterval[];
  forecast?: {
    timeZone: string;
    intervalMinutes: number;
    weeks: number;
    backtestWeeks: number;
    history: { from: string; to: string };
    backtest: { weeks: (ForecastError & { from: string; to: string })[]; overall: ForecastError | null };
  };
}

const numberParam = (params: Params, name: keyof typeof DEFAULTS, fallback: number) => {
  const value = Number(params[name]);
  return params[name] !== undefined && params[name] !== '' && Number.isFinite(value) ? value : fallback;
};

/** The staffing body for the URL's targets, forecasting the FORECAST_DAYS from the hour after `now`. */
export function staffingBody(params: Params, now: Date, timeZone: string, measuredAht: number | null) {
  const from = new Date(now);
  from.setUTCMinutes(0, 0, 0);
  from.setUTCHours(from.getUTCHours() + 1);
  const aht = numberParam(
    params,
    'aht',
    measuredAht && measuredAht > 0 ? Math.round(measuredAht) : DEFAULTS.aht,
  );
  return {
    from: from.toISOString(),
    to: new Date(from.getTime() + FORECAST_DAYS * 86_400_000).toISOString(),
    timeZone,
    intervalMinutes: numberParam(params, 'interval', DEFAULTS.interval),
    weeks: numberParam(params, 'weeks', DEFAULTS.weeks),
    backtestWeeks: numberParam(params, 'backtestWeeks', DEFAULTS.backtestWeeks),
    measure: 'conversations',
    ahtSeconds: aht,
    targetServiceLevel: numberParam(params, 'sl', DEFAULTS.sl) / 100,
    targetAnswerSeconds: numberParam(params, 'answer', DEFAULTS.answer),
  };
}

/** The numbers the forecast panel shows, by `data-kpi` name. */
export function staffingNumbers(answer: StaffingAnswer): Record<string, number | null> {
  const overall = answer.forecast?.backtest.overall ?? null;
  return {
    'forecast.arrivals': answer.intervals.reduce((sum, interval) => sum + interval.arrivals, 0),
    'staffing.peakAgents': answer.intervals.reduce((peak, interval) => Math.max(peak, interval.agents), 0),
    'forecast.mae': overall?.mae ?? null,
    'forecast.wape': overall?.wape === null || overall?.wape === undefined ? null : overall.wape * 100,
  };
}
