import type { DuckDBValue } from '@duckdb/node-api';
import { EVENT_COLUMN_OF } from '../event-columns.ts';
import type { ColumnType, RecordFilter, RecordQuery, TableShape } from '../storage.ts';
import { compare, quote, snake } from './sql.ts';
import { toParam } from './values.ts';

/** Record filters (OData's `$filter`, the events API's) as DuckDB SQL, over events or an entity table. */

/** The column a field names, as SQL, and its type. */
export interface ResolvedColumn {
  column: string;
  type: ColumnType;
}

export function eventColumn(field: string): ResolvedColumn {
  const known = EVENT_COLUMN_OF.get(field);
  if (!known) throw new Error(`events have no field ${JSON.stringify(field)}`);
  return known;
}

export function entityColumn(table: TableShape) {
  return (field: string): ResolvedColumn => {
    const type = table.columns[field];
    if (!type) throw new Error(`${table.name} has no field ${JSON.stringify(field)}`);
    return { column: quote(snake(field)), type };
  };
}

/** Equality on the given fields, and the filter when there is one; '' when there is no condition. */
export function entityWhere(
  table: TableShape,
  equal: object,
  filter: RecordFilter | undefined,
  params: Record<string, DuckDBValue>,
): string {
  const conditions = Object.entries(equal)
    .filter(([, value]) => value !== undefined)
    .map(([field, value]) =>
      compileFilter({ kind: 'compare', op: 'eq', field, value: value as never }, entityColumn(table), params),
    );
  if (filter) conditions.push(`(${compileFilter(filter, entityColumn(table), params)})`);
  return conditions.join(' AND ');
}

const MATCHES = { contains: 'contains', startswith: 'starts_with', endswith: 'ends_with' } as const;

/** A filter as SQL whose every value is a parameter added to `params`. */
export function compileFilter(
  filter: RecordFilter,
  resolve: (field: string) => ResolvedColumn,
  params: Record<string, DuckDBValue>,
): string {
  const bind = (type: ColumnType, value: unknown) => {
    const name = `f${Object.keys(params).length}`;
    params[name] = toParam(type, value).value;
    return `$${name}`;
  };
  switch (filter.kind) {
    case 'and':
    case 'or':
      if (filter.filters.length === 0) return filter.kind === 'and' ? 'TRUE' : 'FALSE';
      return filter.filters
        .map((f) => `(${compileFilter(f, resolve, params)})`)
        .join(` ${filter.kind.toUpperCase()} `);
    case 'not':
      // NOT of an unknown (null) comparison is still unknown in SQL; OData means "not true".
      return `(${compileFilter(filter.filter, resolve, params)}) IS NOT TRUE`;
    case 'match': {
      const { column, type } = resolve(filter.field);
      return `${MATCHES[filter.op]}(${column}, ${bind(type, filter.value)})`;
    }
    case 'has': {
      const { column } = resolve(filter.field);
      return `list_contains(${column}, ${bind('text', filter.value)})`;
    }
    case 'in': {
      const { column, type } = resolve(filter.field);
      const present = filter.values.filter((v) => v !== null);
      const alternatives =
        present.length > 0 ? [`${column} IN (${present.map((v) => bind(type, v)).join(', ')})`] : [];
      if (present.length < filter.values.length) alternatives.push(`${column} IS NULL`);
      return alternatives.length > 0 ? `(${alternatives.join(' OR ')})` : 'FALSE';
    }
    case 'compare': {
      const { column, type } = resolve(filter.field);
      if (filter.value === null) {
        if (filter.op === 'eq') return `${column} IS NULL`;
        if (filter.op === 'ne') return `${column} IS NOT NULL`;
        return 'FALSE';
      }
      return compare(column, filter.op, bind(type, filter.value));
    }
  }
}

/** LIMIT and OFFSET, from numbers the caller has already checked. */
export function page(query: RecordQuery): string {
  const limit = query.limit === undefined ? '' : ` LIMIT ${Math.trunc(query.limit)}`;
  const offset = query.offset ? ` OFFSET ${Math.trunc(query.offset)}` : '';
  return limit + offset;
}
