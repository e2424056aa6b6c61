import { Type } from '@sinclair/typebox';
import { invalid, type Violation } from '../core/errors.ts';
import { compileCheck, oneOf } from '../core/validation.ts';
import { KPI_BY_NAME, KPIS, type Kpi, type KpiParams, kpiParams, UNIT_DIMENSIONS } from '../kpi/catalogue.ts';
import { CUSTOM_DATA_KEY, normaliseKey } from '../model/custom-data.ts';
import { EVENT_COLUMN_OF } from '../storage/event-columns.ts';
import type {
  AggregateFn,
  AggregateQuery,
  Comparison,
  QueryField,
  QueryFilter,
  Scalar,
  TimeUnit,
} from '../storage/storage.ts';
import type { Dimension } from './dimensions.ts';

/**
 * `POST /api/v1/query`: one JSON spec (measures × dimensions × filters × time range × granularity), checked
 * here against the events' fields and the organization's dimensions, and resolved into the engine-neutral
 * AggregateQuery that each storage engine compiles. Every refusal points at the part of the spec at fault.
 */

const TIME_UNITS = ['minute', 'hour', 'day', 'week', 'month'] as const;
const FUNCTIONS = ['sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99', 'uniq'] as const;
const OPERATORS = ['eq', 'ne', 'in', 'contains', 'gt', 'ge', 'lt', 'le'] as const;
const NUMERIC = new Set<AggregateFn>(['sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99']);
export const QUERY_MAX_LIMIT = 100_000;
/**
 * The deepest nesting of and/or filters. A body cannot nest deeper (it is at most MAX_JSON_DEPTH levels, two
 * per and/or); the bound keeps a spec built otherwise (a stored alert rule) from overflowing the stack.
 */
export const MAX_FILTER_DEPTH = 32;
const DEFAULT_RANGE_MS = 7 * 86_400_000;

/** Measures named by a word: a count, or a count of distinct values of an identifying field. */
export const NAMED_MEASURES: Readonly<
  Record<string, { fn: AggregateFn; field?: string; description: string }>
> = {
  count: { fn: 'count', description: 'events' },
  distinctUsers: { fn: 'uniq', field: 'username', description: 'distinct usernames' },
  distinctClients: { fn: 'uniq', field: 'clientId', description: 'distinct visitors (clientId)' },
  distinctVisits: { fn: 'uniq', field: 'visitId', description: 'distinct visits' },
  distinctSessions: { fn: 'uniq', field: 'providerSessionId', description: 'distinct channel sessions' },
  distinctConversations: { fn: 'uniq', field: 'conversationId', description: 'distinct conversations' },
};

const QuerySpecSchema = Type.Object(
  {
    measures: Type.Array(Type.Unknown(), { minItems: 1, maxItems: 20 }),
    dimensions: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: 10 })),
    filters: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 50 })),
    from: Type.Optional(Type.String({ format: 'date-time' })),
    to: Type.Optional(Type.String({ format: 'date-time' })),
    granularity: Type.Optional(oneOf(TIME_UNITS)),
    timeZone: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    orderBy: Type.Optional(
      Type.Array(
        Type.Object(
          {
            field: Type.String({ minLength: 1, maxLength: 200 }),
            direction: Type.Optional(oneOf(['asc', 'desc'])),
          },
          { additionalProperties: false },
        ),
        { maxItems: 10 },
      ),
    ),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: QUERY_MAX_LIMIT })),
    compare: Type.Optional(Type.Literal('previousPeriod')),
    format: Type.Optional(oneOf(['json', 'csv'])),
  },
  { additionalProperties: false },
);
const checkSpec = compileCheck(QuerySpecSchema);

/** A field the spec can name: an event column or a customData key. */
type SpecField = Exclude<QueryField, { kind: 'fact' }>;

/** A KPI asked for as a measure, with its parameters settled. */
export interface ResolvedKpi {
  name: string;
  kpi: Kpi;
  params: KpiParams;
}

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

/** The name of the time bucket in answers. */
export const TIME = 'time';

export function resolveQuery(
  body: unknown,
  dimensions: ReadonlyMap<string, Dimension>,
  now = new Date(),
  kpiDefaults: KpiParams = {},
): ResolvedQuery {
  const violations = checkSpec(body);
  if (violations.length > 0) throw invalid(violations);
  const spec = body as {
    measures: unknown[];
    dimensions?: string[];
    filters?: unknown[];
    from?: string;
    to?: string;
    granularity?: TimeUnit;
    timeZone?: string;
    orderBy?: { field: string; direction?: 'asc' | 'desc' }[];
    limit?: number;
    compare?: 'previousPeriod';
    format?: 'json' | 'csv';
  };
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
    const kpi = asKpi(measure, at, violations, kpiDefaults);
    const resolved = kpi === undefined ? resolveMeasure(measure, at, fieldOf, violations) : kpi;
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

  const outputs = new Set([
    ...(spec.granularity ? [TIME] : []),
    ...dimensionList.map((d) => d.name),
    ...measureNames,
  ]);
  const orderBy = (spec.orderBy ?? []).flatMap((o, i) => {
    if (outputs.has(o.field)) return [{ name: o.field, descending: o.direction === 'desc' }];
    violations.push({
      field: `orderBy[${i}].field`,
      rule: 'output',
      limit: [...outputs],
      message: 'must name a dimension or a measure of the query',
      received: o.field,
    });
    return [];
  });
  if (violations.length > 0) throw invalid(violations);

  const query: AggregateQuery = {
    from,
    to,
    ...(spec.granularity && { bucket: { name: TIME, unit: spec.granularity, timeZone } }),
    dimensions: dimensionList,
    measures,
    ...(filters.length > 0 && { where: filters.length === 1 ? filters[0] : { kind: 'and', filters } }),
    orderBy: completeOrder(orderBy, spec.granularity !== undefined, measureNames, dimensionList),
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

/**
 * The order asked, else time then the first measure (largest first); then every dimension not named yet,
 * so that rows that tie come in the same order every time.
 */
function completeOrder(
  asked: AggregateQuery['orderBy'],
  bucketed: boolean,
  measureNames: string[],
  dimensions: AggregateQuery['dimensions'],
): AggregateQuery['orderBy'] {
  const order =
    asked.length > 0
      ? [...asked]
      : [
          ...(bucketed ? [{ name: TIME, descending: false }] : []),
          ...(measureNames[0] === undefined ? [] : [{ name: measureNames[0], descending: true }]),
        ];
  for (const { name } of dimensions) {
    if (!order.some((o) => o.name === name)) order.push({ name, descending: false });
  }
  return order;
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

type FieldResolver = (name: string, at: string) => SpecField | undefined;

/**
 * The names a spec gives its outputs (`as`): ASCII letters, digits, `_` and `-`, the first a letter or `_`,
 * at most 64. An output name is a key of the answer's rows, a CSV header and a quoted identifier in the
 * engines' SQL; a dot is left out, as the answer's own names use it (`previous.<measure>`, `customData.<key>`).
 */
export const OUTPUT_NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/** The violation of an `as` that is given and is not an output name. */
function outputNameViolation(as: unknown, at: string): Violation | undefined {
  if (as === undefined || (typeof as === 'string' && OUTPUT_NAME.test(as))) return undefined;
  return {
    field: `${at}.as`,
    rule: 'pattern',
    limit: OUTPUT_NAME.source,
    message: 'must be a name of 1 to 64 characters: ASCII letters, digits, _ and -, the first a letter or _',
    received: as,
  };
}

/** A field name of the spec as a QueryField: an event column, or `customData.<normalised key>`. */
function resolveField(
  name: string,
  at: string,
  dimensions: ReadonlyMap<string, Dimension>,
  violations: Violation[],
): SpecField | undefined {
  if (name.startsWith('customData.')) {
    const key = name.slice('customData.'.length);
    if (!CUSTOM_DATA_KEY.test(key)) {
      const normalised = normaliseKey(key);
      violations.push({
        field: at,
        rule: 'customDataKey',
        message: CUSTOM_DATA_KEY.test(normalised)
          ? `customData keys are stored normalised: use customData.${normalised}`
          : 'is not a customData key (ASCII letters, digits and "_")',
        received: name,
      });
      return undefined;
    }
    const dimension = dimensions.get(key);
    return {
      kind: 'custom',
      key,
      type: dimension?.type ?? 'text',
      ...(dimension && dimension.eventKinds.length > 0 && { kinds: dimension.eventKinds }),
    };
  }
  const column = EVENT_COLUMN_OF.get(name);
  if (!column) {
    violations.push({
      field: at,
      rule: 'field',
      message: 'is neither an event field (eventType, originLevel1, queryText, …) nor customData.<key>',
      received: name,
    });
    return undefined;
  }
  return { kind: 'column', field: name, type: column.type };
}

const isNumeric = (field: SpecField) =>
  field.kind === 'custom' ? field.type === 'number' : field.type === 'integer';

function resolveMeasure(
  measure: unknown,
  at: string,
  fieldOf: FieldResolver,
  violations: Violation[],
): AggregateQuery['measures'][number] | undefined {
  if (typeof measure === 'string') {
    // Own keys only: "constructor" or "toString" must not find Object.prototype's.
    const named = Object.hasOwn(NAMED_MEASURES, measure) ? NAMED_MEASURES[measure] : undefined;
    if (!named) {
      violations.push({
        field: at,
        rule: 'measure',
        limit: Object.keys(NAMED_MEASURES),
        message: `is not a measure: use one of ${Object.keys(NAMED_MEASURES).join(', ')}, a KPI (GET /api/v1/kpis), {fn, field} or {kpi, …}`,
        received: measure,
      });
      return undefined;
    }
    const field = named.field ? fieldOf(named.field, at) : undefined;
    return { name: measure, fn: named.fn, ...(field && { field }) };
  }
  const object = measure as { fn?: unknown; field?: unknown; as?: unknown } | null;
  if (object === null || typeof object !== 'object' || Array.isArray(object)) {
    violations.push({
      field: at,
      rule: 'type',
      message: 'must be a measure name or {fn, field, as?}',
      received: measure,
    });
    return undefined;
  }
  const extra = Object.keys(object).filter((k) => !['fn', 'field', 'as'].includes(k));
  for (const key of extra) {
    violations.push({
      field: `${at}.${key}`,
      rule: 'unknownField',
      message: 'is not a field of a measure',
      received: key,
    });
  }
  if (!FUNCTIONS.includes(object.fn as (typeof FUNCTIONS)[number])) {
    violations.push({
      field: `${at}.fn`,
      rule: 'enum',
      limit: FUNCTIONS,
      message: `must be one of: ${FUNCTIONS.join(', ')}`,
      received: object.fn,
    });
  }
  if (typeof object.field !== 'string') {
    violations.push({
      field: `${at}.field`,
      rule: 'required',
      message: 'names the field to aggregate',
      received: object.field,
    });
    return undefined;
  }
  const badName = outputNameViolation(object.as, at);
  if (badName) violations.push(badName);
  const field = fieldOf(object.field, `${at}.field`);
  const fn = object.fn as AggregateFn;
  if (!field || extra.length > 0 || badName || !FUNCTIONS.includes(fn as (typeof FUNCTIONS)[number]))
    return undefined;
  if (NUMERIC.has(fn) && !isNumeric(field)) {
    violations.push({
      field: `${at}.field`,
      rule: 'numeric',
      message: `${fn} needs a number: an integer field, or a customData key declared as a number dimension`,
      received: object.field,
    });
    return undefined;
  }
  return { name: (object.as as string | undefined) ?? `${fn}(${object.field})`, fn, field };
}

function resolveFilter(
  filter: unknown,
  at: string,
  fieldOf: FieldResolver,
  violations: Violation[],
  depth = 1,
): QueryFilter | undefined {
  if (depth > MAX_FILTER_DEPTH) {
    violations.push({
      field: at,
      rule: 'depth',
      limit: MAX_FILTER_DEPTH,
      message: `and/or filters nest deeper than ${MAX_FILTER_DEPTH} levels here`,
    });
    return undefined;
  }
  const object = filter as Record<string, unknown> | null;
  if (object === null || typeof object !== 'object' || Array.isArray(object)) {
    violations.push({
      field: at,
      rule: 'type',
      message: 'must be {field, op, value}, {and: […]} or {or: […]}',
      received: filter,
    });
    return undefined;
  }
  for (const kind of ['and', 'or'] as const) {
    if (kind in object) {
      const list = object[kind];
      if (!Array.isArray(list) || list.length === 0 || Object.keys(object).length !== 1) {
        violations.push({
          field: `${at}.${kind}`,
          rule: 'type',
          message: `must be the only key, holding a non-empty list of filters`,
          received: list,
        });
        return undefined;
      }
      const filters = list.flatMap(
        (f, i) => resolveFilter(f, `${at}.${kind}[${i}]`, fieldOf, violations, depth + 1) ?? [],
      );
      return { kind, filters };
    }
  }
  const { field: name, op, value, ...extra } = object;
  for (const key of Object.keys(extra)) {
    violations.push({
      field: `${at}.${key}`,
      rule: 'unknownField',
      message: 'is not a field of a filter',
      received: key,
    });
  }
  if (typeof name !== 'string') {
    violations.push({
      field: `${at}.field`,
      rule: 'required',
      message: 'names the field to filter on',
      received: name,
    });
    return undefined;
  }
  if (!OPERATORS.includes(op as (typeof OPERATORS)[number])) {
    violations.push({
      field: `${at}.op`,
      rule: 'enum',
      limit: OPERATORS,
      message: `must be one of: ${OPERATORS.join(', ')}`,
      received: op,
    });
    return undefined;
  }
  const field = fieldOf(name, `${at}.field`);
  if (!field) return undefined;
  const scalar = (v: unknown, where: string) => filterValue(field, v, where, violations);
  if (op === 'in') {
    if (!Array.isArray(value) || value.length === 0 || value.length > 1000) {
      violations.push({
        field: `${at}.value`,
        rule: 'type',
        message: 'in takes a list of 1 to 1000 values',
        received: value,
      });
      return undefined;
    }
    const values = value.map((v, i) => scalar(v, `${at}.value[${i}]`));
    return values.every((v) => v !== undefined)
      ? { kind: 'in', field, values: values as Scalar[] }
      : undefined;
  }
  if (op === 'contains') {
    if (typeof value !== 'string' || !(field.type === 'text')) {
      violations.push({
        field: `${at}.value`,
        rule: 'type',
        message: 'contains takes a string, on a text field',
        received: value,
      });
      return undefined;
    }
    return { kind: 'contains', field, value };
  }
  if (value === null && (op === 'eq' || op === 'ne')) return { kind: 'compare', op, field, value: null };
  const resolved = scalar(value, `${at}.value`);
  return resolved === undefined
    ? undefined
    : { kind: 'compare', op: op as Comparison, field, value: resolved };
}

/** A filter's value in the field's type: a number, a boolean, a time (ISO 8601) or a string. */
function filterValue(
  field: SpecField,
  value: unknown,
  at: string,
  violations: Violation[],
): Scalar | undefined {
  const expected =
    field.kind === 'custom'
      ? field.type === 'number'
        ? 'number'
        : field.type === 'boolean'
          ? 'boolean'
          : 'string'
      : field.type === 'integer'
        ? 'number'
        : field.type === 'boolean'
          ? 'boolean'
          : field.type === 'timestamp'
            ? 'date-time'
            : 'string';
  if (expected === 'date-time') {
    if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return new Date(value);
  } else if (typeof value === expected) return value as Scalar;
  violations.push({
    field: at,
    rule: 'type',
    limit: expected,
    message: `must be a ${expected}, as the field is`,
    received: value,
  });
  return undefined;
}

/** A KPI named as a measure (`"serviceLevel"`), or an object `{kpi, as?, …parameters}`; undefined when neither. */
function asKpi(
  measure: unknown,
  at: string,
  violations: Violation[],
  kpiDefaults: KpiParams,
): ResolvedKpi | null | undefined {
  if (typeof measure === 'string') {
    const kpi = KPI_BY_NAME.get(measure);
    return kpi && { name: measure, kpi, params: kpiParams(kpi, {}, at, violations, kpiDefaults) };
  }
  if (measure === null || typeof measure !== 'object' || !('kpi' in measure)) return undefined;
  const { kpi: name, as, ...given } = measure as Record<string, unknown>;
  const kpi = KPI_BY_NAME.get(name as string);
  if (!kpi) {
    violations.push({
      field: `${at}.kpi`,
      rule: 'enum',
      limit: KPIS.map((k) => k.name),
      message: `is not a KPI; GET /api/v1/kpis lists them: ${KPIS.map((k) => k.name).join(', ')}`,
      received: name,
    });
    return null;
  }
  for (const key of Object.keys(given)) {
    if (!kpi.parameters.some((p) => p.name === key)) {
      violations.push({
        field: `${at}.${key}`,
        rule: 'unknownField',
        limit: kpi.parameters.map((p) => p.name),
        message: `is not a parameter of ${kpi.name}${kpi.parameters.length > 0 ? ` (${kpi.parameters.map((p) => p.name).join(', ')})` : ', which has none'}`,
        received: key,
      });
    }
  }
  const badName = outputNameViolation(as, at);
  if (badName) violations.push(badName);
  const params = kpiParams(kpi, given, at, violations, kpiDefaults);
  return badName ? null : { name: (as as string | undefined) ?? kpi.name, kpi, params };
}

/** Every dimension and filter field must be one that each KPI of the spec can be broken down by. */
function checkKpiFields(
  kpis: ResolvedKpi[],
  dimensions: string[],
  filters: unknown[],
  violations: Violation[],
) {
  // As deep as resolveFilter reads (deeper filters are refused there).
  const named = (filter: unknown, at: string, depth = 1): { name: string; at: string }[] => {
    if (filter === null || typeof filter !== 'object' || depth > MAX_FILTER_DEPTH) return [];
    const object = filter as Record<string, unknown>;
    for (const kind of ['and', 'or']) {
      const list = object[kind];
      if (Array.isArray(list)) return list.flatMap((f, i) => named(f, `${at}.${kind}[${i}]`, depth + 1));
    }
    return typeof object.field === 'string' ? [{ name: object.field, at: `${at}.field` }] : [];
  };
  const fields = [
    ...dimensions.map((name, i) => ({ name, at: `dimensions[${i}]` })),
    ...filters.flatMap((f, i) => named(f, `filters[${i}]`)),
  ];
  for (const { name, at } of fields) {
    const refusing = kpis.find(({ kpi }) => {
      const allowed = UNIT_DIMENSIONS[kpi.unit];
      return name.startsWith('customData.') ? !allowed.customData : !allowed.fields.includes(name);
    });
    if (!refusing) continue;
    const allowed = UNIT_DIMENSIONS[refusing.kpi.unit];
    violations.push({
      field: at,
      rule: 'kpiDimension',
      limit: [...allowed.fields, ...(allowed.customData ? ['customData.<key>'] : [])],
      message:
        `${refusing.name} counts ${refusing.kpi.unit}s, which have no ${name}: use ` +
        `${allowed.fields.join(', ')}${allowed.customData ? ' or customData.<key>' : ''}`,
      received: name,
    });
  }
}
