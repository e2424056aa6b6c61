import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  BOOLEAN,
  type DuckDBConnection,
  DuckDBDataChunk,
  DuckDBInstance,
  DuckDBTimestampValue,
  type DuckDBType,
  type DuckDBValue,
  INTEGER,
  LIST,
  listValue,
  TIMESTAMP,
  VARCHAR,
} from '@duckdb/node-api';
import type { CanonicalEvent, EventCategory } from '../../ingest/canonical-event.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMNS } from '../event-columns.ts';
import type { Checkpoint, ColumnType, EntityTable, EventReadQuery, LastVisit, Storage } from '../storage.ts';

const TEXT_LIST = LIST(VARCHAR);
/** Each column type once: as a value type for chunks and parameters, and (as its text) for DDL. */
const COLUMN_TYPES: Record<ColumnType, DuckDBType> = {
  text: VARCHAR,
  integer: INTEGER,
  boolean: BOOLEAN,
  timestamp: TIMESTAMP,
  'text[]': TEXT_LIST,
  json: VARCHAR,
};
/** Rows per data chunk, and between two yields to the event loop (a few ms of work). */
const CHUNK_ROWS = 512;
const EVENT_TYPES: DuckDBType[] = [...EVENT_COLUMNS.map((c) => COLUMN_TYPES[c.type]), TEXT_LIST, TEXT_LIST];

const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

const timestamp = (date: Date) => new DuckDBTimestampValue(BigInt(date.getTime()) * 1000n);

/** Runs async work on one connection strictly one at a time: a DuckDB connection holds one transaction. */
class Serial {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.tail.then(work, work);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

function toParam(type: ColumnType, value: unknown): { value: DuckDBValue; type?: DuckDBType } {
  if (value === null || value === undefined) return { value: null };
  switch (type) {
    case 'timestamp':
      return { value: timestamp(value as Date) };
    case 'text[]':
      return { value: listValue(value as string[]), type: TEXT_LIST };
    case 'json':
      return { value: JSON.stringify(value) };
    default:
      return { value: value as DuckDBValue };
  }
}

function fromColumn(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'json') return JSON.parse(value as string);
  return value;
}

/** The embedded engine: one DuckDB file, one write connection for events, one for everything else. */
export class DuckDBStorage implements Storage {
  readonly engine = 'duckdb';
  private readonly writeQueue = new Serial();
  private readonly otherQueue = new Serial();

  private constructor(
    readonly location: string,
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly other: DuckDBConnection,
  ) {}

  static async open(dataDir: string): Promise<DuckDBStorage> {
    mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, 'openua.duckdb');
    const instance = await DuckDBInstance.create(file);
    const [writer, other] = await Promise.all([instance.connect(), instance.connect()]);
    return new DuckDBStorage(file, instance, writer, other);
  }

  async migrate(entities: readonly EntityTable<object>[]): Promise<void> {
    const eventColumns = [
      ...EVENT_COLUMNS.map((c) => `${c.column} ${COLUMN_TYPES[c.type]}${c.nullable ? '' : ' NOT NULL'}`),
      `${CUSTOM_KEYS_COLUMN} ${TEXT_LIST} NOT NULL`,
      `${CUSTOM_VALUES_COLUMN} ${TEXT_LIST} NOT NULL`,
    ];
    await this.otherQueue.run(async () => {
      await this.other.run(`CREATE TABLE IF NOT EXISTS events (${eventColumns.join(', ')})`);
      await this.other.run(
        'CREATE TABLE IF NOT EXISTS checkpoints (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)',
      );
      for (const table of entities) {
        const columns = Object.entries(table.columns).map(
          ([name, type]) => `${quote(snake(name))} ${COLUMN_TYPES[type as ColumnType]}`,
        );
        const key = table.key.map((k) => quote(snake(k))).join(', ');
        await this.other.run(
          `CREATE TABLE IF NOT EXISTS ${quote(table.name)} (${columns.join(', ')}, PRIMARY KEY (${key}))`,
        );
      }
    });
  }

  appendEvents(events: readonly CanonicalEvent[], checkpoint?: Checkpoint): Promise<void> {
    return this.writeQueue.run(async () => {
      await this.writer.run('BEGIN TRANSACTION');
      try {
        const appender = await this.writer.createAppender('events');
        for (let from = 0; from < events.length; from += CHUNK_ROWS) {
          appender.appendDataChunk(eventChunk(events, from, Math.min(from + CHUNK_ROWS, events.length)));
          // Building chunks runs on the event loop: let requests through between chunks of a big batch.
          if (from + CHUNK_ROWS < events.length) await new Promise<void>((r) => setImmediate(r));
        }
        // The appender writes into the open transaction only when flushed: close it before COMMIT.
        appender.closeSync();
        if (checkpoint) {
          await this.writer.run('INSERT OR REPLACE INTO checkpoints VALUES ($1, $2)', [
            checkpoint.name,
            checkpoint.value,
          ]);
        }
        await this.writer.run('COMMIT');
      } catch (error) {
        await this.writer.run('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  async readEvents(query: EventReadQuery): Promise<CanonicalEvent[]> {
    const where = ['org = $org'];
    const params: Record<string, DuckDBValue> = { org: query.org };
    if (query.from) {
      where.push('derived_time >= $from');
      params.from = timestamp(query.from);
    }
    if (query.to) {
      where.push('derived_time < $to');
      params.to = timestamp(query.to);
    }
    if (query.eventType !== undefined) {
      where.push('event_type = $eventType');
      params.eventType = query.eventType;
    }
    const sql = `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY derived_time DESC, id DESC LIMIT ${Math.trunc(query.limit)}`;
    const rows = await this.read(sql, params);
    return rows.map(rowToEvent);
  }

  async readCheckpoint(name: string): Promise<string | undefined> {
    const [row] = await this.read('SELECT value FROM checkpoints WHERE name = $name', { name });
    return row?.value as string | undefined;
  }

  async lastVisit(org: string, visitorId: string): Promise<LastVisit | undefined> {
    const rows = await this.read(
      'SELECT visit_id, received_time FROM events WHERE org = $org AND visitor_id = $visitor ORDER BY received_time DESC LIMIT 1',
      { org, visitor: visitorId },
    );
    const row = rows[0];
    return row ? { visitId: row.visit_id as string, lastSeen: row.received_time as Date } : undefined;
  }

  upsert<Row extends object>(table: EntityTable<Row>, row: Row): Promise<void> {
    const names = Object.keys(table.columns) as (keyof Row & string)[];
    const values: DuckDBValue[] = [];
    const types: (DuckDBType | undefined)[] = [];
    for (const name of names) {
      const param = toParam(table.columns[name], row[name]);
      values.push(param.value);
      types.push(param.type);
    }
    const sql = `INSERT OR REPLACE INTO ${quote(table.name)} (${names.map((n) => quote(snake(n))).join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')})`;
    return this.otherQueue.run(async () => {
      await this.other.run(sql, values, types as DuckDBType[]);
    });
  }

  async find<Row extends object>(table: EntityTable<Row>, where: Partial<Row>): Promise<Row[]> {
    const names = Object.keys(table.columns) as (keyof Row & string)[];
    const conditions: string[] = [];
    const params: Record<string, DuckDBValue> = {};
    for (const [name, value] of Object.entries(where) as [keyof Row & string, unknown][]) {
      if (value === undefined) continue;
      const param = toParam(table.columns[name], value);
      params[`p${conditions.length}`] = param.value;
      conditions.push(`${quote(snake(name))} = $p${conditions.length}`);
    }
    const sql = `SELECT * FROM ${quote(table.name)}${conditions.length ? ` WHERE ${conditions.join(' AND ')}` : ''} ORDER BY ${table.key.map((k) => quote(snake(k))).join(', ')}`;
    const rows = await this.read(sql, params);
    return rows.map((raw) => {
      const row: Record<string, unknown> = {};
      for (const name of names) row[name] = fromColumn(table.columns[name], raw[snake(name)]);
      return row as Row;
    });
  }

  async close(): Promise<void> {
    await this.writeQueue.run(async () => undefined);
    await this.otherQueue.run(async () => {
      // A checkpoint folds the WAL into the file so the next start does not replay it.
      await this.other.run('CHECKPOINT').catch(() => undefined);
    });
    this.writer.closeSync();
    this.other.closeSync();
    this.instance.closeSync();
  }

  private read(sql: string, params: Record<string, DuckDBValue>): Promise<Record<string, unknown>[]> {
    return this.otherQueue.run(async () => {
      const reader = await this.other.runAndReadAll(sql, params);
      return reader.getRowObjectsJS() as Record<string, unknown>[];
    });
  }
}

/**
 * Rows [from, to) as one columnar chunk: one native call per chunk instead of one per value, which is
 * most of the appender's cost on the event loop.
 */
function eventChunk(events: readonly CanonicalEvent[], from: number, to: number): DuckDBDataChunk {
  const columns: DuckDBValue[][] = EVENT_TYPES.map(() => new Array(to - from));
  for (let row = from; row < to; row++) {
    const event = events[row] as CanonicalEvent;
    const at = row - from;
    EVENT_COLUMNS.forEach(({ field, type }, c) => {
      const value = event[field];
      (columns[c] as DuckDBValue[])[at] =
        value === null || value === undefined
          ? null
          : type === 'timestamp'
            ? timestamp(value as Date)
            : (value as DuckDBValue);
    });
    const keys = Object.keys(event.customData);
    (columns[EVENT_COLUMNS.length] as DuckDBValue[])[at] = listValue(keys);
    (columns[EVENT_COLUMNS.length + 1] as DuckDBValue[])[at] = listValue(
      keys.map((k) => event.customData[k] as string),
    );
  }
  const chunk = DuckDBDataChunk.create(EVENT_TYPES, to - from);
  chunk.setColumns(columns);
  return chunk;
}

function rowToEvent(row: Record<string, unknown>): CanonicalEvent {
  const event: Record<string, unknown> = {};
  for (const { column, field } of EVENT_COLUMNS) event[field] = row[column] ?? null;
  const keys = (row[CUSTOM_KEYS_COLUMN] as string[] | null) ?? [];
  const values = (row[CUSTOM_VALUES_COLUMN] as string[] | null) ?? [];
  event.customData = Object.fromEntries(keys.map((k, i) => [k, values[i] ?? '']));
  event.category = row.category as EventCategory;
  return event as unknown as CanonicalEvent;
}
