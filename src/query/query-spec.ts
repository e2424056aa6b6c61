import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { invalid } from '../core/errors.ts';
import { compileCheck, oneOf } from '../core/validation.ts';
import type { KpiParams } from '../kpi/catalogue.ts';
import type { AggregateQuery, TimeUnit } from '../storage/storage.ts';
import type { Dimension } from './dimensions.ts';
import { FilterSchema, resolveFilter } from './filters.ts';
import { checkKpiFields } from './kpi-dimensions.ts';
import { MeasureSchema, type ResolvedKpi, resolveMeasure } from './measures.ts';
import { resolveOrder, TIME } from './outputs.ts';
import { resolveField } from './spec-fields.ts';

/**
 * `POST /api/v1/query`: one JSON spec (measures × dimensions × filters × time range × granularity), checked
 * here against the events' fields and the organization's dimensions, and resolved into the engine-neutral
 * AggregateQuery that each storage engine compiles. Every refusal points at the part of the spec at fault.
 */

export const TIME_UNITS = ['minute', 'hour', 'day', 'week', 'month'] as const;
export const QUERY_MAX_LIMIT = 100_000;
const DEFAULT_RANGE_MS = 7 * 86_400_000;

/** The spec, its measures and its filters taking the given schemas. */
const querySpec = <M extends TSchema, F extends TSchema>(measure: M, filter: F) =>
  Type.Object(
    {
      measures: Type.Array(measure, { minItems: 1, maxItems: 20 }),
      dimensions: Type.Optional(
        Type.Array(Type.String({ minLength: 1, maxLength: 200 }), {
          maxItems: 10,
          description: 'Event fields or customData.<key> to group by',
        }),
      ),
      filters: Type.Optional(Type.Array(filter, { maxItems: 50, description: 'All must hold' })),
      from: Type.Optional(
        Type.String({
          format: 'date-time',
          description: 'Inclusive, on the derived time; default 7 days before `to`',
        }),
      ),
      to: Type.Optional(Type.String({ format: 'date-time', description: 'Exclusive; default now' })),
      granularity: Type.Optional(oneOf(TIME_UNITS)),
      timeZone: Type.Optional(
        Type.String({ minLength: 1, maxLength: 64, description: "The buckets' IANA time zone; default UTC" }),
      ),
      orderBy: Type.Optional(
        Type.Array(
          Type.Object(
            {
              field: Type.String({ minLength: 1, maxLength: 200 }),
              direction: Type.Optional(oneOf(['asc', 'desc'] as const)),
            },
            { additionalProperties: false },
          ),
          { maxItems: 10 },
        ),
      ),
      limit: Type.Optional(
        Type.Integer({ minimum: 1, maximum: QUERY_MAX_LIMIT, description: 'Default 1000' }),
      ),
      compare: Type.Optional(Type.Literal('previousPeriod')),
      format: Type.Optional(oneOf(['json', 'csv'] as const)),
    },
    { additionalProperties: false },
  );

export const QuerySpecSchema = querySpec(MeasureSchema, FilterSchema);

/**
 * The spec's own fields are checked at once; its measures and filters one by one as they are resolved
 * (measures.ts, filters.ts), so that a refusal speaks of the shape an item was meant to be and comes with the
 * spec's other faults, and filters are read no deeper than MAX_FILTER_DEPTH.
 */
const SpecFields = querySpec(Type.Unknown(), Type.Unknown());
const checkSpec = compileCheck(SpecFields);

export interface ResolvedQuery {
  /** The range, grouping, filters, order and limit, with the measures over events (KPIs are in `kpis`). */
  query: AggregateQuery;
  kpis: ResolvedKpi[];
  /** Every measure's output name, in the spec's order. */
  measureNames: string[];
  /** The same query over the period just before, when the spec asks to compare. */
  previous?: AggregateQuery;
  format: 'json' | 'csv';
  timeZone: string;
  granularity?: TimeUnit;
}

export function resolveQuery(
  body: unknown,
  dimensions: ReadonlyMap<string, Dimension>,
  now = new Date(),
  kpiDefaults: KpiParams = {},
): ResolvedQuery {
  const violations = checkSpec(body);
  if (violations.length > 0) throw invalid(violations);
  const spec = body as Static<typeof SpecFields>;
  const fieldOf = (name: string, at: string) => resolveField(name, at, dimensions, violations);

  const to = spec.to ? new Date(spec.to) : now;
  const from = spec.from ? new Date(spec.from) : new Date(to.getTime() - DEFAULT_RANGE_MS);
  if (from >= to) {
    violations.push({ field: 'from', rule: 'range', message: 'must be before "to"', received: spec.from });
  }
  const timeZone = spec.timeZone ?? 'UTC';
  if (!isTimeZone(timeZone)) {
    violations.push({
      field: 'timeZone',
      rule: 'timeZone',
      message: 'must be an IANA time zone, such as Europe/Paris or UTC',
      received: timeZone,
    });
  }

  const dimensionList: AggregateQuery['dimensions'] = [];
  (spec.dimensions ?? []).forEach((name, i) => {
    const field = fieldOf(name, `dimensions[${i}]`);
    if (field && (field.type === 'json' || field.type === 'text[]')) {
      violations.push({
        field: `dimensions[${i}]`,
        rule: 'dimension',
        message: `${name} holds a list or an object, which cannot be grouped by`,
        received: name,
      });
    } else if (field) dimensionList.push({ name, field });
  });

  const measures: AggregateQuery['measures'] = [];
  const kpis: ResolvedKpi[] = [];
  const measureNames: string[] = [];
  spec.measures.forEach((measure, i) => {
    const at = `measures[${i}]`;
    const resolved = resolveMeasure(measure, at, fieldOf, violations, kpiDefaults);
    if (!resolved) return;
    if (measureNames.includes(resolved.name) || dimensionList.some((d) => d.name === resolved.name)) {
      violations.push({
        field: at,
        rule: 'unique',
        message: `another output is already named ${JSON.stringify(resolved.name)}; name this one with "as"`,
        received: measure,
      });
      return;
    }
    measureNames.push(resolved.name);
    if ('kpi' in resolved) kpis.push(resolved);
    else measures.push(resolved);
  });

  const filters = (spec.filters ?? []).flatMap((filter, i) => {
    const resolved = resolveFilter(filter, `filters[${i}]`, fieldOf, violations);
    return resolved ? [resolved] : [];
  });
  checkKpiFields(kpis, spec.dimensions ?? [], spec.filters ?? [], violations);

  const orderBy = resolveOrder(
    spec.orderBy ?? [],
    { bucketed: spec.granularity !== undefined, dimensions: dimensionList, measureNames },
    violations,
  );
  if (violations.length > 0) throw invalid(violations);

  const query: AggregateQuery = {
    from,
    to,
    ...(spec.granularity && { bucket: { name: TIME, unit: spec.granularity, timeZone } }),
    dimensions: dimensionList,
    measures,
    ...(filters.length > 0 && { where: filters.length === 1 ? filters[0] : { kind: 'and', filters } }),
    orderBy,
    limit: spec.limit ?? 1000,
  };
  const span = to.getTime() - from.getTime();
  return {
    query,
    kpis,
    measureNames,
    ...(spec.compare && {
      previous: { ...query, from: new Date(from.getTime() - span), to: from },
    }),
    format: spec.format ?? 'json',
    timeZone,
    ...(spec.granularity && { granularity: spec.granularity }),
  };
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
