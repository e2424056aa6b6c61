import type { QueryAnswer, QueryFilter, QueryRow, QuerySpec } from '../../api.ts';
import { toNumber } from '../../format.ts';
import { filtersOf, granularityFor, type Params, range } from '../../url-state.ts';
import { SENTIMENT_FIELD } from '../supervisor/live.ts';

/**
 * The Manager page's queries and the numbers it shows, as pure functions, so a test can run the same queries
 * against the API and compare. `managerQueries(params, now)` (the page shows `now` as `data-now`) answers, for
 * the URL's range (`preset`/`from`/`to`) and `filters`:
 *
 * - `totals`: the headline KPIs over the range, each with `previous.<kpi>` (compare: previousPeriod);
 * - `trend`: the same by time bucket (granularityFor the range), against the previous period;
 * - `byChannel`, `byQueue`, `byProvider`: conversations and handle time by channel, queue and provider;
 * - `handleTime`: the handle-time distribution (min, p50, p90, p99, max, mean);
 * - `sentiment`: the KPIs by the conversation's sentiment score → how much each moves with it (`sentimentEffects`).
 *
 * The forecast and staffing sections call `POST /api/v1/forecast` and `POST /api/v1/staffing` (forecast.ts).
 * `managerNumbers(answers)` gives every `data-kpi` the page renders from queries, with its raw value.
 */

export type ManagerQuery =
  | 'totals'
  | 'trend'
  | 'byChannel'
  | 'byQueue'
  | 'byProvider'
  | 'handleTime'
  | 'sentiment';

/** The headline KPIs, with how each reads and which way is better. */
export const HEADLINE = [
  { kpi: 'conversations', label: 'Conversations', unit: 'count', higherIsBetter: undefined },
  { kpi: 'serviceLevel', label: 'Service level', unit: 'percent', higherIsBetter: true },
  { kpi: 'averageSpeedToAnswer', label: 'Speed to answer', unit: 'seconds', higherIsBetter: false },
  { kpi: 'averageHandleTime', label: 'Handle time', unit: 'seconds', higherIsBetter: false },
  { kpi: 'abandonmentRate', label: 'Abandonment', unit: 'percent', higherIsBetter: false },
  { kpi: 'conversationTransferRate', label: 'Transfers', unit: 'percent', higherIsBetter: false },
] as const;

/** The KPIs set against sentiment (volume aside). */
export const SENTIMENT_KPIS = HEADLINE.filter((entry) => entry.kpi !== 'conversations');

export const HANDLE_TIME_STATISTICS = ['min', 'p50', 'p90', 'p99', 'max', 'avg'] as const;

const headline = HEADLINE.map((entry) => entry.kpi);

export function managerQueries(params: Params, now: Date): Record<ManagerQuery, QuerySpec> {
  const { from, to } = range(params, now);
  const filters: QueryFilter[] = filtersOf(params);
  const scope = { filters, from, to };
  const volumes = (dimension: string): QuerySpec => ({
    measures: ['conversations', 'averageHandleTime'],
    dimensions: [dimension],
    ...scope,
    orderBy: [{ field: 'conversations', direction: 'desc' }],
    limit: 100,
  });
  return {
    totals: { measures: headline, ...scope, compare: 'previousPeriod' },
    trend: { measures: headline, ...scope, granularity: granularityFor(from, to), compare: 'previousPeriod' },
    byChannel: volumes('channel'),
    byQueue: volumes('queueName'),
    byProvider: volumes('providerId'),
    handleTime: {
      measures: HANDLE_TIME_STATISTICS.map((statistic) => ({
        kpi: 'averageHandleTime',
        statistic,
        as: statistic,
      })),
      ...scope,
    },
    sentiment: {
      measures: headline,
      dimensions: [SENTIMENT_FIELD],
      filters: [...filters, { field: SENTIMENT_FIELD, op: 'ne', value: null }],
      from,
      to,
      limit: 10_000,
    },
  };
}

/** The page's `queriesFor`. */
export const queriesFor = managerQueries;

export interface SentimentEffect {
  kpi: string;
  /**
   * Pearson's r between the sentiment score and the KPI over the score's values, each weighted by its
   * conversations: near 1 the KPI rises with sentiment, near −1 it falls, near 0 it does not move with it.
   */
  correlation: number | null;
  /** The KPI over the conversations with a negative score, and with a positive one (conversation-weighted). */
  negative: number | null;
  positive: number | null;
}

/** How each KPI moves with sentiment, from the `sentiment` answer (one row per score). */
export function sentimentEffects(rows: readonly QueryRow[]): SentimentEffect[] {
  return SENTIMENT_KPIS.map(({ kpi }) => {
    const points = rows.flatMap((row) => {
      const x = toNumber(row[SENTIMENT_FIELD]);
      const y = toNumber(row[kpi]);
      const w = toNumber(row.conversations) ?? 0;
      return x === null || y === null || w <= 0 ? [] : [{ x, y, w }];
    });
    const mean = (of: (p: { x: number; y: number }) => number, subset = points) => {
      const weight = subset.reduce((sum, p) => sum + p.w, 0);
      return weight === 0 ? null : subset.reduce((sum, p) => sum + p.w * of(p), 0) / weight;
    };
    const mx = mean((p) => p.x);
    const my = mean((p) => p.y);
    let correlation: number | null = null;
    if (mx !== null && my !== null) {
      const sxy = mean((p) => (p.x - mx) * (p.y - my)) ?? 0;
      const sxx = mean((p) => (p.x - mx) ** 2) ?? 0;
      const syy = mean((p) => (p.y - my) ** 2) ?? 0;
      correlation = sxx > 0 && syy > 0 ? sxy / Math.sqrt(sxx * syy) : null;
    }
    return {
      kpi,
      correlation,
      negative: mean(
        (p) => p.y,
        points.filter((p) => p.x < 0),
      ),
      positive: mean(
        (p) => p.y,
        points.filter((p) => p.x > 0),
      ),
    };
  });
}

/** The width of the sentiment bands the chart draws (scores run from −1 to 1). */
export const SENTIMENT_BAND = 0.2;

/**
 * A KPI by band of sentiment score (each band's value the conversation-weighted mean of its scores' values),
 * for the chart: one point per score would be mostly noise.
 */
export function sentimentBands(
  rows: readonly QueryRow[],
  kpi: string,
): { center: number; value: number | null }[] {
  const bands = new Map<number, { total: number; weight: number }>();
  for (const row of rows) {
    const x = toNumber(row[SENTIMENT_FIELD]);
    const y = toNumber(row[kpi]);
    const w = toNumber(row.conversations) ?? 0;
    if (x === null || y === null || w <= 0) continue;
    const band = Math.min(Math.floor((x + 1) / SENTIMENT_BAND), Math.round(2 / SENTIMENT_BAND) - 1);
    const sum = bands.get(band) ?? { total: 0, weight: 0 };
    sum.total += w * y;
    sum.weight += w;
    bands.set(band, sum);
  }
  return [...bands]
    .sort(([a], [b]) => a - b)
    .map(([band, { total, weight }]) => ({
      center: Math.round((-1 + (band + 0.5) * SENTIMENT_BAND) * 100) / 100,
      value: weight === 0 ? null : total / weight,
    }));
}

/** Every number the page shows from queries, by its `data-kpi` name. */
export function managerNumbers(
  answers: Partial<Record<ManagerQuery, QueryAnswer>>,
): Record<string, number | null> {
  const numbers: Record<string, number | null> = {};
  const total = answers.totals?.rows[0];
  if (answers.totals) {
    for (const kpi of headline) {
      numbers[kpi] = toNumber(total?.[kpi]);
      numbers[`previous.${kpi}`] = toNumber(total?.[`previous.${kpi}`]);
    }
  }
  for (const [query, dimension] of [
    ['byChannel', 'channel'],
    ['byQueue', 'queueName'],
    ['byProvider', 'providerId'],
  ] as const) {
    for (const row of answers[query]?.rows ?? []) {
      numbers[`${query}.${String(row[dimension])}.conversations`] = toNumber(row.conversations);
      numbers[`${query}.${String(row[dimension])}.averageHandleTime`] = toNumber(row.averageHandleTime);
    }
  }
  if (answers.handleTime) {
    for (const statistic of HANDLE_TIME_STATISTICS) {
      numbers[`handleTime.${statistic}`] = toNumber(answers.handleTime.rows[0]?.[statistic]);
    }
  }
  if (answers.sentiment) {
    for (const effect of sentimentEffects(answers.sentiment.rows)) {
      numbers[`sentiment.${effect.kpi}.correlation`] = effect.correlation;
      numbers[`sentiment.${effect.kpi}.negative`] = effect.negative;
      numbers[`sentiment.${effect.kpi}.positive`] = effect.positive;
    }
  }
  return numbers;
}
