import { type Static, Type } from '@sinclair/typebox';
import { invalid, type Violation } from '../core/errors.ts';
import { oneOf } from '../core/validation.ts';
import type { Insights } from '../query/insights.ts';
import { TIME } from '../query/outputs.ts';
import { agentsNeeded, type Staffing } from './erlang.ts';
import { type ArrivalCount, type Forecast, forecastArrivals, localGrid, WEEK_MS } from './seasonal.ts';

/**
 * `POST /api/v1/forecast` and `/api/v1/staffing`: arrivals per interval forecast from the organization's
 * history, read through the query API (so every count is one a user can fetch with the same spec), and the
 * agents each interval needs by Erlang C.
 */

export const INTERVAL_MINUTES = [15, 30, 60] as const;
/** The count measures of the query API that can stand for arrivals. */
export const ARRIVAL_MEASURES = ['conversations', 'sessions', 'count'] as const;
const MAX_RANGE_DAYS = 31;
/** Erlang C's search costs one step per agent: past this, an interval is refused rather than searched. */
const MAX_TRAFFIC_ERLANGS = 2_000;

const forecastFields = {
  timeZone: Type.String({
    minLength: 1,
    maxLength: 64,
    description: 'The IANA time zone whose weekdays and times of day are the seasons; default UTC',
  }),
  intervalMinutes: Type.Unsafe<(typeof INTERVAL_MINUTES)[number]>({
    type: 'integer',
    enum: [...INTERVAL_MINUTES],
    description: 'The length of an interval; default 30',
  }),
  weeks: Type.Integer({
    minimum: 1,
    maximum: 26,
    description: 'N: the weeks of history each forecast averages (1: last week again); default 3',
  }),
  backtestWeeks: Type.Integer({
    minimum: 0,
    maximum: 12,
    description: 'K: the last weeks held out one by one and forecast from the N weeks before each; default 1',
  }),
  trend: Type.Boolean({
    description: 'Scale by the least-squares line through the N weekly totals; default false',
  }),
  from: Type.String({ format: 'date-time', description: 'The first instant to forecast' }),
  to: Type.String({
    format: 'date-time',
    description: `Exclusive; at most ${MAX_RANGE_DAYS} days after from`,
  }),
  measure: oneOf(ARRIVAL_MEASURES, {
    description:
      'What counts as an arrival: `conversations` (queued, the default), `sessions` (started, transfers ' +
      'included) or `count` (events, with filters saying which)',
  }),
  filters: Type.Array(Type.Unknown(), {
    maxItems: 50,
    description: 'Query API filters (`{field, op, value}`, `{and}`, `{or}`): which arrivals count',
  }),
};

export const ForecastInput = Type.Object(
  {
    ...forecastFields,
    timeZone: Type.Optional(forecastFields.timeZone),
    intervalMinutes: Type.Optional(forecastFields.intervalMinutes),
    weeks: Type.Optional(forecastFields.weeks),
    backtestWeeks: Type.Optional(forecastFields.backtestWeeks),
    trend: Type.Optional(forecastFields.trend),
    measure: Type.Optional(forecastFields.measure),
    filters: Type.Optional(forecastFields.filters),
  },
  { additionalProperties: false },
);
export type ForecastInput = Static<typeof ForecastInput>;

export const StaffingInput = Type.Object(
  {
    intervals: Type.Optional(
      Type.Array(
        Type.Object(
          {
            start: Type.String({ format: 'date-time' }),
            arrivals: Type.Number({ minimum: 0, maximum: 1_000_000 }),
          },
          { additionalProperties: false },
        ),
        {
          minItems: 1,
          maxItems: 3000,
          description: 'Arrivals per interval, given: instead of forecasting them (from, to and the rest)',
        },
      ),
    ),
    ...Type.Partial(ForecastInput).properties,
    ahtSeconds: Type.Number({
      exclusiveMinimum: 0,
      maximum: 86_400,
      description: 'Average handle time: talk, hold and wrap-up',
    }),
    targetServiceLevel: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 0.999,
        description: 'The share of arrivals to answer within targetAnswerSeconds; default 0.8',
      }),
    ),
    targetAnswerSeconds: Type.Optional(
      Type.Number({ minimum: 0, maximum: 86_400, description: 'Default 20' }),
    ),
    maxOccupancy: Type.Optional(
      Type.Number({
        // Below one half, staffing costs more than twice the traffic: a cap that low is a mistake, and its
        // search (one step per agent) is bounded with it.
        minimum: 0.5,
        maximum: 1,
        description:
          'The busiest agents may be (0.5–1); more agents than the service level needs if it binds',
      }),
    ),
  },
  { additionalProperties: false },
);
export type StaffingInput = Static<typeof StaffingInput>;

export interface ForecastAnswer extends Forecast {
  timeZone: string;
  intervalMinutes: number;
  weeks: number;
  backtestWeeks: number;
  /** The history read: [from, to), the query API's range. */
  history: { from: Date; to: Date };
}

export interface StaffingAnswer {
  intervalMinutes: number;
  intervals: ({ start: Date; end: Date; arrivals: number } & Staffing)[];
  /** The forecast the arrivals came from, when they were not given. */
  forecast?: Omit<ForecastAnswer, 'intervals'>;
}

const timeZoneRefusal = (timeZone: string): Violation => ({
  field: 'timeZone',
  rule: 'timeZone',
  message: 'must be an IANA time zone, such as Europe/Paris or UTC',
  received: timeZone,
});

function rangeViolations(from: Date, to: Date): Violation[] {
  if (from >= to) return [{ field: 'from', rule: 'range', message: 'must be before "to"', received: from }];
  if (to.getTime() - from.getTime() > MAX_RANGE_DAYS * 86_400_000) {
    return [
      {
        field: 'to',
        rule: 'range',
        message: `must be at most ${MAX_RANGE_DAYS} days after "from"`,
        limit: MAX_RANGE_DAYS,
        received: to,
      },
    ];
  }
  return [];
}

export class Forecasts {
  constructor(private readonly insights: Insights) {}

  async forecast(org: string, input: ForecastInput, now = new Date()): Promise<ForecastAnswer> {
    const timeZone = input.timeZone ?? 'UTC';
    const intervalMinutes = input.intervalMinutes ?? 30;
    const weeks = input.weeks ?? 3;
    const backtestWeeks = input.backtestWeeks ?? 1;
    const from = new Date(input.from);
    const to = new Date(input.to);
    const violations = rangeViolations(from, to);
    let grid: ReturnType<typeof localGrid> | undefined;
    try {
      grid = localGrid(timeZone, intervalMinutes);
    } catch {
      violations.push(timeZoneRefusal(timeZone));
    }
    if (!grid || violations.length > 0) throw invalid(violations);

    // History ends where the forecast starts, or now if that is earlier: the interval under way is left out.
    const historyEnd = grid.floor(from < now ? from : now);
    const historyFrom = new Date(historyEnd.getTime() - (weeks + backtestWeeks) * WEEK_MS);
    const history = await this.history(org, input, timeZone, intervalMinutes, historyFrom, historyEnd, now);
    const forecast = forecastArrivals(history, {
      timeZone,
      intervalMinutes,
      historyEnd,
      weeks,
      backtestWeeks,
      trend: input.trend ?? false,
      from,
      to,
    });
    return {
      timeZone,
      intervalMinutes,
      weeks,
      backtestWeeks,
      history: { from: historyFrom, to: historyEnd },
      ...forecast,
    };
  }

  async staffing(org: string, input: StaffingInput, now = new Date()): Promise<StaffingAnswer> {
    const { intervals: given, ahtSeconds } = input;
    const intervalMinutes = input.intervalMinutes ?? 30;
    const intervalSeconds = intervalMinutes * 60;
    let arrivals: { start: Date; end: Date; arrivals: number }[];
    let forecast: ForecastAnswer | undefined;
    if (given) {
      const misplaced = (
        ['timeZone', 'from', 'to', 'weeks', 'backtestWeeks', 'trend', 'measure', 'filters'] as const
      )
        .filter((field) => input[field] !== undefined)
        .map<Violation>((field) => ({
          field,
          rule: 'unknownField',
          message: 'forecasts the arrivals, which `intervals` gives: send one or the other',
        }));
      if (misplaced.length > 0) throw invalid(misplaced);
      arrivals = given.map((i) => {
        const start = new Date(i.start);
        return { start, end: new Date(start.getTime() + intervalSeconds * 1000), arrivals: i.arrivals };
      });
    } else {
      const missing = (['from', 'to'] as const)
        .filter((field) => input[field] === undefined)
        .map<Violation>((field) => ({
          field,
          rule: 'required',
          message: 'is required to forecast the arrivals, unless `intervals` gives them',
        }));
      if (missing.length > 0) throw invalid(missing);
      const {
        intervals: _i,
        ahtSeconds: _a,
        targetServiceLevel: _t,
        targetAnswerSeconds: _s,
        maxOccupancy: _o,
        ...rest
      } = input;
      forecast = await this.forecast(
        org,
        { ...rest, from: input.from as string, to: input.to as string },
        now,
      );
      arrivals = forecast.intervals;
    }

    const busiest = arrivals.findIndex(
      (interval) => (interval.arrivals * ahtSeconds) / intervalSeconds > MAX_TRAFFIC_ERLANGS,
    );
    if (busiest >= 0) {
      throw invalid([
        {
          field: given ? `intervals[${busiest}].arrivals` : 'ahtSeconds',
          rule: 'range',
          message: `brings more than ${MAX_TRAFFIC_ERLANGS} Erlangs of traffic (arrivals × ahtSeconds ÷ interval seconds)`,
          limit: MAX_TRAFFIC_ERLANGS,
          received: given ? arrivals[busiest]?.arrivals : ahtSeconds,
        },
      ]);
    }

    const target = {
      ahtSeconds,
      intervalSeconds,
      targetServiceLevel: input.targetServiceLevel ?? 0.8,
      targetAnswerSeconds: input.targetAnswerSeconds ?? 20,
      ...(input.maxOccupancy !== undefined && { maxOccupancy: input.maxOccupancy }),
    };
    const { intervals: _intervals, ...forecastMeta } = forecast ?? { intervals: undefined };
    return {
      intervalMinutes,
      intervals: arrivals.map((interval) => ({ ...interval, ...agentsNeeded(interval.arrivals, target) })),
      ...(forecast && { forecast: forecastMeta as Omit<ForecastAnswer, 'intervals'> }),
    };
  }

  /**
   * The arrivals of [from, to) by minute (by hour for hourly intervals), one query API call per week so that no
   * answer nears the query's row limit (a week has 10,080 minutes).
   */
  private async history(
    org: string,
    input: ForecastInput,
    timeZone: string,
    intervalMinutes: number,
    from: Date,
    to: Date,
    now: Date,
  ): Promise<ArrivalCount[]> {
    const measure = input.measure ?? 'conversations';
    const counts: ArrivalCount[] = [];
    for (let start = from.getTime(); start < to.getTime(); start += WEEK_MS) {
      const { rows } = await this.insights.run(
        org,
        {
          measures: [measure],
          ...(input.filters && input.filters.length > 0 && { filters: input.filters }),
          from: new Date(start).toISOString(),
          to: new Date(Math.min(start + WEEK_MS, to.getTime())).toISOString(),
          granularity: intervalMinutes === 60 ? 'hour' : 'minute',
          timeZone,
          limit: 100_000,
        },
        now,
      );
      for (const row of rows) {
        const arrivals = Number(row[measure] ?? 0);
        if (arrivals > 0) counts.push({ start: row[TIME] as Date, arrivals });
      }
    }
    return counts;
  }
}
