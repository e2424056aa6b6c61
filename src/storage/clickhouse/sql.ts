import type { ColumnType, Comparison, Filter, Scalar } from '../storage.ts';

/**
 * SQL text for ClickHouse. 18.16 has no query parameters over HTTP, so every value a request carries becomes
 * a literal here and nowhere else: strings with backslash and quote escaped, numbers checked finite, times as
 * the Int64 microseconds the tables hold.
 */

/** A column or table name as an identifier. */
export const ident = (name: string) => `\`${name.replaceAll('\\', '\\\\').replaceAll('`', '\\`')}\``;

/** An instant as the microseconds since the Unix epoch (UTC) that timestamp columns hold. */
export function micros(date: Date): number {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new Error('an invalid date cannot be stored');
  return ms * 1000;
}

/** A timestamp column (or expression of micros) as a DateTime in UTC, for bucketing and date functions. */
export const toInstant = (expr: string) => `toDateTime(intDiv(${expr}, 1000000), 'UTC')`;

/** Backslash first: it is the escape character of ClickHouse string literals. */
const quoteString = (value: string) => `'${value.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

/** A value as a ClickHouse literal. */
export function literal(value: Scalar | readonly string[]): string {
  if (value === null) return 'NULL';
  if (typeof value === 'string') return quoteString(value);
  if (typeof value === 'boolean') return value ? '1' : '0';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new Error(`${value} cannot be stored`);
    // Parenthesised so that `x - -1` and `[-1]` read as meant in every position.
    return value < 0 ? `(${String(value)})` : String(value);
  }
  if (value instanceof Date) return String(micros(value));
  // An empty [] has no item type (Array(Nothing)), which a String array column does not take.
  return value.length === 0 ? 'emptyArrayString()' : `[${value.map(quoteString).join(', ')}]`;
}

/**
 * A value as the literal of a column of this type: ClickHouse refuses to compare an Int64 with a String, where
 * DuckDB would cast, so the value is made the column's type here; one that cannot be is an error.
 */
export function literalOf(type: ColumnType, value: Scalar): string {
  if (value === null) return 'NULL';
  switch (type) {
    case 'timestamp': {
      if (value instanceof Date) return literal(value);
      if (typeof value === 'string') return literal(new Date(value));
      if (typeof value === 'number') return literal(value);
      break;
    }
    case 'integer': {
      if (typeof value === 'number' || typeof value === 'boolean') return literal(value);
      if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value)))
        return literal(Number(value));
      break;
    }
    case 'boolean': {
      if (typeof value === 'boolean') return literal(value);
      if (value === 0 || value === 1) return literal(value);
      if (value === 'true' || value === 'false') return literal(value === 'true');
      break;
    }
    default: {
      if (typeof value === 'string') return literal(value);
      if (value instanceof Date) return literal(value.toISOString());
      return literal(String(value));
    }
  }
  throw new Error(`${JSON.stringify(value)} is not a ${type} value`);
}

/** A field resolved to SQL: a column (already an identifier) or an expression, and its type. */
export interface Resolved {
  sql: string;
  type: ColumnType;
}

const COMPARISONS = { eq: '=', ne: '!=', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;

/**
 * A filter as a ClickHouse condition, with the null rules of storage.ts's Filter (DuckDB's filters.ts keeps
 * them the same way). A null condition in WHERE drops the row, as in DuckDB, so only `not` and `ne` need care.
 */
export function compileFilter<F>(filter: Filter<F>, resolve: (field: F) => Resolved): string {
  switch (filter.kind) {
    case 'and':
    case 'or':
      if (filter.filters.length === 0) return filter.kind === 'and' ? '1' : '0';
      return `(${filter.filters.map((f) => `(${compileFilter(f, resolve)})`).join(` ${filter.kind.toUpperCase()} `)})`;
    case 'not':
      // "not true": a condition unknown because a field is null counts as false inside, so `not` keeps the row.
      return `NOT ifNull((${compileFilter(filter.filter, resolve)}), 0)`;
    case 'match': {
      const { sql } = resolve(filter.field);
      const value = literal(filter.value);
      // position() is case-sensitive and byte-wise, which is what a substring test of UTF-8 text needs.
      if (filter.op === 'contains') return `position(${sql}, ${value}) > 0`;
      return `${filter.op === 'startswith' ? 'startsWith' : 'endsWith'}(${sql}, ${value})`;
    }
    case 'has':
      return `has(${resolve(filter.field).sql}, ${literal(filter.value)})`;
    case 'in': {
      const { sql, type } = resolve(filter.field);
      const present = filter.values.filter((v) => v !== null);
      const alternatives =
        present.length > 0 ? [`${sql} IN (${present.map((v) => literalOf(type, v)).join(', ')})`] : [];
      if (present.length < filter.values.length) alternatives.push(`isNull(${sql})`);
      return alternatives.length > 0 ? `(${alternatives.join(' OR ')})` : '0';
    }
    case 'compare': {
      const { sql, type } = resolve(filter.field);
      if (filter.value === null) {
        if (filter.op === 'eq') return `isNull(${sql})`;
        if (filter.op === 'ne') return `isNotNull(${sql})`;
        return '0';
      }
      return compare(sql, filter.op, literalOf(type, filter.value));
    }
  }
}

/** `expr op value` for a value that is not null; `ne` keeps the rows where `expr` is null, as DuckDB's does. */
export function compare(expr: string, op: Comparison, value: string): string {
  if (op === 'ne') return `ifNull(${expr} != ${value}, 1)`;
  return `${expr} ${COMPARISONS[op]} ${value}`;
}
