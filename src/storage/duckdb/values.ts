import {
  BOOLEAN,
  DuckDBTimestampValue,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  LIST,
  listValue,
  TIMESTAMP,
  VARCHAR,
} from '@duckdb/node-api';
import type { CanonicalEvent, EventCategory } from '../../model/canonical-event.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMNS } from '../event-columns.ts';
import type { ColumnType, Scalar } from '../storage.ts';

/** JS values as DuckDB values (to write them, or bind them as parameters), and DuckDB's rows back as JS. */

export const TEXT_LIST = LIST(VARCHAR);

/** Each column type once: as a value type for chunks and parameters, and (as its text) for DDL. */
export const COLUMN_TYPES: Readonly<Record<ColumnType, DuckDBType>> = {
  text: VARCHAR,
  integer: INTEGER,
  boolean: BOOLEAN,
  timestamp: TIMESTAMP,
  'text[]': TEXT_LIST,
  json: VARCHAR,
};

export const timestamp = (date: Date) => new DuckDBTimestampValue(BigInt(date.getTime()) * 1000n);

/** A JS value as the DuckDB value of a column of this type. */
export function toValue(type: ColumnType, value: unknown): DuckDBValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'timestamp':
      return timestamp(value as Date);
    case 'text[]':
      return listValue(value as string[]);
    case 'json':
      return JSON.stringify(value);
    default:
      return value as DuckDBValue;
  }
}

/** A JS value as a parameter for a column of this type (a list says its type: an empty one has none of its own). */
export function toParam(type: ColumnType, value: unknown): { value: DuckDBValue; type?: DuckDBType } {
  return { value: toValue(type, value), ...(type === 'text[]' && { type: TEXT_LIST }) };
}

/** A value read from a column of this type, as JS. */
export function fromColumn(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'json') return JSON.parse(value as string);
  return value;
}

/** An aggregate row as JSON-ready scalars: DuckDB's big integers as numbers, times as Dates. */
export function plainRow(row: Record<string, unknown>): Record<string, Scalar> {
  const plain: Record<string, Scalar> = {};
  for (const [name, value] of Object.entries(row)) {
    plain[name] = typeof value === 'bigint' ? Number(value) : (value as Scalar);
  }
  return plain;
}

/** A row of the events table as the event it holds. */
export function rowToEvent(row: Record<string, unknown>): CanonicalEvent {
  const event: Record<string, unknown> = {};
  for (const { column, field, type } of EVENT_COLUMNS) {
    const value = fromColumn(type, row[column]);
    // The contract reads an event's empty list as none: ClickHouse's arrays cannot be null, so both engines agree.
    event[field] = type === 'text[]' && Array.isArray(value) && value.length === 0 ? null : value;
  }
  const keys = (row[CUSTOM_KEYS_COLUMN] as string[] | null) ?? [];
  const values = (row[CUSTOM_VALUES_COLUMN] as string[] | null) ?? [];
  event.customData = Object.fromEntries(keys.map((k, i) => [k, values[i] ?? '']));
  event.category = row.category as EventCategory;
  return event as unknown as CanonicalEvent;
}
