import type { CanonicalEvent } from '../model/canonical-event.ts';
import { EVENT_FIELDS } from '../storage/event-fields.ts';
import type { ExportFormat } from './export-request.ts';

/**
 * How exported events are written, as text: NDJSON and CSV. (Parquet is the store's own work: Storage.exportParquet.)
 * - NDJSON: one JSON object per line, each exactly as GET /api/v1/events answers the event.
 * - CSV (RFC 4180, CRLF line ends): a header row naming each canonical field in EVENT_FIELDS' order, then
 *   customData. Times are ISO 8601 in UTC, list fields, json fields and customData are their JSON text. A null is
 *   an empty field and an empty text a quoted one (`""`), so a reader told so (DuckDB's `allow_quoted_nulls =
 *   false`) tells them apart. Values are written as stored, a leading `=`, `+`, `-` or `@` included: this is a raw
 *   export whose rows must read back exactly, and prefixing a quote to defuse a spreadsheet formula would change
 *   the data (an eventValue of `-1` would read back `'-1`). Open it in a spreadsheet as text, not by double-click.
 */

export const CONTENT_TYPES: Readonly<Record<ExportFormat, string>> = {
  csv: 'text/csv; charset=utf-8',
  ndjson: 'application/x-ndjson',
  parquet: 'application/vnd.apache.parquet',
};

/** The columns of the CSV export, in order. */
export const CSV_COLUMNS: readonly string[] = [...EVENT_FIELDS.keys(), 'customData'];

const FIELDS = [...EVENT_FIELDS.values()];

const NEEDS_QUOTES = /[",\r\n]/;

function cell(text: string): string {
  return text === '' || NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csvRow(event: CanonicalEvent): string {
  const source = event as unknown as Record<string, unknown>;
  let line = '';
  for (const { field, type } of FIELDS) {
    const value = source[field];
    if (value === null || value === undefined) line += ',';
    else if (type === 'timestamp') line += `${(value as Date).toISOString()},`;
    else if (type === 'text[]' || type === 'json') line += `${cell(JSON.stringify(value))},`;
    else line += `${cell(String(value))},`;
  }
  return `${line}${cell(JSON.stringify(event.customData ?? {}))}\r\n`;
}

/** The text that opens an export of this format, before any event. */
export function header(format: Exclude<ExportFormat, 'parquet'>): string {
  return format === 'csv' ? `${CSV_COLUMNS.map(cell).join(',')}\r\n` : '';
}

/** Events as the lines of an export of this format. */
export function encode(format: Exclude<ExportFormat, 'parquet'>, events: readonly CanonicalEvent[]): string {
  let text = '';
  if (format === 'csv') for (const event of events) text += csvRow(event);
  else for (const event of events) text += `${JSON.stringify(event)}\n`;
  return text;
}
