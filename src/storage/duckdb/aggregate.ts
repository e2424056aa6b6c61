import type { DuckDBValue } from '@duckdb/node-api';
import { QUANTILES, UTC_ZONES } from '../aggregate-semantics.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMN_OF } from '../event-columns.ts';
import type { AggregateQuery, QueryField, QueryFilter, Scalar, UnitMeasure, UnitQuery } from '../storage.ts';
import { KEY_TABLES, type KeyPlan, onlyCondition, planDistinctKeys } from './distinct-keys.ts';
import { UNIT_FACTS_SQL, UNIT_TABLE } from './kpi-units.ts';
import { compare, quote } from './sql.ts';

/**
 * The query API's aggregations in DuckDB SQL, over events or over KPI units built from them. Every value is
 * a parameter; names in the SQL come from the resolved spec (checked against the event columns, the unit
 * facts and closed lists), never from request text.
 */

const MATCHES = { contains: 'contains', startswith: 'starts_with', endswith: 'ends_with' } as const;

export interface CompiledAggregate {
  sql: string;
  params: Record<string, DuckDBValue>;
  /** Hidden output columns counting values that did not parse as their declared type, by field name. */
  typeErrorColumns: { column: string; field: string }[];
}

/** A customData value of the current row. DuckDB lists are 1-based; a missing key reads as null. */
const customValue = (key: string) => `${CUSTOM_VALUES_COLUMN}[list_position(${CUSTOM_KEYS_COLUMN}, ${key})]`;

class Compiler {
  readonly params: Record<string, DuckDBValue> = {};
  /** Typed customData fields read by the query, by name: their raw and typed expressions. */
  readonly typed = new Map<string, { raw: string; typed: string }>();
  /** Over units, fields are the unit relation's columns, named as the spec names them. */
  constructor(readonly overUnits = false) {}

  bind(value: DuckDBValue): string {
    const name = `p${Object.keys(this.params).length}`;
    this.params[name] = value;
    return `$${name}`;
  }

  field(field: QueryField): string {
    if (field.kind === 'fact') {
      if (!this.overUnits) throw new Error(`events have no fact ${field.fact}`);
      return quote(field.fact);
    }
    if (field.kind === 'column') {
      if (this.overUnits) return quote(field.field);
      const column = EVENT_COLUMN_OF.get(field.field);
      if (!column) throw new Error(`events have no field ${JSON.stringify(field.field)}`);
      return quote(column.column);
    }
    // Units keep their events' customData the way events do: one reading serves both. A dimension declared
    // for some event kinds reads nothing from the others (KPI units are built from kpi events).
    const applies = !field.kinds
      ? undefined
      : this.overUnits
        ? field.kinds.includes('kpi')
          ? undefined
          : 'FALSE'
        : `category IN (${field.kinds.map((k) => this.bind(k)).join(', ')})`;
    const value = customValue(this.bind(field.key));
    const raw = applies ? `CASE WHEN ${applies} THEN ${value} END` : value;
    if (field.type === 'text') return raw;
    const typed = `TRY_CAST(${raw} AS ${field.type === 'number' ? 'DOUBLE' : 'BOOLEAN'})`;
    this.typed.set(`customData.${field.key}`, { raw, typed });
    return typed;
  }

  value(field: QueryField, value: Scalar): string {
    if (value instanceof Date) return `${this.bind(value.toISOString())}::TIMESTAMP`;
    if (typeof value === 'number' && (field.kind === 'fact' || field.kind === 'custom')) {
      return `${this.bind(value)}::DOUBLE`;
    }
    if (field.kind === 'custom' && field.type === 'number') return `${this.bind(Number(value))}::DOUBLE`;
    return this.bind(value as DuckDBValue);
  }

  filter(filter: QueryFilter): string {
    switch (filter.kind) {
      case 'and':
      case 'or':
        if (filter.filters.length === 0) return filter.kind === 'and' ? 'TRUE' : 'FALSE';
        return `(${filter.filters.map((f) => this.filter(f)).join(` ${filter.kind.toUpperCase()} `)})`;
      case 'not':
        // NOT of an unknown (null) condition is still unknown in SQL; the contract means "not true".
        return `(${this.filter(filter.filter)}) IS NOT TRUE`;
      case 'in': {
        const expr = this.field(filter.field);
        const present = filter.values.filter((v) => v !== null);
        const alternatives =
          present.length > 0
            ? [`${expr} IN (${present.map((v) => this.value(filter.field, v)).join(', ')})`]
            : [];
        if (present.length < filter.values.length) alternatives.push(`${expr} IS NULL`);
        return alternatives.length > 0 ? `(${alternatives.join(' OR ')})` : 'FALSE';
      }
      case 'match':
        return `${MATCHES[filter.op]}(${this.field(filter.field)}, ${this.bind(filter.value)})`;
      case 'has':
        return `list_contains(${this.field(filter.field)}, ${this.bind(filter.value)})`;
      case 'compare': {
        const expr = this.field(filter.field);
        if (filter.value === null) return filter.op === 'ne' ? `${expr} IS NOT NULL` : `${expr} IS NULL`;
        return compare(expr, filter.op, this.value(filter.field, filter.value));
      }
    }
  }

  /**
   * A time bucket's first instant. Converting every row's time to a zone's wall clock is what costs most
   * (ten times the rest of a bucketed count), so it is done once per 15-minute slot of the range instead, and
   * rows join their slot: every zone's offset from UTC is a whole number of quarter hours. In UTC, and for
   * minutes in any zone, plain truncation is the answer.
   */
  bucket(
    bucket: NonNullable<AggregateQuery['bucket']>,
    time: string,
    from: Date,
    to: Date,
  ): { expr: string; join?: string } {
    if (bucket.unit === 'minute' || UTC_ZONES.has(bucket.timeZone)) {
      return { expr: `date_trunc('${bucket.unit}', ${time})` };
    }
    const zone = this.bind(bucket.timeZone);
    const slots =
      `SELECT slot, timezone(${zone}, date_trunc('${bucket.unit}', timezone(${zone}, timezone('UTC', slot)))) AS first ` +
      `FROM generate_series(time_bucket(INTERVAL 15 MINUTE, ${this.time(from)}), ${this.time(to)}, INTERVAL 15 MINUTE) s(slot)`;
    return {
      expr: '__slots.first',
      join: `JOIN (${slots}) __slots ON __slots.slot = time_bucket(INTERVAL 15 MINUTE, ${time})`,
    };
  }

  time(date: Date): string {
    return `${this.bind(date.toISOString())}::TIMESTAMP`;
  }

  /**
   * `SELECT bucket, dimensions, measures FROM source WHERE … GROUP BY … ORDER BY … LIMIT`, with the hidden
   * type-error counts; `time` is the column the range and the bucket apply to.
   */
  grouped(
    query: Pick<AggregateQuery, 'from' | 'to' | 'bucket' | 'dimensions' | 'limit'> &
      Partial<Pick<AggregateQuery, 'orderBy'>>,
    measures: { name: string; expr: string }[],
    source: string,
    time: string,
    conditions: string[],
    relation = this.overUnits ? 'units' : 'events',
  ): CompiledAggregate {
    const select: string[] = [];
    const groups: string[] = [];
    let from = relation;
    if (query.bucket) {
      const { expr, join } = this.bucket(query.bucket, time, query.from, query.to);
      if (join) from += ` ${join}`;
      select.push(`${expr} AS ${quote(query.bucket.name)}`);
      groups.push(quote(query.bucket.name));
    }
    for (const { name, field } of query.dimensions) {
      select.push(`${this.field(field)} AS ${quote(name)}`);
      groups.push(quote(name));
    }
    for (const { name, expr } of measures) select.push(`${expr} AS ${quote(name)}`);
    const typeErrorColumns = [...this.typed].map(([field, { raw, typed }], i) => {
      const column = `__type_errors_${i}`;
      select.push(`count(*) FILTER (WHERE ${raw} IS NOT NULL AND ${typed} IS NULL) AS ${quote(column)}`);
      return { column, field };
    });
    const orderBy = (query.orderBy ?? []).map(
      (o) => `${quote(o.name)} ${o.descending ? 'DESC' : 'ASC'} NULLS LAST`,
    );
    const sql =
      `${source} SELECT ${select.join(', ')} FROM ${from} ` +
      `WHERE ${conditions.join(' AND ')}` +
      (groups.length > 0 ? ` GROUP BY ${groups.join(', ')}` : '') +
      (orderBy.length > 0 ? ` ORDER BY ${orderBy.join(', ')}` : '') +
      ` LIMIT ${Math.trunc(query.limit)}`;
    return { sql, params: this.params, typeErrorColumns };
  }
}

/** A query filter over events as one condition, its values in `params` (named `p…`): for reads that are no aggregate. */
export function eventCondition(filter: QueryFilter): { sql: string; params: Record<string, DuckDBValue> } {
  const compiler = new Compiler();
  return { sql: compiler.filter(filter), params: compiler.params };
}

/**
 * `distinctKeys`: the store keeps the distinct-key tables (distinct-keys.ts) up to date, so that a distinct
 * count they can answer reads them.
 */
export function compileAggregate(
  org: string,
  query: AggregateQuery,
  options: { distinctKeys?: boolean } = {},
): CompiledAggregate {
  const plan = options.distinctKeys ? planDistinctKeys(query) : undefined;
  if (plan) return compileOverKeys(org, query, plan);
  const c = new Compiler();
  const measures = query.measures.map(({ name, fn, field }) => {
    const expr = field ? c.field(field) : '*';
    const aggregate =
      fn === 'count'
        ? 'count(*)'
        : fn === 'uniq'
          ? // The same count (nulls are never counted), but DuckDB hashes fewer values: a fifth faster measured.
            `count(DISTINCT ${expr}) FILTER (WHERE ${expr} IS NOT NULL)`
          : fn in QUANTILES
            ? `quantile_cont(${expr}, ${QUANTILES[fn as keyof typeof QUANTILES]})`
            : `${fn}(${expr})`;
    return { name, expr: aggregate };
  });
  const conditions = [
    `org = ${c.bind(org)}`,
    `derived_time >= ${c.time(query.from)}`,
    `derived_time < ${c.time(query.to)}`,
  ];
  if (query.where) conditions.push(c.filter(query.where));
  return c.grouped(query, measures, '', 'derived_time', conditions);
}

/**
 * A count and distinct counts over a distinct-key table: its whole hours of the range, and the events of the
 * partial hours at either end, as rows of the same shape (`n` events with these values in this hour).
 */
function compileOverKeys(org: string, query: AggregateQuery, plan: KeyPlan): CompiledAggregate {
  const c = new Compiler();
  const table = KEY_TABLES.find((t) => t.name === plan.table);
  if (!table) throw new Error(`no distinct-key table ${plan.table}`);
  // A table of some events only reads its column as their value; the events of the partial hours are chosen so.
  const only = table.only ? `, ${c.bind(table.only.value)} AS ${quote(table.only.column)}` : '';
  const onlyColumn = table.only ? `, ${quote(table.only.column)}` : '';
  const columns = table.columns.join(', ');
  const parts = [
    `SELECT hour, ${columns}, n${only} FROM ${table.name} WHERE org = ${c.bind(org)} AND hour >= ${c.time(plan.from)} AND hour < ${c.time(plan.to)}`,
  ];
  const edges: string[] = [];
  if (query.from < plan.from) {
    edges.push(`(derived_time >= ${c.time(query.from)} AND derived_time < ${c.time(plan.from)})`);
  }
  if (plan.to < query.to) {
    edges.push(`(derived_time >= ${c.time(plan.to)} AND derived_time < ${c.time(query.to)})`);
  }
  if (edges.length > 0) {
    parts.push(
      `SELECT date_trunc('hour', derived_time) AS hour, ${columns}, 1 AS n${onlyColumn} FROM events WHERE org = ${c.bind(org)} AND ${onlyCondition(table)} AND (${edges.join(' OR ')})`,
    );
  }
  const measures = query.measures.map(({ name, fn, field }) => {
    if (fn === 'count') return { name, expr: 'coalesce(sum(n), 0)::BIGINT' };
    if (fn !== 'uniq' || !field) throw new Error(`a distinct-key table has no ${fn}`);
    const expr = c.field(field);
    return { name, expr: `count(DISTINCT ${expr}) FILTER (WHERE ${expr} IS NOT NULL)` };
  });
  const conditions = ['TRUE'];
  if (query.where) conditions.push(c.filter(query.where));
  // Rows are at their hour's start: the buckets' slots begin at the range's first hour, not at its first instant.
  const firstHour = new Date(Math.floor(query.from.getTime() / 3_600_000) * 3_600_000);
  return c.grouped(
    { ...query, from: firstHour },
    measures,
    `WITH keys AS (${parts.join(' UNION ALL ')})`,
    'hour',
    conditions,
    'keys',
  );
}

// ---- KPI units -----------------------------------------------------------------------------------------

function unitMeasure(c: Compiler, measure: UnitMeasure): string {
  const where = (filter: QueryFilter | undefined) => (filter ? ` FILTER (WHERE ${c.filter(filter)})` : '');
  switch (measure.fn) {
    case 'count':
      return `count(*)${where(measure.where)}`;
    case 'sum':
    case 'avg':
    case 'min':
    case 'max':
      return `${measure.fn}(${quote(measure.fact)})${where(measure.where)}`;
    case 'p50':
    case 'p90':
    case 'p99':
      return `quantile_cont(${quote(measure.fact)}, ${QUANTILES[measure.fn]})${where(measure.where)}`;
    case 'percent': {
      const denominator = c.filter(measure.denominator);
      return (
        `100.0 * count(*) FILTER (WHERE ${denominator} AND ${c.filter(measure.numerator)}) / ` +
        `nullif(count(*) FILTER (WHERE ${denominator}), 0)`
      );
    }
  }
}

export function compileUnits(org: string, query: UnitQuery): CompiledAggregate {
  const c = new Compiler(true);
  const from = c.time(query.from);
  const to = c.time(query.to);
  const presence = query.unit === 'presence';
  // Units that began in the range; a presence interval, if it overlaps the range.
  const range = presence
    ? `start < ${to} AND (next IS NULL OR next > ${from})`
    : `starts >= ${from} AND starts < ${to}`;
  const facts = UNIT_FACTS_SQL[query.unit]
    .replaceAll('$from', () => from)
    .replaceAll('$to', () => to)
    .replace('$now', () => c.time(query.now));
  const source = `WITH units AS (SELECT *, ${facts} FROM ${UNIT_TABLE[query.unit]} WHERE org = ${c.bind(org)} AND ${range})`;
  const measures = query.measures.map(({ name, measure }) => ({ name, expr: unitMeasure(c, measure) }));
  const conditions = presence ? ['until > starts'] : ['TRUE'];
  if (query.where) conditions.push(c.filter(query.where));
  return c.grouped(query, measures, source, 'starts', conditions);
}
