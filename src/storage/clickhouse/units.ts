import {
  type GroupedUnit,
  type IntervalUnit,
  MEANINGS,
  UNIT_DECLARATIONS,
  UNIT_SPAN_MS,
  type UnitAggregate,
  type UnitEventField,
  type UnitExpr,
} from '../../model/kpi-units.ts';
import { QUANTILES } from '../aggregate-semantics.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN } from '../event-columns.ts';
import type {
  AggregateResult,
  ColumnType,
  QueryField,
  QueryFilter,
  Scalar,
  UnitMeasure,
  UnitQuery,
} from '../storage.ts';
import { bucketing, interpolatedQuantile, POWER_TABLES, TypedReadings } from './aggregate.ts';
import { compileFilter, ident, literal, type Resolved } from './sql.ts';

/**
 * KPI units on ClickHouse, built when a KPI is asked for: the declared units (src/model/kpi-units.ts) compiled to
 * one query that groups the organization's KPI events by unit key, derives the facts, then groups the units by
 * bucket and dimensions. There are no unit tables, so nothing is rebuilt and several servers never race on a
 * rebuild; a replayed or updated event counts once because the events are read with FINAL.
 *
 * 18.16 has no window functions (presence: each change's next, from its agent's changes sorted in an array) and
 * its AND is not SQL's (NULL AND 0 is NULL there, and NULL OR x is x): a fact's three-valued logic is spelled out.
 */

/** Runs a SELECT and answers its rows as JSONEachRow gives them (64-bit integers as strings). */
export type RunQuery = (sql: string) => Promise<Record<string, unknown>[]>;

/** A unit's events are read this far around the range, as DuckDB's rebuild reads them around its marks. */
const UNIT_SPAN_MICROS = UNIT_SPAN_MS * 1000;

/** Where the units read each event field: the innermost query's names (prefixed, so no alias meets a column). */
const EVENT_ALIAS: Record<UnitEventField, string> = {
  time: 'e_time',
  meaning: 'e_meaning',
  action: 'e_action',
  reason: 'e_reason',
  conversationId: 'e_conversation_id',
  providerSessionId: 'e_provider_session_id',
  participantId: 'e_participant_id',
  providerId: 'e_provider_id',
  channel: 'e_channel',
  queueId: 'e_queue_id',
  queueName: 'e_queue_name',
  newPresence: 'e_new_presence',
};

const MEANING = `multiIf(${MEANINGS.map(({ name, meaning }) => `event_type = ${literal(name)}, ${literal(meaning)}`).join(', ')}, event_type)`;
const ACTION = `multiIf(${MEANINGS.flatMap(({ name, action }) =>
  action ? [`event_type = ${literal(name)}, ${literal(action)}`] : [],
).join(', ')}, lower(notification_response_action))`;

/** The organization's KPI events, each read once (FINAL), with the fields the units read. */
function kpiEvents(org: string, lo?: number, hi?: number): string {
  const bounds = [
    ...(lo === undefined ? [] : [`derived_time >= ${literal(lo)}`]),
    ...(hi === undefined ? [] : [`derived_time < ${literal(hi)}`]),
  ];
  return `SELECT id AS e_id, derived_time AS e_time, ${MEANING} AS e_meaning, ${ACTION} AS e_action,
    event_value AS e_reason, conversation_id AS e_conversation_id, provider_session_id AS e_provider_session_id,
    participant_id AS e_participant_id, provider_id AS e_provider_id, channel AS e_channel, queue_id AS e_queue_id,
    queue_name AS e_queue_name, new_presence AS e_new_presence, ${CUSTOM_KEYS_COLUMN} AS e_keys,
    ${CUSTOM_VALUES_COLUMN} AS e_values
    FROM events FINAL WHERE _deleted = 0 AND org = ${literal(org)} AND category = 'kpi'${bounds.map((b) => ` AND ${b}`).join('')}`;
}

/** A condition as a UInt8 that is 0 where SQL's would be null (an aggregate's FILTER, a CASE's WHEN). */
const holds = (condition: string) => `ifNull(${condition}, 0)`;

/**
 * A declared expression as ClickHouse SQL, with SQL's null semantics: over the events' aliases in a unit's
 * aggregates, over the unit's columns in its facts; `params` are the query's instants (presence).
 */
function expr(e: UnitExpr, params: Record<string, number> = {}): string {
  const x = (inner: UnitExpr) => expr(inner, params);
  switch (e.kind) {
    case 'event':
      return EVENT_ALIAS[e.field];
    case 'agg':
      return aggregate(e.agg);
    case 'column':
      return ident(e.name);
    case 'param': {
      const value = params[e.name];
      if (value === undefined) throw new Error(`no value for ${e.name}`);
      return `toInt64(${literal(value)})`;
    }
    case 'literal':
      return literal(e.value);
    case 'set':
      return `isNotNull(${x(e.of)})`;
    case 'and':
    case 'or':
      return logic(e.kind, e.of.map(x));
    case 'not':
      // not() passes a null through, as SQL's NOT does.
      return `not(${x(e.of)})`;
    case 'eq':
    case 'le':
    case 'lt':
      return `(${x(e.left)} ${{ eq: '=', le: '<=', lt: '<' }[e.kind]} ${x(e.right)})`;
    case 'prefix': {
      const text = x(e.of);
      return logic(
        'or',
        e.prefixes.map((p) => `(lower(${text}) LIKE ${literal(`${p}%`)})`),
      );
    }
    case 'coalesce':
    case 'greatest':
    case 'least':
      return `${e.kind}(${e.of.map(x).join(', ')})`;
    case 'minus':
      return `(${x(e.left)} - ${x(e.right)})`;
    case 'seconds':
      // From the times' milliseconds, as DuckDB's epoch_ms.
      return `((intDiv(${x(e.later)}, 1000) - intDiv(${x(e.earlier)}, 1000)) / 1000)`;
    case 'msToSeconds':
      return `(${x(e.of)} / 1000)`;
    case 'case':
      return `multiIf(${e.when.map(([w, t]) => `${holds(x(w))}, ${x(t)}`).join(', ')}, ${e.else ? x(e.else) : 'NULL'})`;
  }
}

/** SQL's three-valued AND and OR: false (true) wins over null, null over true (false). */
function logic(kind: 'and' | 'or', args: string[]): string {
  if (args.length === 0) return kind === 'and' ? '1' : '0';
  if (args.length === 1) return args[0] as string;
  const decides =
    kind === 'and' ? args.map((a) => `ifNull(${a}, 1) = 0`) : args.map((a) => `ifNull(${a}, 0) != 0`);
  const unknown = args.map((a) => `isNull(${a})`);
  return `multiIf(${decides.join(' OR ')}, ${kind === 'and' ? 0 : 1}, ${unknown.join(' OR ')}, NULL, ${kind === 'and' ? 1 : 0})`;
}

/** An aggregate that is null, as SQL's, where no event matches (ClickHouse's would be 0 or ''). */
function aggregate(a: UnitAggregate): string {
  const where = a.where ? holds(expr(a.where)) : '1';
  const t = EVENT_ALIAS.time;
  const orNull = (matches: string, value: string) => `if(countIf(${matches}) = 0, NULL, ${value})`;
  switch (a.fn) {
    case 'firstTime':
      return a.where ? orNull(where, `minIf(${t}, ${where})`) : `min(${t})`;
    case 'count':
      return `countIf(${where})`;
    case 'sumMs':
      return orNull(where, `sumIf(intDiv(${t}, 1000), ${where})`);
    case 'any':
      return `(countIf(${where}) > 0)`;
    case 'first': {
      // argMin skips a null value, as DuckDB's arg_min does.
      const field = EVENT_ALIAS[a.field];
      return orNull(`${where} AND isNotNull(${field})`, `argMinIf(${field}, ${t}, ${where})`);
    }
    case 'max': {
      const field = EVENT_ALIAS[a.field];
      return orNull(`${where} AND isNotNull(${field})`, `maxIf(${field}, ${where})`);
    }
  }
}

/** The ClickHouse type family of a declared expression's value, for literals compared with a fact. */
function typeOf(e: UnitExpr, columns: ReadonlyMap<string, UnitExpr>): ColumnType {
  switch (e.kind) {
    case 'set':
    case 'and':
    case 'or':
    case 'not':
    case 'eq':
    case 'le':
    case 'lt':
    case 'prefix':
      return 'boolean';
    case 'agg':
      return e.agg.fn === 'any' ? 'boolean' : e.agg.fn === 'first' || e.agg.fn === 'max' ? 'text' : 'integer';
    case 'column': {
      const of = columns.get(e.name);
      return of ? typeOf(of, columns) : 'integer';
    }
    case 'literal':
      return typeof e.value === 'string' ? 'text' : typeof e.value === 'boolean' ? 'boolean' : 'integer';
    case 'case':
      return typeOf(e.when[0]?.[1] ?? { kind: 'literal', value: 0 }, columns);
    case 'coalesce':
    case 'greatest':
    case 'least':
      return typeOf(e.of[0] ?? { kind: 'literal', value: 0 }, columns);
    default:
      return 'integer';
  }
}

class UnitCompiler extends TypedReadings {
  /** customData keys the query reads, each a column of the units: key → alias. */
  readonly customKeys = new Map<string, string>();
  constructor(
    readonly unit: UnitQuery['unit'],
    readonly columns: ReadonlyMap<string, UnitExpr>,
  ) {
    super();
  }

  field(field: QueryField): Resolved {
    if (field.kind === 'fact')
      return { sql: ident(field.fact), type: typeOf({ kind: 'column', name: field.fact }, this.columns) };
    if (field.kind === 'column') return { sql: ident(field.field), type: field.type };
    // KPI units are built from kpi events: a dimension declared for other kinds only reads nothing.
    const applies = !field.kinds || field.kinds.includes('kpi');
    let raw = 'CAST(NULL AS Nullable(String))';
    if (applies && this.unit !== 'presence') {
      let alias = this.customKeys.get(field.key);
      if (!alias) {
        alias = `__custom_${this.customKeys.size}`;
        this.customKeys.set(field.key, alias);
      }
      raw = ident(alias);
    }
    if (field.type === 'text') return { sql: raw, type: 'text' };
    return this.reading(field.key, field.type, raw);
  }

  filter(filter: QueryFilter): string {
    return holds(compileFilter(filter, (f) => this.field(f)));
  }

  measure(measure: UnitMeasure): string {
    const where = measure.fn !== 'percent' && measure.where ? this.filter(measure.where) : '1';
    switch (measure.fn) {
      case 'count':
        return `countIf(${where})`;
      case 'sum':
      case 'avg':
      case 'min':
      case 'max': {
        const fact = ident(measure.fact);
        // Null where no unit has the fact, as SQL's aggregates (ClickHouse's say 0, or nan for avg).
        return `if(countIf(${where} AND isNotNull(${fact})) = 0, NULL, ${measure.fn}If(${fact}, ${where}))`;
      }
      case 'p50':
      case 'p90':
      case 'p99':
        // DuckDB's quantile_cont, as the events' compiler computes it (aggregate.ts).
        return interpolatedQuantile(`if(${where}, ${ident(measure.fact)}, NULL)`, QUANTILES[measure.fn]);
      case 'percent': {
        const denominator = this.filter(measure.denominator);
        const numerator = this.filter(measure.numerator);
        return `100.0 * countIf(${denominator} AND ${numerator}) / nullIf(countIf(${denominator}), 0)`;
      }
    }
  }
}

/** The units of the query's kind whose facts are read: one row per unit, with its columns and facts. */
function unitsSql(c: UnitCompiler, org: string, query: UnitQuery): string {
  const params = {
    from: query.from.getTime() * 1000,
    to: query.to.getTime() * 1000,
    now: query.now.getTime() * 1000,
  };
  const declaration = UNIT_DECLARATIONS[query.unit];
  const facts = declaration.facts
    .filter(([name, e]) => !(e.kind === 'column' && e.name === name))
    .map(([name, e]) => `${expr(e, params)} AS ${ident(name)}`);
  if (declaration.kind === 'interval') {
    return `SELECT *, ${facts.join(', ')} FROM (${intervalsSql(declaration, org)})
      WHERE start < ${literal(params.to)} AND (isNull(next) OR next > ${literal(params.from)})`;
  }
  return `SELECT *, ${facts.join(', ')} FROM (${groupedSql(c, declaration, org, params)})
    WHERE starts >= ${literal(params.from)} AND starts < ${literal(params.to)}`;
}

function groupedSql(
  c: UnitCompiler,
  unit: GroupedUnit,
  org: string,
  range: { from: number; to: number },
): string {
  const keys = unit.key.map(({ field, name }) => `assumeNotNull(${EVENT_ALIAS[field]}) AS ${ident(name)}`);
  const columns = unit.columns.map(([name, e]) => `${expr(e)} AS ${ident(name)}`);
  const custom = [...c.customKeys].map(([key, alias]) => {
    const has = `has(e_keys, ${literal(key)})`;
    return `if(countIf(${has}) = 0, NULL, maxIf(e_values[indexOf(e_keys, ${literal(key)})], ${has})) AS ${ident(alias)}`;
  });
  const keySet = unit.key.map(({ field }) => `isNotNull(${EVENT_ALIAS[field]})`);
  return `SELECT ${[...keys, ...columns, ...custom].join(', ')}
    FROM (${kpiEvents(org, range.from - UNIT_SPAN_MICROS, range.to + UNIT_SPAN_MICROS)})
    WHERE ${[holds(expr(unit.reads)), ...keySet].join(' AND ')}
    GROUP BY ${unit.key.map(({ name }) => ident(name)).join(', ')}`;
}

/**
 * Each change of each agent and the agent's next one, without window functions: an agent's changes in one
 * array sorted by time (then id, as DuckDB's lead orders them), unfolded by index. Every change of the
 * organization is read: an interval may have begun long before the range, and end long after it.
 */
function intervalsSql(unit: IntervalUnit, org: string): string {
  const key = EVENT_ALIAS[unit.key.field];
  const fields = unit.columns.map(([, field]) => EVENT_ALIAS[field]);
  const picked = unit.columns.map(([name], i) => `tupleElement(changes[i], ${i + 3}) AS ${ident(name)}`);
  return `SELECT ${ident(unit.key.name)}, ${picked.join(', ')}, tupleElement(changes[i], 1) AS start,
      if(i < length(changes), tupleElement(changes[i + 1], 1), NULL) AS next
    FROM (SELECT assumeNotNull(${key}) AS ${ident(unit.key.name)},
            arraySort(groupArray((e_time, e_id, ${fields.join(', ')}))) AS changes
          FROM (${kpiEvents(org)}) WHERE ${holds(expr(unit.reads))} AND isNotNull(${key})
          GROUP BY ${ident(unit.key.name)})
    ARRAY JOIN arrayEnumerate(changes) AS i`;
}

/** One aggregation over KPI units built at query time from one organization's KPI events. */
export async function aggregateUnits(run: RunQuery, org: string, query: UnitQuery): Promise<AggregateResult> {
  const declaration = UNIT_DECLARATIONS[query.unit];
  // What each fact and column is, for the type of the literals compared with it (a fact that is its own
  // column is left out: it is the column).
  const columns = new Map<string, UnitExpr>([
    ...(declaration.kind === 'grouped' ? declaration.columns : []),
    ...declaration.facts.filter(([name, e]) => !(e.kind === 'column' && e.name === name)),
  ]);
  const c = new UnitCompiler(query.unit, columns);
  const select: string[] = [];
  const groups: string[] = [];
  const out: { alias: string; name: string; read: (v: unknown) => Scalar }[] = [];
  /** Per-unit values, computed in the SELECT that reads the units. */
  const perUnit: string[] = [];
  let join = '';
  // Output columns get aliases of their own: a measure named like a fact (`sessions`) would otherwise stand for
  // it in the conditions, ClickHouse's aliases being visible in the whole query.
  if (query.bucket) {
    // The events' buckets (aggregate.ts), so that a unit's bucket is its first event's, on DuckDB's wall clock
    // where the zone's offset changes.
    const bucket = bucketing(query.bucket, 'starts', query.from, query.to);
    perUnit.push(bucket.perRow);
    select.push(bucket.select);
    join = bucket.join;
    groups.push('__bucket');
    out.push({
      alias: '__bucket',
      name: query.bucket.name,
      read: (v) => (v === null ? null : new Date(Number(v) / 1000)),
    });
  }
  query.dimensions.forEach(({ name, field }, i) => {
    const { sql, type } = c.field(field);
    select.push(`${sql} AS __dimension_${i}`);
    groups.push(`__dimension_${i}`);
    out.push({ alias: `__dimension_${i}`, name, read: reader(type) });
  });
  query.measures.forEach(({ name, measure }, i) => {
    select.push(`${c.measure(measure)} AS __measure_${i}`);
    out.push({ alias: `__measure_${i}`, name, read: reader('integer') });
  });
  const conditions = query.unit === 'presence' ? ['until > starts'] : ['1'];
  if (query.where) conditions.push(c.filter(query.where));
  const typeErrors = [...c.typed].map(([field, { raw, typed }], i) => {
    select.push(`countIf(isNotNull(${raw}) AND isNull(${typed})) AS __type_errors_${i}`);
    return { alias: `__type_errors_${i}`, field };
  });
  // The units are read with their per-unit values (POWER_TABLES where a number is parsed: a WITH does not reach
  // into a subquery on 18.16), filtered, then joined to their bucket and grouped.
  const units =
    `${c.readsNumbers ? `${POWER_TABLES} ` : ''}SELECT ${['*', ...c.definitions, ...perUnit].join(', ')} ` +
    `FROM (${unitsSql(c, org, query)}) WHERE ${conditions.join(' AND ')}`;
  const sql =
    `SELECT ${select.join(', ')} FROM (${units})${join}` +
    (groups.length > 0 ? ` GROUP BY ${groups.join(', ')}` : '') +
    ` LIMIT ${Math.trunc(query.limit)}`;
  const rows = await run(sql);
  const errors: Record<string, number> = {};
  for (const { alias, field } of typeErrors)
    errors[field] = rows.reduce((sum, row) => sum + Number(row[alias] ?? 0), 0);
  return {
    rows: rows.map((row) =>
      Object.fromEntries(out.map(({ alias, name, read }) => [name, read(row[alias] ?? null)])),
    ),
    typeErrors: errors,
  };
}

/** A value as JSONEachRow gives it, as the type it stands for (64-bit integers come as strings). */
function reader(type: ColumnType): (v: unknown) => Scalar {
  return (v) => {
    if (v === null || v === undefined) return null;
    if (type === 'boolean') return Number(v) !== 0;
    if (type === 'integer') return Number(v);
    if (type === 'timestamp') return new Date(Number(v) / 1000);
    return v as Scalar;
  };
}
