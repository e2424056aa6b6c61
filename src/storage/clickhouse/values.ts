import type { CanonicalEvent, EventCategory } from '../../model/canonical-event.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMNS } from '../event-columns.ts';
import type { ColumnType, TableShape } from '../storage.ts';
import { micros } from './sql.ts';

/**
 * JS values as JSONEachRow fields and back. Out, times are Int64 microseconds, booleans 0/1, JSON values their
 * text. Back, ClickHouse writes 64-bit integers as strings (they may exceed 2^53), so each is decoded by its
 * column's type.
 */

/** The column that holds an entity's field (`keyId` → `key_id`), unquoted. */
export const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

let lastVersion = 0;
/**
 * The engine's write clock for `_version`: microseconds now, and always more than the last in this process, so
 * a process's later write of a row wins over its earlier ones; across processes, the later clock wins.
 */
export function nextVersion(): number {
  lastVersion = Math.max(lastVersion + 1, Date.now() * 1000);
  return lastVersion;
}

/** A JS value as the JSONEachRow field of a column of this type. */
export function toField(type: ColumnType, value: unknown): unknown {
  if (value === undefined || value === null) return type === 'text[]' ? [] : null;
  switch (type) {
    case 'timestamp':
      return micros(value as Date);
    case 'boolean':
      return value ? 1 : 0;
    case 'json':
      return JSON.stringify(value);
    default:
      return value;
  }
}

/** A JSONEachRow field of a column of this type as JS. */
export function fromField(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'timestamp':
      return new Date(Math.floor(Number(value) / 1000));
    case 'integer':
      return Number(value);
    case 'boolean':
      return Number(value) !== 0;
    case 'json':
      return JSON.parse(value as string);
    default:
      return value;
  }
}

/**
 * Why the events table would refuse this event, or undefined: a required field missing, a time that is not
 * one, a number an Int64 column cannot hold, a value of another type. The same checks ClickHouse's parser makes
 * on a JSONEachRow row, made here so that one bad event can be told from its batch without writing anything.
 */
export function refusal(event: CanonicalEvent): string | undefined {
  const source = event as unknown as Record<string, unknown>;
  for (const { field, type, nullable } of EVENT_COLUMNS) {
    const value = source[field];
    if (value === null || value === undefined) {
      if (!nullable) return `${field} is required`;
      continue;
    }
    const fits =
      type === 'timestamp'
        ? value instanceof Date && Number.isFinite(value.getTime())
        : type === 'integer'
          ? Number.isSafeInteger(value)
          : type === 'boolean'
            ? typeof value === 'boolean'
            : type === 'text[]'
              ? Array.isArray(value) && value.every((item) => typeof item === 'string')
              : type === 'json'
                ? true
                : typeof value === 'string';
    if (!fits) return `${field} is not a ${type} value`;
  }
  const custom = Object.values(event.customData ?? {});
  if (!custom.every((value) => typeof value === 'string')) return 'customData values must be text';
  return undefined;
}

/** An event as a row of the events table, at a version, and deleted or not. */
export function eventToRow(event: CanonicalEvent, version: number, deleted = false): Record<string, unknown> {
  const source = event as unknown as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (const { column, field, type } of EVENT_COLUMNS) row[column] = toField(type, source[field]);
  const custom = Object.entries(event.customData ?? {});
  row[CUSTOM_KEYS_COLUMN] = custom.map(([k]) => k);
  row[CUSTOM_VALUES_COLUMN] = custom.map(([, v]) => v);
  row._version = version;
  row._deleted = deleted ? 1 : 0;
  return row;
}

/**
 * A row of the events table as the event it holds. A list column cannot be Nullable in ClickHouse, so an empty
 * list reads as null: events never hold an empty userGroups (src/ua/event-kinds.ts leaves it out instead).
 */
export function rowToEvent(row: Record<string, unknown>): CanonicalEvent {
  const event: Record<string, unknown> = {};
  for (const { column, field, type } of EVENT_COLUMNS) {
    const value = row[column];
    event[field] =
      type === 'text[]' && Array.isArray(value) && value.length === 0 ? null : fromField(type, value);
  }
  const keys = (row[CUSTOM_KEYS_COLUMN] as string[] | null) ?? [];
  const values = (row[CUSTOM_VALUES_COLUMN] as string[] | null) ?? [];
  event.customData = Object.fromEntries(keys.map((k, i) => [k, values[i] ?? '']));
  event.category = row.category as EventCategory;
  return event as unknown as CanonicalEvent;
}

/** An entity as a row of its table (columns in snake case), at a version, and deleted or not. */
export function entityToRow(table: TableShape, entity: object, version: number, deleted = false) {
  const source = entity as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (const [field, type] of Object.entries(table.columns)) row[snake(field)] = toField(type, source[field]);
  row._version = version;
  row._deleted = deleted ? 1 : 0;
  return row;
}

/** A row of an entity table as the entity: its fields, named as the table describes them. */
export function rowToEntity<Row extends object>(table: TableShape, raw: Record<string, unknown>): Row {
  const row: Record<string, unknown> = {};
  for (const [field, type] of Object.entries(table.columns)) row[field] = fromField(type, raw[snake(field)]);
  return row as Row;
}
