import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  BOOLEAN,
  type DuckDBAppender,
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
import bindings from '@duckdb/node-bindings';
// Before any read: text comes back exactly as it was stored (a leading U+FEFF included).
import './text-decoding.ts';
import type { CanonicalEvent, EventCategory } from '../../model/canonical-event.ts';
import {
  CUSTOM_KEYS_COLUMN,
  CUSTOM_VALUES_COLUMN,
  EVENT_COLUMN_OF,
  EVENT_COLUMNS,
} from '../event-columns.ts';
import type {
  AggregateQuery,
  AggregateResult,
  Checkpoint,
  ColumnType,
  EntityTable,
  EntityWrite,
  KeyedEvent,
  LastVisit,
  RecordFilter,
  RecordPage,
  RecordQuery,
  Scalar,
  Storage,
  StorageObserver,
  StoreMemory,
  TableShape,
  UnitQuery,
  ValueCount,
} from '../storage.ts';
import { type CompiledAggregate, compileAggregate, compileUnits } from './aggregate.ts';
import {
  CHUNK_EXTENT,
  DIRTY_DDL,
  DIRTY_TABLE,
  DROP_CHUNK,
  KPI_UNITS_CHECKPOINT,
  KPI_UNITS_VERSION,
  MARK_ALL,
  markChunk,
  marksOf,
  markWhere,
  REBUILD_CHUNK,
  UNIT_CHUNK,
  UNIT_SPAN_MS,
  UNIT_TABLE,
  UNIT_TABLES_DDL,
  type UnitChunk,
} from './kpi-units.ts';

const TEXT_LIST = LIST(VARCHAR);
/** Each column type once: as a value type for chunks and parameters, and (as its text) for DDL. */
export const COLUMN_TYPES: Readonly<Record<ColumnType, DuckDBType>> = {
  text: VARCHAR,
  integer: INTEGER,
  boolean: BOOLEAN,
  timestamp: TIMESTAMP,
  'text[]': TEXT_LIST,
  json: VARCHAR,
};
/** Rows per data chunk, and between two yields to the event loop (a few ms of work). */
const CHUNK_ROWS = 512;
/** How soon after a write that marked KPI units they are rebuilt in the background. */
const UNITS_REFRESH_DELAY_MS = 1000;

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

/** A JS value as the DuckDB value of a column of this type. */
function toValue(type: ColumnType, value: unknown): DuckDBValue {
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

function toParam(type: ColumnType, value: unknown): { value: DuckDBValue; type?: DuckDBType } {
  return { value: toValue(type, value), ...(type === 'text[]' && { type: TEXT_LIST }) };
}

function fromColumn(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (type === 'json') return JSON.parse(value as string);
  return value;
}

/** The embedded engine: one DuckDB file, one write connection for events, one for everything else. */
/**
 * A store from before language tags held the tag as sent in `language` (`en-US`); reports split by the
 * ISO 639-1 code, so those rows get the code there and the tag beside it, as new events do. The tags were
 * checked as `^[A-Za-z]{2}([-_][A-Za-z0-9]{1,8})*$`, so the code is their first two letters.
 */
const SPLIT_LANGUAGE_TAGS = `UPDATE events SET language_tag = language, language = lower(left(language, 2))
  WHERE language IS NOT NULL AND category <> 'kpi'`;

/** DuckDB's way of writing a size (`244.1 MiB`, `1.0 GiB`, `512 bytes`) in bytes; NaN if it is not one. */
function bytesOf(text: string): number {
  const [, amount, unit] = /^([\d.]+)\s*(\w+)$/.exec(text.trim()) ?? [];
  const scale: Record<string, number> = {
    bytes: 1,
    KiB: 2 ** 10,
    MiB: 2 ** 20,
    GiB: 2 ** 30,
    TiB: 2 ** 40,
    KB: 1e3,
    MB: 1e6,
    GB: 1e9,
    TB: 1e12,
  };
  return Math.round(Number(amount) * (scale[unit ?? ''] ?? Number.NaN));
}

/** DuckDB's memory limit unless the configuration sets one (OPENUA_STORE_MEMORY_LIMIT). */
export const DEFAULT_MEMORY_LIMIT = '256MB';

export class DuckDBStorage implements Storage {
  readonly engine = 'duckdb';
  private readonly writeQueue = new Serial();
  private readonly otherQueue = new Serial();
  /** How each column of the events table, in the store's order, is filled from an event (set by migrate). */
  private eventLayout: readonly EventSlot[] = EVENT_SLOTS;
  /**
   * The one chunk every load fills, again and again. A chunk's native memory (about 1.5 MB: every column at
   * DuckDB's full vector size) is freed only when V8 collects its small JS wrapper, which V8 does not hurry
   * to do: a chunk made per 512 rows left hundreds of MB of them waiting under a flood.
   */
  private eventChunk: DuckDBDataChunk | undefined;
  private unitsRefresh: Promise<void> | undefined;
  private unitsTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private observer: StorageObserver = {};

  private constructor(
    readonly location: string,
    private readonly instance: DuckDBInstance,
    private readonly writer: DuckDBConnection,
    private readonly other: DuckDBConnection,
    private readonly unitChunk: UnitChunk,
  ) {}

  /** `unitChunk`: how many marked conversations and agents one KPI-unit rebuild transaction takes. */
  static async open(
    dataDir: string,
    options: { unitChunk?: UnitChunk; memoryLimit?: string } = {},
  ): Promise<DuckDBStorage> {
    mkdirSync(dataDir, { recursive: true });
    const file = path.join(dataDir, 'openua.duckdb');
    // Every extension OpenUA uses (ICU for time zones) is built in: nothing may be downloaded at run time.
    const instance = await DuckDBInstance.create(file, {
      autoinstall_known_extensions: 'false',
      autoload_known_extensions: 'false',
      // DuckDB would take 80% of the machine's memory for its buffers, and keep what a big task allocated:
      // a server beside others must stay bounded, and give memory back once a load or a query is done.
      memory_limit: options.memoryLimit ?? DEFAULT_MEMORY_LIMIT,
      allocator_flush_threshold: '16MB',
      // DuckDB's allocator keeps freed pages for reuse; its background threads give them back to the system once
      // idle, so a server returns near its resting size after a burst instead of staying at the burst's peak.
      allocator_background_threads: 'true',
    });
    const [writer, other] = await Promise.all([instance.connect(), instance.connect()]);
    return new DuckDBStorage(file, instance, writer, other, options.unitChunk ?? UNIT_CHUNK);
  }

  async migrate(entities: readonly EntityTable<object>[]): Promise<void> {
    const eventColumns = [
      ...EVENT_COLUMNS.map((c) => ({ name: c.column, type: c.type, nullable: c.nullable })),
      { name: CUSTOM_KEYS_COLUMN, type: 'text[]' as const, nullable: false },
      { name: CUSTOM_VALUES_COLUMN, type: 'text[]' as const, nullable: false },
    ];
    await this.otherQueue.run(async () => {
      const before = new Set((await this.columnsOf('events')).map((c) => c.name));
      await this.createOrExtend('events', eventColumns, []);
      if (before.size > 0 && !before.has('language_tag')) await this.other.run(SPLIT_LANGUAGE_TAGS);
      await this.other.run(
        'CREATE TABLE IF NOT EXISTS checkpoints (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)',
      );
      for (const table of entities) {
        const columns = Object.entries(table.columns).map(([name, type]) => ({
          name: snake(name),
          type: type as ColumnType,
          nullable: true,
        }));
        await this.createOrExtend(table.name, columns, table.key.map(snake));
      }
      await this.migrateUnits();
      // Units marked and not yet rebuilt (a new table, or a stop before the rebuild) are rebuilt soon.
      this.scheduleUnits();
      // Rows are appended in the store's own column order, which an older store may have in another order.
      const order = await this.columnsOf('events');
      this.eventLayout = order.map(({ name }) => eventSlot(name));
      this.eventChunk = undefined;
    });
  }

  /** The KPI unit tables: made (or remade, in a new shape) empty, with every KPI event marked to fill them. */
  private async migrateUnits(): Promise<void> {
    await this.other.run(DIRTY_DDL);
    const reader = await this.other.runAndReadAll('SELECT value FROM checkpoints WHERE name = $name', {
      name: KPI_UNITS_CHECKPOINT,
    });
    if (reader.getRowObjectsJS()[0]?.value === KPI_UNITS_VERSION) return;
    await this.other.run('BEGIN TRANSACTION');
    try {
      for (const table of Object.values(UNIT_TABLE)) await this.other.run(`DROP TABLE IF EXISTS ${table}`);
      for (const sql of UNIT_TABLES_DDL) await this.other.run(sql);
      await this.other.run(`DELETE FROM ${DIRTY_TABLE}`);
      await this.other.run(MARK_ALL);
      await this.other.run('INSERT OR REPLACE INTO checkpoints VALUES ($1, $2)', [
        KPI_UNITS_CHECKPOINT,
        KPI_UNITS_VERSION,
      ]);
      await this.other.run('COMMIT');
    } catch (error) {
      await this.other.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** Rebuilds the KPI units of every conversation and agent marked so far, a chunk at a time. */
  private refreshUnits(): Promise<void> {
    // One refresh at a time; a caller arriving during one waits for it, then for a pass of its own (marks
    // made after the running pass began may have been missed by it).
    const pass = async () => {
      // Bounded by the marks there are now, so that a steady stream of new ones cannot hold a query forever;
      // with none (a query's usual case) it costs one count.
      const [row] = await this.read(`SELECT count(*) AS marks FROM ${DIRTY_TABLE}`, {});
      let chunks = Math.ceil(
        Number(row?.marks ?? 0) / Math.min(this.unitChunk.conversations, this.unitChunk.agents),
      );
      while (chunks-- > 0 && !this.closing && (await this.writeQueue.run(() => this.observedChunk()))) {}
    };
    const next = (this.unitsRefresh ?? Promise.resolve()).then(pass, pass);
    this.unitsRefresh = next.catch(() => undefined);
    return next;
  }

  observe(observer: StorageObserver): void {
    this.observer = observer;
  }

  /** refreshChunk, reported to the observer. */
  private async observedChunk(): Promise<boolean> {
    const started = performance.now();
    const seconds = () => (performance.now() - started) / 1000;
    try {
      const found = await this.refreshChunk();
      if (found) this.observer.unitsRebuilt?.('rebuilt', seconds());
      return found;
    } catch (error) {
      this.observer.unitsRebuilt?.('failed', seconds());
      throw error;
    }
  }

  /** Rebuilds one chunk of marked units in one transaction; answers whether there was any. */
  private async refreshChunk(): Promise<boolean> {
    await this.writer.run('BEGIN TRANSACTION');
    try {
      for (const sql of markChunk(this.unitChunk)) await this.writer.run(sql);
      const extent = (await this.writer.runAndReadAll(CHUNK_EXTENT)).getRowObjectsJS()[0] as {
        conversations: bigint;
        agents: bigint;
        lo: Date | null;
        hi: Date | null;
      };
      const found = extent.conversations + extent.agents > 0n;
      if (found) {
        const bounds = {
          lo: timestamp(new Date((extent.lo?.getTime() ?? 0) - UNIT_SPAN_MS)),
          hi: timestamp(new Date((extent.hi?.getTime() ?? 0) + UNIT_SPAN_MS + 1)),
        };
        for (const sql of REBUILD_CHUNK) await this.writer.run(sql, sql.includes('$lo') ? bounds : undefined);
      }
      for (const sql of DROP_CHUNK) await this.writer.run(sql);
      await this.writer.run('COMMIT');
      return found;
    } catch (error) {
      await this.writer.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** A rebuild soon after a write that marked units, so that the next KPI query finds little left to do. */
  private scheduleUnits(): void {
    if (this.unitsTimer || this.closing) return;
    this.unitsTimer = setTimeout(() => {
      this.unitsTimer = undefined;
      // A failure here is met again, and reported, by the next KPI query's own refresh.
      this.refreshUnits().catch(() => undefined);
    }, UNITS_REFRESH_DELAY_MS);
    this.unitsTimer.unref();
  }

  /**
   * Creates a table, or brings an older one up to date: missing columns are added (null in old rows) and
   * columns that have become optional lose NOT NULL. Nothing is dropped or retyped.
   */
  private async createOrExtend(
    table: string,
    columns: readonly { name: string; type: ColumnType; nullable: boolean }[],
    key: readonly string[],
  ): Promise<void> {
    const ddl = columns.map(
      (c) => `${quote(c.name)} ${COLUMN_TYPES[c.type]}${c.nullable ? '' : ' NOT NULL'}`,
    );
    const primaryKey = key.length > 0 ? `, PRIMARY KEY (${key.map(quote).join(', ')})` : '';
    await this.other.run(`CREATE TABLE IF NOT EXISTS ${quote(table)} (${ddl.join(', ')}${primaryKey})`);
    const existing = new Map((await this.columnsOf(table)).map((c) => [c.name, c]));
    for (const column of columns) {
      const found = existing.get(column.name);
      if (!found) {
        await this.other.run(
          `ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column.name)} ${COLUMN_TYPES[column.type]}`,
        );
      } else if (column.nullable && !found.nullable && !key.includes(column.name)) {
        await this.other.run(`ALTER TABLE ${quote(table)} ALTER COLUMN ${quote(column.name)} DROP NOT NULL`);
      }
    }
  }

  private async columnsOf(table: string): Promise<{ name: string; nullable: boolean }[]> {
    const reader = await this.other.runAndReadAll(
      'SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = $table ORDER BY ordinal_position',
      { table },
    );
    return (reader.getRowObjectsJS() as { column_name: string; is_nullable: string }[]).map((r) => ({
      name: r.column_name,
      nullable: r.is_nullable === 'YES',
    }));
  }

  appendEvents(events: readonly CanonicalEvent[], checkpoint?: Checkpoint): Promise<void> {
    return this.writeQueue.run(() => this.appendInTransaction(events, checkpoint, true));
  }

  /** Each event appended alone in a transaction that is then rolled back: nothing is written. */
  refusedEvents(events: readonly CanonicalEvent[]): Promise<number[]> {
    return this.writeQueue.run(async () => {
      const refused: number[] = [];
      for (const [index, event] of events.entries()) {
        await this.appendInTransaction([event], undefined, false).catch(() => refused.push(index));
      }
      return refused;
    });
  }

  /**
   * DuckDB answers COMMIT without an error, and keeps nothing, when something failed inside the transaction
   * after its last statement: an appender holding refused rows, flushed when it is closed or garbage-collected,
   * flushes into whatever transaction the connection has open then. A load would then be counted as stored
   * while its events were not (the flaky group-commit test: 1 event stored of 2 loaded). The checkpoint, written
   * in the same transaction, is read back: if it is not there, nothing was, and the load fails to be retried.
   */
  private async checkKept(checkpoint: Checkpoint): Promise<void> {
    const reader = await this.writer.runAndReadAll('SELECT value FROM checkpoints WHERE name = $name', {
      name: checkpoint.name,
    });
    const kept = reader.getRowObjectsJS()[0]?.value;
    if (kept !== checkpoint.value) {
      throw new Error(
        `the store answered COMMIT but kept nothing (checkpoint ${checkpoint.name} is ${String(kept)}, not ${checkpoint.value})`,
      );
    }
  }

  private reusedEventChunk(): DuckDBDataChunk {
    this.eventChunk ??= DuckDBDataChunk.create(this.eventLayout.map((slot) => slot.type));
    return this.eventChunk;
  }

  /** appendEvents' transaction; `commit: false` rolls it back once every row is in (a dry run). */
  private async appendInTransaction(
    events: readonly CanonicalEvent[],
    checkpoint: Checkpoint | undefined,
    commit: boolean,
  ): Promise<void> {
    await this.writer.run('BEGIN TRANSACTION');
    const marks = marksOf(events);
    let appender: DuckDBAppender | undefined;
    try {
      appender = await this.writer.createAppender('events');
      for (let from = 0; from < events.length; from += CHUNK_ROWS) {
        appender.appendDataChunk(
          fillEventChunk(
            this.reusedEventChunk(),
            this.eventLayout,
            events,
            from,
            Math.min(from + CHUNK_ROWS, events.length),
          ),
        );
        // Building chunks runs on the event loop: let requests through between chunks of a big batch.
        if (from + CHUNK_ROWS < events.length) await new Promise<void>((r) => setImmediate(r));
      }
      // The appender writes into the open transaction only when flushed: close it before COMMIT.
      appender.closeSync();
      if (marks.length > 0) {
        appender = await this.writer.createAppender(DIRTY_TABLE);
        for (const mark of marks) {
          appender.appendVarchar(mark.org);
          if (mark.conversationId === null) appender.appendNull();
          else appender.appendVarchar(mark.conversationId);
          if (mark.participantId === null) appender.appendNull();
          else appender.appendVarchar(mark.participantId);
          appender.appendTimestamp(timestamp(mark.lo));
          appender.appendTimestamp(timestamp(mark.hi));
          appender.endRow();
        }
        appender.closeSync();
      }
      if (checkpoint) {
        await this.writer.run('INSERT OR REPLACE INTO checkpoints VALUES ($1, $2)', [
          checkpoint.name,
          checkpoint.value,
        ]);
      }
      if (!commit) {
        await this.writer.run('ROLLBACK');
        return;
      }
      await this.writer.run('COMMIT');
      if (checkpoint) await this.checkKept(checkpoint);
      if (marks.length > 0) this.scheduleUnits();
    } catch (error) {
      // An appender still holding refused rows would try to flush them again when it is closed or
      // collected, whatever transaction is open then: drop its rows and close it here, before ROLLBACK.
      try {
        appender?.clear();
        appender?.closeSync();
      } catch {}
      await this.writer.run('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  async queryEvents(org: string, query: RecordQuery): Promise<RecordPage<CanonicalEvent>> {
    const params: Record<string, DuckDBValue> = { org };
    const where = `org = $org${query.where ? ` AND (${compileFilter(query.where, eventColumn, params)})` : ''}`;
    // Newest first by default, ties broken by the id (UUIDv7, so also newest first).
    const orderBy = query.orderBy?.length
      ? [...query.orderBy.map((o) => `${eventColumn(o.field).column} ${o.descending ? 'DESC' : 'ASC'}`), 'id']
      : ['derived_time DESC', 'id DESC'];
    const rows = await this.read(
      `SELECT * FROM events WHERE ${where} ORDER BY ${orderBy.join(', ')}${page(query)}`,
      params,
    );
    const count = query.count ? await this.count('events', where, params) : undefined;
    return { rows: rows.map(rowToEvent), count };
  }

  aggregateEvents(org: string, query: AggregateQuery): Promise<AggregateResult> {
    return this.aggregate(compileAggregate(org, query));
  }

  async aggregateUnits(org: string, query: UnitQuery): Promise<AggregateResult> {
    await this.refreshUnits();
    return this.aggregate(compileUnits(org, query));
  }

  private async aggregate({ sql, params, typeErrorColumns }: CompiledAggregate): Promise<AggregateResult> {
    const rows = await this.read(sql, params);
    const typeErrors: Record<string, number> = {};
    for (const { column, field } of typeErrorColumns) {
      typeErrors[field] = rows.reduce((sum, row) => sum + Number(row[column] ?? 0), 0);
      for (const row of rows) delete row[column];
    }
    return { rows: rows.map(plainRow), typeErrors };
  }

  async updateEvent(org: string, id: string, changes: Partial<CanonicalEvent>): Promise<boolean> {
    const params: Record<string, DuckDBValue> = { org, id };
    const { customData, ...fields } = changes;
    const sets = Object.entries(fields).map(([field, value], i) => {
      const { column, type } = eventColumn(field);
      params[`v${i}`] = toParam(type, value).value;
      return `${column} = $v${i}`;
    });
    if (customData && Object.keys(customData).length === 0) {
      // An empty list bound as a parameter has no item type, which DuckDB refuses: say it in SQL.
      sets.push(`${CUSTOM_KEYS_COLUMN} = []::VARCHAR[]`, `${CUSTOM_VALUES_COLUMN} = []::VARCHAR[]`);
    } else if (customData) {
      params.keys = listValue(Object.keys(customData));
      params.values = listValue(Object.values(customData));
      sets.push(`${CUSTOM_KEYS_COLUMN} = $keys`, `${CUSTOM_VALUES_COLUMN} = $values`);
    }
    if (sets.length === 0) return (await this.count('events', 'org = $org AND id = $id', params)) > 0;
    const where = 'org = $org AND id = $id';
    // Its KPI units are rebuilt from the event as it was and as it is (its time may move).
    return (
      (await this.changeEvents(where, `UPDATE events SET ${sets.join(', ')} WHERE ${where}`, params, true)) >
      0
    );
  }

  async deleteEvents(org: string, where: RecordFilter): Promise<number> {
    const params: Record<string, DuckDBValue> = { org };
    const match = `org = $org AND (${compileFilter(where, eventColumn, params)})`;
    return this.changeEvents(match, `DELETE FROM events WHERE ${match}`, params, false);
  }

  /** Changes events, marking the KPI units they belong to in the same transaction (before, and after if kept). */
  private changeEvents(
    where: string,
    statement: string,
    params: Record<string, DuckDBValue>,
    kept: boolean,
  ): Promise<number> {
    return this.otherQueue.run(async () => {
      // The mark reads only the parameters of `where` (an UPDATE's values are not in it).
      const used = Object.fromEntries(
        Object.entries(params).filter(([name]) => new RegExp(`\\$${name}\\b`).test(where)),
      );
      const mark = (sql: string) => this.other.run(sql, used);
      await this.other.run('BEGIN TRANSACTION');
      try {
        await mark(markWhere(where));
        const changed = Number((await this.other.run(statement, params)).rowsChanged);
        if (kept) await mark(markWhere(where));
        await this.other.run('COMMIT');
        return changed;
      } catch (error) {
        await this.other.run('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  async memory(): Promise<StoreMemory> {
    const rows = await this.read(
      `SELECT tag, memory_usage_bytes::BIGINT AS used, current_setting('memory_limit') AS "limit"
        FROM duckdb_memory() WHERE memory_usage_bytes > 0`,
      {},
    );
    const byUse = Object.fromEntries(rows.map((r) => [String(r.tag), Number(r.used)]));
    const limit =
      rows[0]?.limit ?? (await this.read(`SELECT current_setting('memory_limit') AS "limit"`, {}))[0]?.limit;
    return {
      usedBytes: Object.values(byUse).reduce((sum, n) => sum + n, 0),
      limitBytes: bytesOf(String(limit)),
      byUse,
    };
  }

  async readCheckpoint(name: string): Promise<string | undefined> {
    const [row] = await this.read('SELECT value FROM checkpoints WHERE name = $name', { name });
    return row?.value as string | undefined;
  }

  async keyedEvents(since: Date): Promise<KeyedEvent[]> {
    const rows = await this.read(
      'SELECT org, idempotency_key, id, received_time FROM events WHERE idempotency_key IS NOT NULL AND received_time >= $since ORDER BY received_time',
      { since: timestamp(since) },
    );
    return rows.map((row) => ({
      org: row.org as string,
      key: row.idempotency_key as string,
      id: row.id as string,
      receivedTime: row.received_time as Date,
    }));
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
    return this.upsertAll([{ table, row }]);
  }

  upsertAll(writes: readonly EntityWrite[]): Promise<void> {
    const statements = upsertStatements(writes);
    return this.otherQueue.run(async () => {
      const single = statements.length === 1;
      if (!single) await this.other.run('BEGIN TRANSACTION');
      try {
        for (const { sql, values, types } of statements) await this.other.run(sql, values, types);
        if (!single) await this.other.run('COMMIT');
      } catch (error) {
        if (!single) await this.other.run('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  async find<Row extends object>(table: EntityTable<Row>, where: Partial<Row>): Promise<Row[]> {
    return (await this.query(table, where, {})).rows;
  }

  async query<Row extends object>(
    table: EntityTable<Row>,
    equal: Partial<Row>,
    query: RecordQuery,
  ): Promise<RecordPage<Row>> {
    const params: Record<string, DuckDBValue> = {};
    const where = entityWhere(table, equal, query.where, params);
    const order = [
      ...(query.orderBy ?? []).map(
        (o) => `${entityColumn(table)(o.field).column} ${o.descending ? 'DESC' : 'ASC'}`,
      ),
      ...table.key.map((k) => quote(snake(k))),
    ];
    const rows = await this.read(
      `SELECT * FROM ${quote(table.name)}${where ? ` WHERE ${where}` : ''} ORDER BY ${order.join(', ')}${page(query)}`,
      params,
    );
    const count = query.count ? await this.count(quote(table.name), where, params) : undefined;
    const names = Object.keys(table.columns) as (keyof Row & string)[];
    return {
      rows: rows.map((raw) => {
        const row: Record<string, unknown> = {};
        for (const name of names) row[name] = fromColumn(table.columns[name], raw[snake(name)]);
        return row as Row;
      }),
      count,
    };
  }

  async countBy<Row extends object>(
    table: EntityTable<Row>,
    equal: Partial<Row>,
    filter: RecordFilter | undefined,
    field: keyof Row & string,
  ): Promise<ValueCount[]> {
    const params: Record<string, DuckDBValue> = {};
    const where = entityWhere(table, equal, filter, params);
    const { column, type } = entityColumn(table)(field);
    const value = type === 'text[]' ? `unnest(${column})` : column;
    const rows = await this.read(
      `SELECT value, count(*) AS n FROM (SELECT ${value} AS value FROM ${quote(table.name)}${where ? ` WHERE ${where}` : ''}) GROUP BY value ORDER BY n DESC, value`,
      params,
    );
    return rows.map((row) => ({ value: row.value as Scalar, count: Number(row.n) }));
  }

  remove<Row extends object>(
    table: EntityTable<Row>,
    where: Partial<Row>,
    filter?: RecordFilter,
  ): Promise<number> {
    const params: Record<string, DuckDBValue> = {};
    const condition = entityWhere(table, where, filter, params);
    return this.change(`DELETE FROM ${quote(table.name)}${condition ? ` WHERE ${condition}` : ''}`, params);
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.unitsTimer);
    await this.unitsRefresh;
    await this.writeQueue.run(async () => undefined);
    await this.otherQueue.run(async () => {
      // A checkpoint folds the WAL into the file so the next start does not replay it.
      await this.other.run('CHECKPOINT').catch(() => undefined);
    });
    this.writer.closeSync();
    this.other.closeSync();
    this.instance.closeSync();
  }

  private async count(from: string, where: string, params: Record<string, DuckDBValue>): Promise<number> {
    const [row] = await this.read(
      `SELECT count(*) AS n FROM ${from}${where ? ` WHERE ${where}` : ''}`,
      params,
    );
    return Number(row?.n ?? 0);
  }

  /** Runs a statement that changes rows; answers how many it changed. */
  private change(
    sql: string,
    params: Record<string, DuckDBValue>,
    types?: Record<string, DuckDBType>,
  ): Promise<number> {
    return this.otherQueue.run(async () => Number((await this.other.run(sql, params, types)).rowsChanged));
  }

  private read(sql: string, params: Record<string, DuckDBValue>): Promise<Record<string, unknown>[]> {
    return this.otherQueue.run(async () => {
      const reader = await this.other.runAndReadAll(sql, params);
      return reader.getRowObjectsJS() as Record<string, unknown>[];
    });
  }
}

/** One column of the events table: its type, and how an event fills it. */
interface EventSlot {
  type: DuckDBType;
  value: (event: CanonicalEvent) => DuckDBValue;
}

function eventSlot(column: string): EventSlot {
  if (column === CUSTOM_KEYS_COLUMN) {
    return { type: TEXT_LIST, value: (event) => listValue(Object.keys(event.customData)) };
  }
  if (column === CUSTOM_VALUES_COLUMN) {
    return { type: TEXT_LIST, value: (event) => listValue(Object.values(event.customData)) };
  }
  const known = EVENT_COLUMNS.find((c) => c.column === column);
  // A column this version does not know (written by a newer one) is left null.
  if (!known) return { type: VARCHAR, value: () => null };
  const { field, type } = known;
  return { type: COLUMN_TYPES[type], value: (event) => toValue(type, event[field]) };
}

/** The layout of a table created by this version: every known column, then customData's two lists. */
const EVENT_SLOTS: readonly EventSlot[] = [
  ...EVENT_COLUMNS.map((c) => eventSlot(c.column)),
  eventSlot(CUSTOM_KEYS_COLUMN),
  eventSlot(CUSTOM_VALUES_COLUMN),
];

/** Most rows in one upsert statement: DuckDB's cost is per statement, its parameters' per row. */
const UPSERT_ROWS = 500;

/**
 * The statements that upsert `writes`: one multi-row INSERT OR REPLACE per table and UPSERT_ROWS rows. Each
 * statement in a transaction costs DuckDB about 1 MB of table memory whatever its size, so a row a statement
 * ran out of memory at a few hundred records (500 took 350 MB). One statement may not hold a key twice, so for a
 * key written twice only its last write is kept: what writing them in turn would have left.
 */
function upsertStatements(
  writes: readonly EntityWrite[],
): { sql: string; values: DuckDBValue[]; types: DuckDBType[] }[] {
  const byTable = new Map<string, { table: TableShape; rows: Map<string, object> }>();
  for (const { table, row } of writes) {
    let entry = byTable.get(table.name);
    if (!entry) {
      entry = { table, rows: new Map() };
      byTable.set(table.name, entry);
    }
    const key = JSON.stringify(table.key.map((k) => (row as Record<string, unknown>)[k] ?? null));
    // Deleted first, so the row takes its place as the latest write.
    entry.rows.delete(key);
    entry.rows.set(key, row);
  }
  const statements: { sql: string; values: DuckDBValue[]; types: DuckDBType[] }[] = [];
  for (const { table, rows } of byTable.values()) {
    const names = Object.keys(table.columns);
    const all = [...rows.values()];
    for (let from = 0; from < all.length; from += UPSERT_ROWS) {
      const values: DuckDBValue[] = [];
      const types: DuckDBType[] = [];
      const tuples: string[] = [];
      for (const row of all.slice(from, from + UPSERT_ROWS)) {
        const placeholders: string[] = [];
        for (const name of names) {
          const param = toParam(table.columns[name] as ColumnType, (row as Record<string, unknown>)[name]);
          values.push(param.value);
          types.push(param.type as DuckDBType);
          placeholders.push(`$${values.length}`);
        }
        tuples.push(`(${placeholders.join(', ')})`);
      }
      statements.push({
        sql: `INSERT OR REPLACE INTO ${quote(table.name)} (${names.map((n) => quote(snake(n))).join(', ')}) VALUES ${tuples.join(', ')}`,
        values,
        types,
      });
    }
  }
  return statements;
}

/**
 * Fills `chunk` (made for `layout`) with rows [from, to): one native call per column instead of one per value,
 * which is most of the appender's cost on the event loop. The appender copies what it is given, so the chunk
 * can be filled again as soon as it is appended.
 */
function fillEventChunk(
  chunk: DuckDBDataChunk,
  layout: readonly EventSlot[],
  events: readonly CanonicalEvent[],
  from: number,
  to: number,
): DuckDBDataChunk {
  const rows = to - from;
  chunk.reset();
  // After reset: setting the count also drops the wrapper's vectors cached for the previous fill.
  chunk.rowCount = rows;
  layout.forEach((slot, column) => {
    const values = new Array<DuckDBValue>(rows);
    let present = false;
    for (let row = from; row < to; row++) {
      const value = slot.value(events[row] as CanonicalEvent);
      values[row - from] = value;
      if (value !== null) present = true;
    }
    if (present) chunk.setColumnValues(column, values);
    else setAllNull(chunk, column, rows);
  });
  return chunk;
}

/**
 * Marks a whole column null in one native copy of its validity mask. Most columns of most events are null
 * (a UA event has no channel fields, a KPI event no UA ones), and setting nulls one value at a time costs
 * a JS round of validity bookkeeping each, which was a third of loading a batch.
 */
function setAllNull(chunk: DuckDBDataChunk, column: number, rows: number): void {
  const vector = bindings.data_chunk_get_vector(chunk.chunk, column);
  const bytes = Math.ceil(rows / 64) * 8;
  bindings.vector_ensure_validity_writable(vector);
  bindings.copy_data_to_vector_validity(vector, 0, new ArrayBuffer(bytes), 0, bytes);
}

interface ResolvedColumn {
  column: string;
  type: ColumnType;
}

function eventColumn(field: string): ResolvedColumn {
  const known = EVENT_COLUMN_OF.get(field);
  if (!known) throw new Error(`events have no field ${JSON.stringify(field)}`);
  return known;
}

function entityColumn(table: TableShape) {
  return (field: string): ResolvedColumn => {
    const type = table.columns[field];
    if (!type) throw new Error(`${table.name} has no field ${JSON.stringify(field)}`);
    return { column: quote(snake(field)), type };
  };
}

/** Equality on the given fields, and the filter when there is one; '' when there is no condition. */
function entityWhere(
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

const COMPARISONS = { eq: '=', ne: '<>', gt: '>', ge: '>=', lt: '<', le: '<=' } as const;
const MATCHES = { contains: 'contains', startswith: 'starts_with', endswith: 'ends_with' } as const;

/** A filter as SQL whose every value is a parameter added to `params`. */
function compileFilter(
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
      return `(${compileFilter(filter.left, resolve, params)}) ${filter.kind.toUpperCase()} (${compileFilter(filter.right, resolve, params)})`;
    case 'not':
      // NOT of an unknown (null) comparison is still unknown in SQL; OData means "not true".
      return `(${compileFilter(filter.operand, resolve, params)}) IS NOT TRUE`;
    case 'match': {
      const { column, type } = resolve(filter.field);
      return `${MATCHES[filter.op]}(${column}, ${bind(type, filter.value)})`;
    }
    case 'has': {
      const { column } = resolve(filter.field);
      return `list_contains(${column}, ${bind('text', filter.value)})`;
    }
    case 'compare': {
      const { column, type } = resolve(filter.field);
      if (filter.value === null) {
        if (filter.op === 'eq') return `${column} IS NULL`;
        if (filter.op === 'ne') return `${column} IS NOT NULL`;
        return 'FALSE';
      }
      const value = bind(type, filter.value);
      if (filter.op === 'ne') return `(${column} <> ${value} OR ${column} IS NULL)`;
      return `${column} ${COMPARISONS[filter.op]} ${value}`;
    }
  }
}

/** LIMIT and OFFSET, from numbers the caller has already checked. */
function page(query: RecordQuery): string {
  const limit = query.limit === undefined ? '' : ` LIMIT ${Math.trunc(query.limit)}`;
  const offset = query.offset ? ` OFFSET ${Math.trunc(query.offset)}` : '';
  return limit + offset;
}

/** An aggregate row as JSON-ready scalars: DuckDB's big integers as numbers, times as Dates. */
function plainRow(row: Record<string, unknown>): Record<string, Scalar> {
  const plain: Record<string, Scalar> = {};
  for (const [name, value] of Object.entries(row)) {
    plain[name] = typeof value === 'bigint' ? Number(value) : (value as Scalar);
  }
  return plain;
}

function rowToEvent(row: Record<string, unknown>): CanonicalEvent {
  const event: Record<string, unknown> = {};
  for (const { column, field, type } of EVENT_COLUMNS) event[field] = fromColumn(type, row[column]);
  const keys = (row[CUSTOM_KEYS_COLUMN] as string[] | null) ?? [];
  const values = (row[CUSTOM_VALUES_COLUMN] as string[] | null) ?? [];
  event.customData = Object.fromEntries(keys.map((k, i) => [k, values[i] ?? '']));
  event.category = row.category as EventCategory;
  return event as unknown as CanonicalEvent;
}
