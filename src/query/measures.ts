import { type Static, Type } from '@sinclair/typebox';
import type { Violation } from '../core/errors.ts';
import { oneOf } from '../core/validation.ts';
import {
  KPI_BY_NAME,
  KPIS,
  type Kpi,
  type KpiParameter,
  type KpiParams,
  kpiParams,
} from '../kpi/catalogue.ts';
import type { AggregateFn, AggregateQuery } from '../storage/storage.ts';
import { OUTPUT_NAME_REFUSAL, OutputNameSchema } from './outputs.ts';
import { objectShape } from './shape-refusals.ts';
import { type FieldResolver, isNumeric } from './spec-fields.ts';

/**
 * A query's measures: a named measure (`count`, `distinctUsers`…), a function of a field (`{fn, field, as?}`),
 * or a KPI of the catalogue, by its name or as `{kpi, as?, …parameters}`.
 */

const FUNCTIONS = ['sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99', 'uniq'] as const;
const NUMERIC = new Set<AggregateFn>(['sum', 'avg', 'min', 'max', 'p50', 'p90', 'p99']);

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

const FN_MEASURE = objectShape(
  Type.Object(
    {
      fn: oneOf(FUNCTIONS),
      field: Type.String({
        description:
          'An event field or customData.<key>; all but uniq need a number (an integer field or a number dimension)',
      }),
      as: Type.Optional(OutputNameSchema),
    },
    { additionalProperties: false, description: 'A function of a field, named `as`, else `fn(field)`' },
  ),
  {
    properties: {
      fn: { rule: 'enum', limit: FUNCTIONS, message: `must be one of: ${FUNCTIONS.join(', ')}` },
      field: { rule: 'required', message: 'names the field to aggregate' },
      as: OUTPUT_NAME_REFUSAL,
    },
    unknown: { rule: 'unknownField', message: 'is not a field of a measure' },
  },
);
type FnMeasure = Static<typeof FN_MEASURE.schema>;

function parameterSchema({ type, description, min, max, values = [] }: KpiParameter) {
  if (type === 'boolean') return Type.Boolean({ description });
  if (type === 'enum') return { ...oneOf(values), description };
  return Type.Number({
    description,
    ...(min !== undefined && { minimum: min }),
    ...(max !== undefined && { maximum: max }),
  });
}

/**
 * `{kpi, as?, …parameters}`: a KPI with the parameters it has. Its parameters' values are refused in the
 * catalogue's words (kpiParams), as an organization's kpiDefaults are.
 */
const kpiMeasure = (kpi: Kpi) => {
  const parameters = kpi.parameters.map((p) => p.name);
  return objectShape(
    Type.Object(
      {
        kpi: Type.Literal(kpi.name),
        as: Type.Optional(OutputNameSchema),
        ...Object.fromEntries(kpi.parameters.map((p) => [p.name, Type.Optional(parameterSchema(p))])),
      },
      { additionalProperties: false, description: `${kpi.displayName}, named \`as\`, else ${kpi.name}` },
    ),
    {
      properties: { as: OUTPUT_NAME_REFUSAL },
      unknown: {
        rule: 'unknownField',
        limit: parameters,
        message: `is not a parameter of ${kpi.name}${parameters.length > 0 ? ` (${parameters.join(', ')})` : ', which has none'}`,
      },
    },
  );
};
const KPI_MEASURES = new Map(KPIS.map((kpi) => [kpi.name, { kpi, shape: kpiMeasure(kpi) }]));

export const MeasureSchema = Type.Union([
  {
    ...oneOf([...Object.keys(NAMED_MEASURES), ...KPIS.map((k) => k.name)]),
    description: 'A named measure, or a KPI with its default parameters (GET /api/v1/kpis)',
  },
  FN_MEASURE.schema,
  ...[...KPI_MEASURES.values()].map(({ shape }) => shape.schema),
]);

/** A KPI asked for as a measure, with its parameters settled. */
export interface ResolvedKpi {
  name: string;
  kpi: Kpi;
  params: KpiParams;
}

/** A measure over events, as the engines compute it. */
type EventMeasure = AggregateQuery['measures'][number];

/**
 * A measure of the spec, resolved: over events, or a KPI; undefined once its violations are pushed. The kind
 * of measure is told by its type and, for an object, by a `kpi` key; the shape it then has is the schema's.
 */
export function resolveMeasure(
  measure: unknown,
  at: string,
  fieldOf: FieldResolver,
  violations: Violation[],
  kpiDefaults: KpiParams,
): EventMeasure | ResolvedKpi | undefined {
  if (typeof measure === 'string') return namedMeasure(measure, at, fieldOf, violations, kpiDefaults);
  if (measure === null || typeof measure !== 'object' || Array.isArray(measure)) {
    violations.push({
      field: at,
      rule: 'type',
      message: 'must be a measure name or {fn, field, as?}',
      received: measure,
    });
    return undefined;
  }
  const object = measure as Record<string, unknown>;
  return 'kpi' in object
    ? kpiOf(object, at, violations, kpiDefaults)
    : fnMeasure(object, at, fieldOf, violations);
}

/** A KPI by its name (with its default parameters), else a named measure. */
function namedMeasure(
  name: string,
  at: string,
  fieldOf: FieldResolver,
  violations: Violation[],
  kpiDefaults: KpiParams,
): EventMeasure | ResolvedKpi | undefined {
  const kpi = KPI_BY_NAME.get(name);
  if (kpi) return { name, kpi, params: kpiParams(kpi, {}, at, violations, kpiDefaults) };
  // Own keys only: "constructor" or "toString" must not find Object.prototype's.
  const named = Object.hasOwn(NAMED_MEASURES, name) ? NAMED_MEASURES[name] : undefined;
  if (!named) {
    violations.push({
      field: at,
      rule: 'measure',
      limit: Object.keys(NAMED_MEASURES),
      message: `is not a measure: use one of ${Object.keys(NAMED_MEASURES).join(', ')}, a KPI (GET /api/v1/kpis), {fn, field} or {kpi, …}`,
      received: name,
    });
    return undefined;
  }
  const field = named.field ? fieldOf(named.field, at) : undefined;
  return { name, fn: named.fn, ...(field && { field }) };
}

function fnMeasure(
  object: Record<string, unknown>,
  at: string,
  fieldOf: FieldResolver,
  violations: Violation[],
): EventMeasure | undefined {
  const shape = FN_MEASURE.check(object, at);
  violations.push(...shape.violations);
  if (shape.faulty.has('field')) return undefined;
  // The field is named even when the rest is at fault; fn and as are read once nothing is.
  const { fn, field: name, as } = object as FnMeasure;
  const field = fieldOf(name, `${at}.field`);
  if (!field || shape.faulty.size > 0) return undefined;
  if (NUMERIC.has(fn) && !isNumeric(field)) {
    violations.push({
      field: `${at}.field`,
      rule: 'numeric',
      message: `${fn} needs a number: an integer field, or a customData key declared as a number dimension`,
      received: name,
    });
    return undefined;
  }
  return { name: as ?? `${fn}(${name})`, fn, field };
}

function kpiOf(
  object: Record<string, unknown>,
  at: string,
  violations: Violation[],
  kpiDefaults: KpiParams,
): ResolvedKpi | undefined {
  const { kpi: name, as, ...given } = object;
  const found = typeof name === 'string' ? KPI_MEASURES.get(name) : undefined;
  if (!found) {
    violations.push({
      field: `${at}.kpi`,
      rule: 'enum',
      limit: KPIS.map((k) => k.name),
      message: `is not a KPI; GET /api/v1/kpis lists them: ${KPIS.map((k) => k.name).join(', ')}`,
      received: name,
    });
    return undefined;
  }
  const { kpi, shape } = found;
  const checked = shape.check(object, at);
  violations.push(...checked.violations);
  const params = kpiParams(kpi, given, at, violations, kpiDefaults);
  if (checked.faulty.has('as')) return undefined;
  return { name: (as as string | undefined) ?? kpi.name, kpi, params };
}
