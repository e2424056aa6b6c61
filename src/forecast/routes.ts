import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import {
  type ForecastAnswer,
  ForecastInput,
  type Forecasts,
  type StaffingAnswer,
  StaffingInput,
} from './forecasts.ts';

const instant = (description?: string) =>
  Type.String({ format: 'date-time', ...(description && { description }) });
const share = (description: string) => Type.Number({ description });

const ErrorSchema = Type.Object({
  mae: Type.Number({ description: 'Mean absolute error, in arrivals per interval' }),
  wape: Type.Union([Type.Number(), Type.Null()], {
    description: 'Σ|forecast − actual| ÷ Σ actual, as a share (0.12 is 12 %); null when nothing arrived',
  }),
  mape: Type.Union([Type.Number(), Type.Null()], {
    description:
      'Mean of |forecast − actual| ÷ actual over the intervals where something arrived, as a share',
  }),
  actualArrivals: Type.Number(),
  forecastArrivals: Type.Number(),
  intervals: Type.Integer({ description: 'The weekday × interval slots compared' }),
});

const ForecastMetaSchema = {
  timeZone: Type.String(),
  intervalMinutes: Type.Integer(),
  weeks: Type.Integer({ description: 'N: the weeks each forecast averages' }),
  backtestWeeks: Type.Integer({ description: 'K: the weeks held out' }),
  history: Type.Object(
    {
      from: instant(),
      to: instant('Exclusive: the forecast start, or now if earlier, on the interval grid'),
    },
    { description: 'The history read through the query API' },
  ),
  backtest: Type.Object({
    weeks: Type.Array(Type.Object({ from: instant(), to: instant(), ...ErrorSchema.properties }), {
      description: 'Each held-out week, forecast from the N weeks before it; the most recent first',
    }),
    overall: Type.Union([ErrorSchema, Type.Null()], {
      description: 'Every held-out interval together; null when backtestWeeks is 0',
    }),
  }),
};

const ForecastAnswerSchema = Type.Object({
  ...ForecastMetaSchema,
  intervals: Type.Array(
    Type.Object({ start: instant(), end: instant(), arrivals: Type.Number({ description: 'Forecast' }) }),
  ),
});

const StaffingAnswerSchema = Type.Object({
  intervalMinutes: Type.Integer(),
  intervals: Type.Array(
    Type.Object({
      start: instant(),
      end: instant(),
      arrivals: Type.Number({ description: 'Given, or forecast' }),
      trafficErlangs: Type.Number({ description: 'arrivals × ahtSeconds ÷ interval seconds' }),
      agents: Type.Integer({ description: 'The fewest agents meeting the targets (0 with no arrivals)' }),
      probabilityOfWaiting: share('Erlang C with that many agents'),
      serviceLevel: share('The share answered within targetAnswerSeconds'),
      asaSeconds: Type.Number({ description: 'Average speed of answer over all arrivals' }),
      occupancy: share('trafficErlangs ÷ agents'),
    }),
  ),
  forecast: Type.Optional(
    Type.Object(ForecastMetaSchema, { description: 'Where the arrivals came from, when forecast' }),
  ),
});

const iso = (date: Date) => date.toISOString();

function showForecastMeta(answer: Omit<ForecastAnswer, 'intervals'>) {
  return {
    timeZone: answer.timeZone,
    intervalMinutes: answer.intervalMinutes,
    weeks: answer.weeks,
    backtestWeeks: answer.backtestWeeks,
    history: { from: iso(answer.history.from), to: iso(answer.history.to) },
    backtest: {
      weeks: answer.backtest.weeks.map((week) => ({ ...week, from: iso(week.from), to: iso(week.to) })),
      overall: answer.backtest.overall,
    },
  };
}

const showStaffing = (answer: StaffingAnswer) => ({
  intervalMinutes: answer.intervalMinutes,
  intervals: answer.intervals.map((interval) => ({
    ...interval,
    start: iso(interval.start),
    end: iso(interval.end),
  })),
  ...(answer.forecast && { forecast: showForecastMeta(answer.forecast) }),
});

/** `POST /api/v1/forecast` and `POST /api/v1/staffing` (analytics:read). */
export function forecastRoutes(forecasts: Forecasts) {
  return async (app: FastifyInstance) => {
    const read = { config: { privilege: 'analytics:read' as const } };
    const tags = ['Forecast'];

    app.post<{ Body: ForecastInput }>(
      '/api/v1/forecast',
      {
        ...read,
        schema: {
          tags,
          summary:
            'Arrivals per interval forecast from history by weekday × time of day, with its backtest error',
          description:
            'Each interval of [from, to) gets the mean of the same weekday and time of day over the last `weeks` ' +
            'weeks (in `timeZone`), optionally scaled by the trend of the weekly totals. History is counted by ' +
            'the query API (`measure`, `filters`). Each of the last `backtestWeeks` weeks is held out and ' +
            'forecast from the weeks before it: its MAE, WAPE and MAPE say how far off the method has been.',
          body: ForecastInput,
          response: { 200: ForecastAnswerSchema },
        },
      },
      async (request) => {
        const answer = await forecasts.forecast(request.org, request.body);
        return {
          ...showForecastMeta(answer),
          intervals: answer.intervals.map((i) => ({
            start: iso(i.start),
            end: iso(i.end),
            arrivals: i.arrivals,
          })),
        };
      },
    );

    app.post<{ Body: StaffingInput }>(
      '/api/v1/staffing',
      {
        ...read,
        schema: {
          tags,
          summary: 'Agents needed per interval for a service-level target (Erlang C)',
          description:
            'For arrivals given per interval (`intervals`) or forecast as `POST /api/v1/forecast` does (the same ' +
            'fields), the fewest agents per interval answering `targetServiceLevel` of arrivals within ' +
            '`targetAnswerSeconds` at `ahtSeconds` per arrival, and busy at most `maxOccupancy`; with the service ' +
            'level, average speed of answer and occupancy they achieve.',
          body: StaffingInput,
          response: { 200: StaffingAnswerSchema },
        },
      },
      async (request) => showStaffing(await forecasts.staffing(request.org, request.body)),
    );
  };
}
