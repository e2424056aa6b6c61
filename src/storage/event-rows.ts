import type { CanonicalEvent } from '../model/canonical-event.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMNS } from './event-columns.ts';

/**
 * An event as a row of the events table in JSON: the engine-neutral row shape the ingest log is written in, so
 * an engine loads a finished log segment with its own bulk reader (DuckDB's read_json) and JS never copies its
 * values one by one. Keys are EVENT_COLUMNS' columns plus customData's two lists; a null field is left out
 * (a bulk reader reads an absent key as null, and a UA event's line stays short); times are ISO 8601 in UTC
 * with milliseconds, which DuckDB's TIMESTAMP parses exactly; a json field is its JSON text (a string), so the
 * store keeps exactly the text JS wrote, not a reader's re-serialisation of it.
 */

const TIMESTAMPS = new Set(EVENT_COLUMNS.filter((c) => c.type === 'timestamp').map((c) => c.field));

/** Each field's column, and whether it is held as JSON text. A prototype-less object: the fastest lookup by key. */
const COLUMN_OF: Record<string, { column: string; json: boolean }> = Object.create(null);
for (const { column, field, type } of EVENT_COLUMNS) COLUMN_OF[field] = { column, json: type === 'json' };

/**
 * The row of an event, as one line of JSON without its newline. It runs for every event the server takes, on
 * the request's path: it walks the event's own fields (a UA event leaves most columns out) rather than every
 * column, which keeps it as fast as JSON.stringify of the event itself.
 */
export function eventToRowJson(event: CanonicalEvent): string {
  const source = event as unknown as Record<string, unknown>;
  const row: Record<string, unknown> = {};
  for (const field in source) {
    const known = COLUMN_OF[field];
    if (known === undefined) continue;
    const value = source[field];
    if (value === null || value === undefined) continue;
    row[known.column] = known.json ? JSON.stringify(value) : value;
  }
  const custom = event.customData ?? {};
  row[CUSTOM_KEYS_COLUMN] = Object.keys(custom);
  row[CUSTOM_VALUES_COLUMN] = Object.values(custom);
  return JSON.stringify(row);
}

/** A row parsed from JSON (eventToRowJson's), as the event it holds. */
export function rowJsonToEvent(row: Record<string, unknown>): CanonicalEvent {
  const event: Record<string, unknown> = {};
  for (const { column, field, type } of EVENT_COLUMNS) {
    const value = row[column];
    if (value === null || value === undefined) event[field] = null;
    else if (TIMESTAMPS.has(field)) event[field] = new Date(value as string);
    else if (type === 'json') event[field] = JSON.parse(value as string);
    else event[field] = value;
  }
  const keys = (row[CUSTOM_KEYS_COLUMN] as string[] | undefined) ?? [];
  const values = (row[CUSTOM_VALUES_COLUMN] as string[] | undefined) ?? [];
  event.customData = Object.fromEntries(keys.map((k, i) => [k, values[i] ?? '']));
  return event as unknown as CanonicalEvent;
}

/**
 * The key of the line that closes each write of row lines in the log: `{"#":<rows>,"b":<bytes of the rows>}`.
 * It is no column, so a bulk reader given the columns reads it as a row whose columns are all null; the
 * loader reads this key too, as a column, to leave those rows out.
 */
export const COMMIT_KEY = '#';
