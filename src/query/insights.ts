import { type Static, Type } from '@sinclair/typebox';
import { oneOf } from '../core/validation.ts';
import type { EventReader } from '../ingest/event-reader.ts';
import { type Kpi, UNIT_DIMENSIONS } from '../kpi/catalogue.ts';
import type { Organizations } from '../orgs/organizations.ts';
import type {
  AggregateQuery,
  AggregateResult,
  KpiUnit,
  Scalar,
  Storage,
  UnitQuery,
} from '../storage/storage.ts';
import type { Dimensions } from './dimensions.ts';
import type { ResolvedKpi } from './measures.ts';
import { TIME } from './outputs.ts';
import { QUERY_MAX_LIMIT, type ResolvedQuery, resolveQuery, TIME_UNITS } from './query-spec.ts';

export type Row = Record<string, Scalar>;

export const PREVIOUS = 'previous.';

/** A scalar as JSON shows it: times as ISO 8601. */
export const shown = (value: Scalar) => (value instanceof Date ? value.toISOString() : value);

/** What a KPI counts, and what its value is in, as answers name them. */
export const KpiUnitSchema = oneOf(Object.keys(UNIT_DIMENSIONS) as Kpi['unit'][]);
export const KpiValueUnitSchema = oneOf([
  'seconds',
  'percent',
  'count',
] as const satisfies readonly Kpi['valueUnit'][]);

const TypeErrorsSchema = Type.Record(Type.String(), Type.Integer(), {
  description:
    'How many values of each typed customData field did not parse as its type (counted, never read as 0)',
});

/** What an answer says of itself, besides its rows. */
export const QueryMetaSchema = Type.Object({
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  timeZone: Type.String(),
  granularity: Type.Union([oneOf(TIME_UNITS), Type.Null()]),
  columns: Type.Array(Type.String(), {
    description: 'In order: the time bucket, the dimensions, the measures, then previous.<measure>',
  }),
  rowCount: Type.Integer(),
  truncated: Type.Boolean({ description: 'The limit was reached: there may be more rows' }),
  typeErrors: TypeErrorsSchema,
  kpis: Type.Optional(
    Type.Record(
      Type.String(),
      Type.Object({
        kpi: Type.String(),
        unit: KpiUnitSchema,
        valueUnit: KpiValueUnitSchema,
        parameters: Type.Record(Type.String(), Type.Union([Type.Number(), Type.Boolean(), Type.String()])),
      }),
      { description: 'By output name: the definition each KPI was computed with, its parameters included' },
    ),
  ),
  previous: Type.Optional(
    Type.Object(
      {
        from: Type.String({ format: 'date-time' }),
        to: Type.String({ format: 'date-time' }),
        typeErrors: TypeErrorsSchema,
      },
      { description: 'The period compared with (compare: previousPeriod)' },
    ),
  ),
});

/** A query spec's answer, before it is shown as JSON or CSV. */
export interface InsightAnswer {
  resolved: ResolvedQuery;
  /** The answer's columns, in order: the time bucket, the dimensions, the measures, then previous.<measure>. */
  columns: string[];
  rows: Row[];
  meta: Static<typeof QueryMetaSchema>;
}

/**
 * Each row gains `previous.<measure>`: the same dimensions' measure in the period just before, a time
 * bucket matched to the one a period earlier; null where that period has no such row.
 */
function withPrevious(rows: Row[], previous: Row[], query: AggregateQuery, measures: string[]): Row[] {
  const span = query.to.getTime() - query.from.getTime();
  const bucketStart = (row: Row, shift: number) => {
    const time = row[TIME] as Date | null | undefined;
    return time ? time.getTime() - shift : null;
  };
  const key = (row: Row, shift: number) =>
    JSON.stringify([
      ...(query.bucket ? [bucketStart(row, shift)] : []),
      ...query.dimensions.map((d) => shown(row[d.name] ?? null)),
    ]);
  const before = new Map(previous.map((row) => [key(row, 0), row]));
  return rows.map((row) => {
    const match = before.get(key(row, span));
    const extra: Row = {};
    for (const m of measures) extra[`${PREVIOUS}${m}`] = match ? (match[m] ?? null) : null;
    return { ...row, ...extra };
  });
}

/**
 * The one place a query spec is run: the query route answers with it, and breach rules evaluate through it,
 * so a rule's measure means exactly what the same spec means in `POST /api/v1/query`.
 */
export class Insights {
  constructor(
    readonly _storage: Storage,
    private readonly reader: EventReader,
    private readonly dimensions: Dimensions,
    private readonly organizations: Organizations,
  ) {}

  async run(org: string, spec: unknown, now = new Date()): Promise<InsightAnswer> {
    const { kpiDefaults } = await this.organizations.require(org);
    const resolved = resolveQuery(spec, await this.dimensions.byName(org), now, kpiDefaults ?? {});
    const { query, kpis, measureNames } = resolved;
    const current = await this.aggregate(org, query, kpis, now);
    const earlier = resolved.previous ? await this.aggregate(org, resolved.previous, kpis, now) : undefined;
    const rows = earlier ? withPrevious(current.rows, earlier.rows, query, measureNames) : current.rows;
    const columns = [
      ...(query.bucket ? [TIME] : []),
      ...query.dimensions.map((d) => d.name),
      ...measureNames,
      ...(earlier ? measureNames.map((m) => `${PREVIOUS}${m}`) : []),
    ];
    const meta: InsightAnswer['meta'] = {
      from: query.from.toISOString(),
      to: query.to.toISOString(),
      timeZone: resolved.timeZone,
      granularity: resolved.granularity ?? null,
      columns,
      rowCount: rows.length,
      // At the limit, there may be more rows than were answered.
      truncated: rows.length === query.limit,
      typeErrors: current.typeErrors,
      ...(kpis.length > 0 && {
        // The definition each KPI was computed with, its parameters included (abandonment's denominator…).
        kpis: Object.fromEntries(
          kpis.map(({ name, kpi, params }) => [
            name,
            { kpi: kpi.name, unit: kpi.unit, valueUnit: kpi.valueUnit, parameters: params },
          ]),
        ),
      }),
      ...(resolved.previous && {
        previous: {
          from: resolved.previous.from.toISOString(),
          to: resolved.previous.to.toISOString(),
          typeErrors: earlier?.typeErrors ?? {},
        },
      }),
    };
    return { resolved, columns, rows, meta };
  }

  /**
   * Over events alone, one engine query. With KPIs, one query per kind of unit (and one over events, if
   * asked), each answering every group; their rows are joined on the time bucket and dimensions, then
   * ordered and cut to the limit here.
   */
  private async aggregate(
    org: string,
    query: AggregateQuery,
    kpis: ResolvedKpi[],
    now: Date,
  ): Promise<AggregateResult> {
    if (kpis.length === 0) return this.reader.aggregateEvents(org, query);
    const { events, units } = planParts(query, kpis, now);
    const parts = await Promise.all([
      ...(events ? [this.reader.aggregateEvents(org, events)] : []),
      ...units.map((unit) => this.reader.aggregateUnits(org, unit)),
    ]);
    // A group one part has and another lacks has none of that part's units: a count of 0, other measures null.
    const zeros = [
      ...query.measures.filter((m) => m.fn === 'count' || m.fn === 'uniq').map((m) => m.name),
      ...kpis.filter((k) => k.kpi.valueUnit === 'count').map((k) => k.name),
    ];
    const rows = joinRows(
      parts.map((p) => p.rows),
      [...(query.bucket ? [TIME] : []), ...query.dimensions.map((d) => d.name)],
      zeros,
    );
    const typeErrors: Record<string, number> = {};
    for (const part of parts) {
      for (const [field, n] of Object.entries(part.typeErrors))
        typeErrors[field] = (typeErrors[field] ?? 0) + n;
    }
    return { rows: sortRows(rows, query.orderBy).slice(0, query.limit), typeErrors };
  }
}

/**
 * A query with KPIs as engine queries: one per kind of unit, and one over events when it has event measures;
 * each answers every group, unordered, for the rows to be joined.
 */
export function planParts(
  query: AggregateQuery,
  kpis: ResolvedKpi[],
  now: Date,
): { events?: AggregateQuery; units: UnitQuery[] } {
  const all = { ...query, orderBy: [], limit: QUERY_MAX_LIMIT };
  const byUnit = new Map<KpiUnit, ResolvedKpi[]>();
  for (const k of kpis) byUnit.set(k.kpi.unit, [...(byUnit.get(k.kpi.unit) ?? []), k]);
  return {
    ...(query.measures.length > 0 && { events: all }),
    units: [...byUnit].map(([unit, list]) => ({
      ...all,
      unit,
      now,
      measures: list.map(({ name, kpi, params }) => ({ name, measure: kpi.formula(params) })),
    })),
  };
}

const keyOf = (row: Row, keys: string[]) => JSON.stringify(keys.map((k) => shown(row[k] ?? null)));

/** Rows of several answers over the same groups, joined on their keys (a full outer join). */
export function joinRows(parts: Row[][], keys: string[], zeros: string[]): Row[] {
  const joined = new Map<string, Row>();
  for (const rows of parts) {
    for (const row of rows) {
      const key = keyOf(row, keys);
      joined.set(key, { ...joined.get(key), ...row });
    }
  }
  return [...joined.values()].map((row) => {
    for (const name of zeros) row[name] ??= 0;
    return row;
  });
}

/** Rank of a value in an order: numbers, times, text and booleans compare as themselves; null comes last. */
function compareScalars(a: Scalar, b: Scalar): number {
  if (a === null || b === null) return a === b ? 0 : a === null ? 1 : -1;
  const x = a instanceof Date ? a.getTime() : a;
  const y = b instanceof Date ? b.getTime() : b;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The order the engine would have given (AggregateQuery.orderBy, nulls last either way). */
export function sortRows(rows: Row[], orderBy: AggregateQuery['orderBy']): Row[] {
  return rows.sort((r, s) => {
    for (const { name, descending } of orderBy) {
      const a = r[name] ?? null;
      const b = s[name] ?? null;
      const order =
        a === null || b === null ? compareScalars(a, b) : compareScalars(a, b) * (descending ? -1 : 1);
      if (order !== 0) return order;
    }
    return 0;
  });
}
