import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type DuckDBConnection, DuckDBInstance, type DuckDBValue } from '@duckdb/node-api';
import type { CanonicalEvent } from '../../model/canonical-event.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMNS } from '../event-columns.ts';
import { rowJsonToEvent } from '../event-rows.ts';
import type { EventExport, EventScan } from '../storage.ts';
import { eventCondition } from './aggregate.ts';
import { quote } from './sql.ts';
import { COLUMN_TYPES, timestamp } from './values.ts';

/**
 * Exports of one organization's events (Storage.scanEvents, exportParquet) on the embedded engine, each on a
 * connection of its own: a read of millions of rows neither waits behind nor holds up the store's two connections.
 * The Parquet columns are defined here once, and ClickHouse's export writes its Parquet through them too
 * (parquetFromRowFile), so both engines answer the same file.
 */

const sqlString = (text: string) => `'${text.replaceAll("'", "''")}'`;

/** The store-wide order of an export: reproducible, and the order events happened in. */
const ORDER = 'derived_time, id';

/**
 * The Parquet columns, over a relation with the events table's columns: each canonical field under its own name
 * in EVENT_FIELDS' order (times as TIMESTAMP in UTC, lists as lists, json fields as their JSON text), then
 * customData as a MAP(VARCHAR, VARCHAR). An empty list is null, as every read of the contract answers it.
 */
const PARQUET_COLUMNS = [
  ...EVENT_COLUMNS.map(({ column, field, type }) =>
    type === 'text[]'
      ? `CASE WHEN len(${quote(column)}) = 0 THEN NULL ELSE ${quote(column)} END AS ${quote(field)}`
      : `${quote(column)} AS ${quote(field)}`,
  ),
  `map(coalesce(${CUSTOM_KEYS_COLUMN}, []::VARCHAR[]), coalesce(${CUSTOM_VALUES_COLUMN}, []::VARCHAR[])) AS "customData"`,
].join(', ');

/**
 * The condition of an export, every value inlined as a literal: COPY takes no parameters. Times and the
 * organization are literals made here; the filter's values are bound by the compiler, then inlined by
 * `inline` below.
 */
function exportWhere(org: string, query: EventExport): { sql: string; params: Record<string, DuckDBValue> } {
  const params: Record<string, DuckDBValue> = {
    xorg: org,
    xfrom: timestamp(query.from),
    xto: timestamp(query.to),
  };
  let sql = 'org = $xorg AND derived_time >= $xfrom AND derived_time < $xto';
  if (query.where) {
    const condition = eventCondition(query.where);
    sql += ` AND (${condition.sql})`;
    Object.assign(params, condition.params);
  }
  return { sql, params };
}

/** Most events one window of a scan sorts at once (a minute with more is a window of its own). */
const WINDOW_ROWS = 5_000;

/**
 * Each event as one JSON text in the ingest log's row shape (storage/event-rows.ts), times as ISO 8601 in UTC,
 * an empty list as null. One text per row is what makes a scan fast: DuckDB's conversion of ~45 values a row to
 * JS ran at ~16k rows/s, parsing one JSON text a row runs several times faster.
 */
const ROW_JSON = `to_json({${[
  ...EVENT_COLUMNS.map(({ column, type }) => {
    const name = quote(column);
    if (type === 'timestamp') return `${name}: strftime(${name}, '%Y-%m-%dT%H:%M:%S.%gZ')`;
    if (type === 'text[]') return `${name}: CASE WHEN len(${name}) = 0 THEN NULL ELSE ${name} END`;
    return `${name}: ${name}`;
  }),
  `${CUSTOM_KEYS_COLUMN}: ${CUSTOM_KEYS_COLUMN}`,
  `${CUSTOM_VALUES_COLUMN}: ${CUSTOM_VALUES_COLUMN}`,
].join(', ')}})::VARCHAR`;

interface Window {
  /** Epoch milliseconds of its first minute. */
  from: number;
  /** Epoch milliseconds of the minute after it; infinite for the last. */
  to: number;
}

/**
 * The windows of about `size` events each, of whole minutes, that an export's range is read in, planned from the
 * events per minute (a minute with more is a window of its own); and how many events they hold in all.
 */
async function planWindows(
  connection: DuckDBConnection,
  where: string,
  params: Record<string, DuckDBValue>,
  size: number,
): Promise<{ rows: number; windows: Window[] }> {
  const perMinute = await connection.runAndReadAll(
    `SELECT epoch_ms(date_trunc('minute', derived_time)) AS m, count(*) AS n FROM events WHERE ${where} GROUP BY m ORDER BY m`,
    params,
  );
  const windows: Window[] = [];
  let rows = 0;
  let open: { from: number; rows: number } | undefined;
  for (const [minute, count] of perMinute.getRowsJS() as [bigint | number, bigint | number][]) {
    const m = Number(minute);
    const n = Number(count);
    rows += n;
    if (open && open.rows + n > size) {
      windows.push({ from: open.from, to: m });
      open = undefined;
    }
    open = open ? { from: open.from, rows: open.rows + n } : { from: m, rows: n };
  }
  if (open) windows.push({ from: open.from, to: Number.POSITIVE_INFINITY });
  return { rows, windows };
}

/** A window as a condition on the derived time, its bounds added to the export's parameters. */
function windowCondition(
  window: Window,
  params: Record<string, DuckDBValue>,
): { within: string; bounds: Record<string, DuckDBValue> } {
  const bounds: Record<string, DuckDBValue> = { ...params, wfrom: timestamp(new Date(window.from)) };
  let within = 'derived_time >= $wfrom';
  if (Number.isFinite(window.to)) {
    bounds.wto = timestamp(new Date(window.to));
    within += ' AND derived_time < $wto';
  }
  return { within, bounds };
}

/**
 * An export's events, counted and read in one transaction (one snapshot): the count is exactly what the chunks
 * hold. Sorting a whole range of wide rows at once took most of the memory limit, and more: the range is read in
 * windows of whole minutes of about WINDOW_ROWS events each, planned from the events per minute, each sorted alone.
 */
export async function scanEvents(
  connection: DuckDBConnection,
  org: string,
  query: EventExport,
): Promise<EventScan> {
  const { sql: where, params } = exportWhere(org, query);
  let closed = false;
  let disconnected = false;
  /** The call into DuckDB under way, if any: the connection closes only once it is done. */
  let pending: Promise<unknown> | undefined;
  const track = <T>(call: Promise<T>): Promise<T> => {
    pending = call;
    return call;
  };
  // Closing the connection ends its transaction, and frees what the read holds.
  const disconnect = async () => {
    await pending?.catch(() => undefined);
    if (disconnected) return;
    disconnected = true;
    connection.closeSync();
  };
  const close = async () => {
    closed = true;
    // A read under way stops at once.
    if (pending) connection.interrupt();
    await disconnect();
  };
  try {
    await connection.run('BEGIN TRANSACTION');
    const { rows, windows } = await planWindows(connection, where, params, WINDOW_ROWS);
    async function* chunks(): AsyncGenerator<CanonicalEvent[]> {
      try {
        for (const window of windows) {
          if (closed) break;
          const { within, bounds } = windowCondition(window, params);
          // The rows sorted first, then each made its JSON text: sorting the texts would hold them all.
          const result = await track(
            connection.stream(
              `SELECT ${ROW_JSON} AS row FROM (SELECT * FROM events WHERE ${where} AND ${within} ORDER BY ${ORDER})`,
              bounds,
            ),
          );
          // The next chunk is fetched (in DuckDB's threads) while this one is turned into events.
          let next = track(result.fetchChunk());
          for (;;) {
            const chunk = await next;
            if (closed || !chunk || chunk.rowCount === 0) break;
            next = track(result.fetchChunk());
            const texts = chunk.getColumnVector(0);
            const events: CanonicalEvent[] = new Array(chunk.rowCount);
            for (let i = 0; i < chunk.rowCount; i++) {
              events[i] = rowJsonToEvent(JSON.parse(texts.getItem(i) as string));
            }
            yield events;
          }
        }
      } catch (error) {
        if (!closed) throw error;
      } finally {
        closed = true;
        await disconnect();
      }
    }
    return { rows, chunks: chunks(), close };
  } catch (error) {
    await disconnect();
    throw error;
  }
}

/** COPY (…) TO takes no parameters: each is written as a literal of its own type. */
function inline(sql: string, params: Record<string, DuckDBValue>): string {
  return sql.replace(/\$(\w+)/g, (whole, name: string) => {
    if (!(name in params)) return whole;
    const value = params[name];
    if (value === null || value === undefined) return 'NULL';
    if (typeof value === 'string') return sqlString(value);
    if (typeof value === 'number' || typeof value === 'bigint') return String(value);
    if (typeof value === 'boolean') return value ? 'TRUE' : 'FALSE';
    // A time: the only other value the export's condition binds.
    return `${sqlString(value.toString())}::TIMESTAMP`;
  });
}

/** Most events one window of a Parquet export sorts at once. */
const PARQUET_WINDOW_ROWS = 10_000;

/**
 * Rows per row group of the Parquet files written: DuckDB holds a whole row group before writing it, and its
 * default (122,880 rows of ~45 columns) took more than the memory limit.
 */
const ROW_GROUP_ROWS = 10_000;

/**
 * Writes an export's events to `file` as Parquet (PARQUET_COLUMNS); answers how many. One COPY sorting 10M events
 * ran out of memory under the 192 MB limit: each window of the range (read in one transaction) is sorted and
 * written to a part file of its own, then the parts, in order, are written as the one file.
 */
export async function exportParquet(
  connection: DuckDBConnection,
  org: string,
  query: EventExport,
  file: string,
): Promise<number> {
  const parts = await mkdtemp(`${file}.parts-`);
  try {
    const { sql: where, params } = exportWhere(org, query);
    await connection.run('BEGIN TRANSACTION');
    const { windows } = await planWindows(connection, where, params, PARQUET_WINDOW_ROWS);
    const files: string[] = [];
    for (const window of windows) {
      const { within, bounds } = windowCondition(window, params);
      const part = path.join(parts, `${String(files.length).padStart(6, '0')}.parquet`);
      await copyToParquet(
        connection,
        `SELECT ${PARQUET_COLUMNS} FROM events WHERE ${inline(`${where} AND ${within}`, bounds)} ORDER BY ${ORDER}`,
        part,
      );
      files.push(part);
    }
    await connection.run('COMMIT');
    if (files.length === 0) {
      return await copyToParquet(connection, `SELECT ${PARQUET_COLUMNS} FROM events WHERE FALSE`, file);
    }
    // Insertion order is kept (DuckDB's default): the parts' rows come in the order of the list.
    return await inScratchDuckDB('64MB', (scratch) =>
      copyToParquet(scratch, `SELECT * FROM read_parquet([${files.map(sqlString).join(', ')}])`, file),
    );
  } finally {
    connection.closeSync();
    await rm(parts, { recursive: true, force: true });
  }
}

async function copyToParquet(connection: DuckDBConnection, select: string, file: string): Promise<number> {
  const reader = await connection.runAndReadAll(
    `COPY (${select}) TO ${sqlString(file)} (FORMAT PARQUET, COMPRESSION SNAPPY, ROW_GROUP_SIZE ${ROW_GROUP_ROWS})`,
  );
  const [row] = reader.getRowsJS();
  return Number(row?.[0] ?? 0);
}

/** read_json's columns for a file of event rows (storage/event-rows.ts). */
const ROW_COLUMNS = `{${[
  ...EVENT_COLUMNS.map(({ column, type }) => [column, COLUMN_TYPES[type].toString()]),
  [CUSTOM_KEYS_COLUMN, 'VARCHAR[]'],
  [CUSTOM_VALUES_COLUMN, 'VARCHAR[]'],
]
  .map(([c, t]) => `${sqlString(c as string)}: ${sqlString(t as string)}`)
  .join(', ')}}`;

/**
 * Writes a file of event rows (eventToRowJson's lines, already in the export's order) as the same Parquet an
 * export of the embedded engine writes: for an engine that cannot write Parquet itself. DuckDB reads the file
 * (inScratchDuckDB), so no value passes through JS twice.
 */
export function parquetFromRowFile(rowFile: string, file: string): Promise<number> {
  // read_json's buffers took more than 64 MB; ClickHouse's server process has no other DuckDB.
  return inScratchDuckDB('128MB', (scratch) =>
    copyToParquet(
      scratch,
      `SELECT ${PARQUET_COLUMNS} FROM read_json(${sqlString(rowFile)}, format = 'newline_delimited', columns = ${ROW_COLUMNS})`,
      file,
    ),
  );
}

/**
 * A throwaway in-memory DuckDB of one thread, for copying rows that are in order already from files to a file.
 * With several threads, keeping the order buffered what the threads read ahead: merging the parts of 10M events
 * took over 500 MB. One thread reads and writes in turn, and its instance's settings leave the store's alone.
 */
async function inScratchDuckDB<T>(
  memoryLimit: string,
  work: (connection: DuckDBConnection) => Promise<T>,
): Promise<T> {
  // Its own place to spill: an in-memory DuckDB spills to `.tmp` in the working directory, which two of them
  // (two exports, or a server and a CLI) would share and overwrite.
  const spill = await mkdtemp(path.join(tmpdir(), 'openua-duckdb-scratch-'));
  try {
    const instance = await DuckDBInstance.create(':memory:', {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      threads: '1',
      memory_limit: memoryLimit,
      preserve_insertion_order: 'true',
      temp_directory: spill,
    });
    const connection = await instance.connect();
    try {
      return await work(connection);
    } finally {
      connection.closeSync();
      instance.closeSync();
    }
  } finally {
    await rm(spill, { recursive: true, force: true });
  }
}
