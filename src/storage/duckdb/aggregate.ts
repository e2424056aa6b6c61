import type { DuckDBValue } from '@duckdb/node-api';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMN_OF } from '../event-columns.ts';
import type { AggregateQuery, QueryField, QueryFilter, Scalar } from '../storage.ts';

/**
 * The query API's aggregations in DuckDB SQL. Every value is a parameter; names in the SQL come from the
 * resolved spec (checked against the event columns and closed lists), never from request text.
 */

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;
const COMPARISONS = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;
const QUANTILES = { p50: 0.5, p90: 0.9, p99: 0.99 } as const;

export interface CompiledAggregate {
  sql: string;
  params: Record<string, DuckDBValue>;
  /** Hidden output columns counting values that did not parse as their declared type, by field name. */
  typeErrorColumns: { column: string; field: string }[];
}

class Compiler {
  readonly params: Record<string, DuckDBValue> = {};
  /** Typed customData fields read by the query, by name: their raw and typed expressions. */
  readonly typed = new Map<string, { raw: string; typed: string }>();

  bind(value: DuckDBValue): string {
    const name = `p${Object.keys(this.params).length}`;
    this.params[name] = value;
    return `$${name}`;
  }

  field(field: QueryField): string {
    if (field.kind === 'column') {
      const column = EVENT_COLUMN_OF.get(field.field);
      if (!column) throw new Error(`events have no field ${JSON.stringify(field.field)}`);
      return quote(column.column);
    }
    // DuckDB lists are 1-based and list_position is null for a missing key, which reads as null.
    const raw = `${CUSTOM_VALUES_COLUMN}[list_position(${CUSTOM_KEYS_COLUMN}, ${this.bind(field.key)})]`;
    if (field.type === 'text') return raw;
    const typed = `TRY_CAST(${raw} AS ${field.type === 'number' ? 'DOUBLE' : 'BOOLEAN'})`;
    this.typed.set(`customData.${field.key}`, { raw, typed });
    return typed;
  }

  value(field: QueryField, value: Scalar): string {
    if (value instanceof Date) return `${this.bind(value.toISOString())}::TIMESTAMP`;
    if (field.kind === 'custom' && field.type === 'number') return `${this.bind(Number(value))}::DOUBLE`;
    return this.bind(value as DuckDBValue);
  }

  filter(filter: QueryFilter): string {
    switch (filter.kind) {
      case 'and':
      case 'or':
        return `(${filter.filters.map((f) => this.filter(f)).join(` ${filter.kind.toUpperCase()} `)})`;
      case 'in': {
        const expr = this.field(filter.field);
        return `${expr} IN (${filter.values.map((v) => this.value(filter.field, v)).join(', ')})`;
      }
      case 'contains':
        return `contains(${this.field(filter.field)}, ${this.bind(filter.value)})`;
      case 'compare': {
        const expr = this.field(filter.field);
        if (filter.value === null) return filter.op === 'ne' ? `${expr} IS NOT NULL` : `${expr} IS NULL`;
        const value = this.value(filter.field, filter.value);
        if (filter.op === 'ne') return `(${expr} <> ${value} OR ${expr} IS NULL)`;
        return `${expr} ${COMPARISONS[filter.op]} ${value}`;
      }
    }
  }
}

export function compileAggregate(org: string, query: AggregateQuery): CompiledAggregate {
  const c = new Compiler();
  const select: string[] = [];
  const groups: string[] = [];
  if (query.bucket) {
    const zone = c.bind(query.bucket.timeZone);
    // Stored times are UTC: truncate in the asked zone's wall clock, then answer that wall time's instant.
    const local = `timezone(${zone}, timezone('UTC', derived_time))`;
    select.push(
      `timezone(${zone}, date_trunc('${query.bucket.unit}', ${local})) AS ${quote(query.bucket.name)}`,
    );
    groups.push(quote(query.bucket.name));
  }
  for (const { name, field } of query.dimensions) {
    select.push(`${c.field(field)} AS ${quote(name)}`);
    groups.push(quote(name));
  }
  for (const { name, fn, field } of query.measures) {
    const expr = field ? c.field(field) : '*';
    const aggregate =
      fn === 'count'
        ? 'count(*)'
        : fn === 'uniq'
          ? `count(DISTINCT ${expr})`
          : fn in QUANTILES
            ? `quantile_cont(${expr}, ${QUANTILES[fn as keyof typeof QUANTILES]})`
            : `${fn}(${expr})`;
    select.push(`${aggregate} AS ${quote(name)}`);
  }
  const conditions = ['org = $org', 'derived_time >= $from', 'derived_time < $to'];
  c.params.org = org;
  c.params.from = query.from.toISOString();
  c.params.to = query.to.toISOString();
  if (query.where) conditions.push(c.filter(query.where));
  const typeErrorColumns = [...c.typed].map(([field, { raw, typed }], i) => {
    const column = `__type_errors_${i}`;
    select.push(`count(*) FILTER (WHERE ${raw} IS NOT NULL AND ${typed} IS NULL) AS ${quote(column)}`);
    return { column, field };
  });
  const orderBy = query.orderBy.map((o) => `${quote(o.name)} ${o.descending ? 'DESC' : 'ASC'} NULLS LAST`);
  const sql =
    `SELECT ${select.join(', ')} FROM events WHERE ${conditions.join(' AND ')}` +
    (groups.length > 0 ? ` GROUP BY ${groups.join(', ')}` : '') +
    (orderBy.length > 0 ? ` ORDER BY ${orderBy.join(', ')}` : '') +
    ` LIMIT ${Math.trunc(query.limit)}`;
  return { sql, params: c.params, typeErrorColumns };
}
