import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CanonicalEvent } from '../../model/canonical-event.ts';
import { parquetFromRowFile } from '../duckdb/event-export.ts';
import { eventToRowJson } from '../event-rows.ts';
import type { EventExport, EventScan } from '../storage.ts';
import { EventFields, POWER_TABLES } from './aggregate.ts';
import type { ClickHouseConnection } from './connection.ts';
import { DELETED_COLUMN } from './schema.ts';
import { compileFilter, ident, literal } from './sql.ts';
import { rowToEvent } from './values.ts';

/**
 * Exports of one organization's events (Storage.scanEvents, exportParquet) on ClickHouse: the rows stream
 * from the server as JSONEachRow. 18.16 writes no Parquet: the rows go to a temporary file of event rows, which
 * DuckDB turns into the same Parquet the embedded engine writes (parquetFromRowFile).
 */

/** The select of an export, over `columns`: the customData readings a filter names are defined beside them. */
function exportSelect(org: string, query: EventExport, columns: string, order: boolean): string {
  const fields = new EventFields();
  const conditions = [
    `${ident(DELETED_COLUMN)} = 0`,
    `org = ${literal(org)}`,
    `derived_time >= ${literal(query.from)}`,
    `derived_time < ${literal(query.to)}`,
  ];
  if (query.where) conditions.push(`(${compileFilter(query.where, fields.resolve)})`);
  const select = [columns, ...fields.definitions].join(', ');
  return (
    `${fields.readsNumbers ? `${POWER_TABLES} ` : ''}SELECT ${select} FROM events FINAL ` +
    `WHERE ${conditions.join(' AND ')}${order ? ' ORDER BY derived_time, id' : ''}`
  );
}

/**
 * An export's events: counted, then read. ClickHouse has no snapshot across two queries, so an event stored or
 * deleted in the range between the two makes the count differ from the rows by that much.
 */
export async function scanEvents(
  connection: ClickHouseConnection,
  org: string,
  query: EventExport,
): Promise<EventScan> {
  const [counted] = await connection.rows(
    `SELECT count() AS _count FROM (${exportSelect(org, query, '1 AS __one', false)})`,
  );
  const abort = new AbortController();
  const rows = connection.stream(exportSelect(org, query, '*', true), abort.signal);
  async function* chunks(): AsyncGenerator<CanonicalEvent[]> {
    try {
      for await (const batch of rows) yield batch.map(rowToEvent);
    } catch (error) {
      if (!abort.signal.aborted) throw error;
    }
  }
  return {
    rows: Number(counted?._count ?? 0),
    chunks: chunks(),
    close: async () => {
      abort.abort();
      await rows.return(undefined);
    },
  };
}

/** Writes an export's events to `file` as Parquet, through a temporary file of event rows. */
export async function exportParquet(
  connection: ClickHouseConnection,
  org: string,
  query: EventExport,
  file: string,
): Promise<number> {
  const dir = await mkdtemp(path.join(tmpdir(), 'openua-export-'));
  const rowFile = path.join(dir, 'rows.ndjson');
  const abort = new AbortController();
  try {
    const out = createWriteStream(rowFile);
    const closed = once(out, 'close');
    try {
      for await (const batch of connection.stream(exportSelect(org, query, '*', true), abort.signal)) {
        let text = '';
        for (const row of batch) text += `${eventToRowJson(rowToEvent(row))}\n`;
        if (!out.write(text)) await once(out, 'drain');
      }
    } finally {
      out.end();
      await closed;
    }
    return await parquetFromRowFile(rowFile, file);
  } finally {
    abort.abort();
    await rm(dir, { recursive: true, force: true });
  }
}
