import { type DuckDBConnection, type DuckDBValue, listValue } from '@duckdb/node-api';
import type { CanonicalEvent } from '../../model/canonical-event.ts';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN } from '../event-columns.ts';
import type {
  AggregateQuery,
  AggregateResult,
  EntityTable,
  EntityWrite,
  EventExport,
  EventScan,
  KeyedEvent,
  LastVisit,
  RecordFilter,
  RecordPage,
  RecordQuery,
  Scalar,
  Storage,
  StorageObserver,
  StoreMemory,
  TableRows,
  UnitQuery,
  ValueCount,
} from '../storage.ts';
import { type CompiledAggregate, compileAggregate, compileUnits } from './aggregate.ts';
import { EventAppends } from './appends.ts';
import { backupStore } from './backup.ts';
import { Connections, inTransaction, type SerialConnection } from './connection.ts';
import {
  compactDistinctKeys,
  DISTINCT_KEYS_COMPACTION_MS,
  hoursOf,
  migrateDistinctKeys,
  rebuildHoursSteps,
} from './distinct-keys.ts';
import { entityRows, upsertStatements } from './entities.ts';
import { exportParquet, scanEvents } from './event-export.ts';
import { compileFilter, entityColumn, entityWhere, eventColumn, page } from './filters.ts';
import { markWhere, UNIT_CHUNK, type UnitChunk } from './kpi-units.ts';
import { columnsOf, migrateTables } from './schema.ts';
import { quote, snake } from './sql.ts';
import { UnitScheduler } from './unit-scheduling.ts';
import { plainRow, rowToEvent, timestamp, toParam } from './values.ts';

/** Pages up to this size are read by their ids first (pageByIds). */
const NARROW_PAGE_LIMIT = 100_000;

/**
 * The Storage contract on the embedded engine (connection.ts): one DuckDB file, one write connection for
 * events (appends.ts, and the KPI unit rebuilds of unit-scheduling.ts), one for everything else. Tables are
 * made and upgraded by schema.ts, filters compiled by filters.ts, aggregates by aggregate.ts.
 */
export class DuckDBStorage implements Storage {
  readonly engine = 'duckdb';
  readonly location: string;
  /** The connection for everything but appends and unit rebuilds (those are on the writer). */
  private readonly other: SerialConnection;
  private readonly units: UnitScheduler;
  private readonly events: EventAppends;
  private compaction: NodeJS.Timeout | undefined;
  private closing = false;

  private constructor(
    private readonly connections: Connections,
    unitChunk: UnitChunk,
  ) {
    this.location = connections.file;
    this.other = connections.other;
    this.units = new UnitScheduler(connections.writer, connections.other, unitChunk);
    this.events = new EventAppends(connections.writer, () => this.units.schedule());
  }

  /** `unitChunk`: how many marked conversations and agents one KPI-unit rebuild transaction takes. */
  static async open(
    dataDir: string,
    options: { unitChunk?: UnitChunk; memoryLimit?: string } = {},
  ): Promise<DuckDBStorage> {
    const connections = await Connections.open(dataDir, options.memoryLimit);
    return new DuckDBStorage(connections, options.unitChunk ?? UNIT_CHUNK);
  }

  migrate(entities: readonly EntityTable<object>[]): Promise<void> {
    return this.other.run(async (connection) => {
      await migrateTables(connection, entities);
      await migrateDistinctKeys(connection);
      // Units marked and not yet rebuilt (a new table, or a stop before the rebuild) are rebuilt soon.
      this.units.schedule();
      this.events.layOut((await columnsOf(connection, 'events')).map((c) => c.name));
    });
  }

  observe(observer: StorageObserver): void {
    this.units.observe(observer);
  }

  async appendEvents(events: readonly CanonicalEvent[]): Promise<void> {
    await this.events.append(events);
    this.scheduleCompaction();
  }

  async loadEventFile(file: string): Promise<void> {
    await this.events.loadFile(file);
    this.scheduleCompaction();
  }

  /**
   * Loads append distinct-key rows for their hours (distinct-keys.ts); a stream of small loads repeats a key's row
   * once per load, so the repeats are folded a while after loads, off the write connection.
   */
  private scheduleCompaction(): void {
    if (this.compaction || this.closing) return;
    this.compaction = setTimeout(() => {
      this.compaction = undefined;
      this.other
        .run((connection) => compactDistinctKeys(connection))
        // Answers never depend on it; the next load schedules it again.
        .catch(() => undefined);
    }, DISTINCT_KEYS_COMPACTION_MS);
    this.compaction.unref();
  }

  /** On the writer: queued behind the appends it records, and never behind a long read. */
  async saveCheckpoint(name: string, value: string): Promise<void> {
    await this.connections.writer.change('INSERT OR REPLACE INTO checkpoints VALUES ($name, $value)', {
      name,
      value,
    });
  }

  refusedEvents(events: readonly CanonicalEvent[]): Promise<number[]> {
    return this.events.refused(events);
  }

  async queryEvents(org: string, query: RecordQuery): Promise<RecordPage<CanonicalEvent>> {
    const params: Record<string, DuckDBValue> = { org };
    const where = `org = $org${query.where ? ` AND (${compileFilter(query.where, eventColumn, params)})` : ''}`;
    // Newest first by default, ties broken by the id (UUIDv7, so also newest first).
    const orderBy = query.orderBy?.length
      ? [...query.orderBy.map((o) => `${eventColumn(o.field).column} ${o.descending ? 'DESC' : 'ASC'}`), 'id']
      : ['derived_time DESC', 'id DESC'];
    const rows =
      query.limit !== undefined && query.limit <= NARROW_PAGE_LIMIT
        ? await this.pageByIds(where, orderBy, query, params)
        : await this.other.read(
            `SELECT * FROM events WHERE ${where} ORDER BY ${orderBy.join(', ')}${page(query)}`,
            params,
          );
    const count = query.count ? await this.other.count('events', where, params) : undefined;
    return { rows: rows.map(rowToEvent), count };
  }

  /**
   * A page in two reads: its ids in order, then their rows. Sorting every column of a large range for one page
   * ran out of memory (pages of a month of 1M events, under the 256 MB default limit); the ids alone do not, and
   * the page's span of derived times lets the second read skip the rest of the table.
   */
  private async pageByIds(
    where: string,
    orderBy: readonly string[],
    query: RecordQuery,
    params: Record<string, DuckDBValue>,
  ): Promise<Record<string, unknown>[]> {
    const keys = (await this.other.read(
      `SELECT id, derived_time FROM events WHERE ${where} ORDER BY ${orderBy.join(', ')}${page(query)}`,
      params,
    )) as { id: string; derived_time: Date }[];
    if (keys.length === 0) return [];
    let lo = Number.POSITIVE_INFINITY;
    let hi = Number.NEGATIVE_INFINITY;
    for (const { derived_time } of keys) {
      lo = Math.min(lo, derived_time.getTime());
      hi = Math.max(hi, derived_time.getTime());
    }
    const rows = await this.other.read(
      'SELECT * FROM events WHERE org = $org AND derived_time BETWEEN $lo AND $hi AND list_contains($ids, id)',
      {
        org: params.org as string,
        lo: timestamp(new Date(lo)),
        hi: timestamp(new Date(hi)),
        ids: listValue(keys.map((k) => k.id)),
      },
    );
    const byId = new Map(rows.map((row) => [row.id as string, row]));
    return keys.flatMap((k) => {
      const row = byId.get(k.id);
      return row ? [row] : [];
    });
  }

  async scanEvents(org: string, query: EventExport): Promise<EventScan> {
    return scanEvents(await this.connections.connect(), org, query);
  }

  async exportParquet(org: string, query: EventExport, file: string): Promise<number> {
    return exportParquet(await this.connections.connect(), org, query, file);
  }

  aggregateEvents(org: string, query: AggregateQuery): Promise<AggregateResult> {
    return this.aggregate(compileAggregate(org, query, { distinctKeys: true }));
  }

  async aggregateUnits(org: string, query: UnitQuery): Promise<AggregateResult> {
    await this.units.refresh();
    return this.aggregate(compileUnits(org, query));
  }

  private async aggregate({ sql, params, typeErrorColumns }: CompiledAggregate): Promise<AggregateResult> {
    const rows = await this.other.read(sql, params);
    const typeErrors: Record<string, number> = {};
    for (const { column, field } of typeErrorColumns) {
      typeErrors[field] = rows.reduce((sum, row) => sum + Number(row[column] ?? 0), 0);
      for (const row of rows) delete row[column];
    }
    return { rows: rows.map(plainRow), typeErrors };
  }

  async updateEvent(org: string, id: string, changes: Partial<CanonicalEvent>): Promise<boolean> {
    const params: Record<string, DuckDBValue> = { org, id };
    const { fields, sets } = eventSets(changes, params);
    if (sets.length === 0) return (await this.other.count('events', 'org = $org AND id = $id', params)) > 0;
    const where = 'org = $org AND id = $id';
    // Its KPI units are rebuilt from the event as it was and as it is (its time may move).
    const changed = await this.changeEvents(
      where,
      `UPDATE events SET ${sets.join(', ')} WHERE ${where}`,
      params,
      true,
    );
    // A received time moved later than the latest appended: the next append's replay check reads it again.
    if ('receivedTime' in fields) this.events.forgetLatest();
    return changed > 0;
  }

  async deleteEvents(org: string, where: RecordFilter): Promise<number> {
    const params: Record<string, DuckDBValue> = { org };
    const match = `org = $org AND (${compileFilter(where, eventColumn, params)})`;
    return this.changeEvents(match, `DELETE FROM events WHERE ${match}`, params, false);
  }

  /**
   * Every change in one transaction, whose KPI units and distinct-key hours are rebuilt once: per event, an hour
   * of a busy store was rebuilt once per event in it (an erasure of a thousand events took minutes).
   */
  async updateEvents(
    org: string,
    updates: readonly { id: string; changes: Partial<CanonicalEvent> }[],
  ): Promise<number> {
    if (updates.length === 0) return 0;
    const params: Record<string, DuckDBValue> = { org, ids: listValue(updates.map((u) => u.id)) };
    const changed = await this.changeEvents(
      'org = $org AND list_contains($ids, id)',
      async (connection) => {
        let count = 0;
        for (const { id, changes } of updates) {
          const values: Record<string, DuckDBValue> = { org, id };
          const { sets } = eventSets(changes, values);
          if (sets.length === 0) continue;
          const sql = `UPDATE events SET ${sets.join(', ')} WHERE org = $org AND id = $id`;
          count += Number((await connection.run(sql, values)).rowsChanged);
        }
        return count;
      },
      params,
      true,
    );
    if (updates.some((u) => 'receivedTime' in u.changes)) this.events.forgetLatest();
    return changed;
  }

  /** Changes events, marking the KPI units they belong to in the same transaction (before, and after if kept). */
  private changeEvents(
    where: string,
    statement: string | ((connection: DuckDBConnection) => Promise<number>),
    params: Record<string, DuckDBValue>,
    kept: boolean,
  ): Promise<number> {
    return this.other.run(async (connection) => {
      // The mark reads only the parameters of `where` (an UPDATE's values are not in it).
      const used = Object.fromEntries(
        Object.entries(params).filter(([name]) => new RegExp(`\\$${name}\\b`).test(where)),
      );
      const mark = (sql: string) => connection.run(sql, used);
      return inTransaction(connection, async () => {
        await mark(markWhere(where));
        // The hours of the distinct-key tables that hold these events, as they are and (if kept) as they become.
        await mark(`CREATE TEMP TABLE changed_hours AS ${hoursOf(where)}`);
        const changed =
          typeof statement === 'string'
            ? Number((await connection.run(statement, params)).rowsChanged)
            : await statement(connection);
        if (kept) {
          await mark(markWhere(where));
          await mark(`INSERT INTO changed_hours ${hoursOf(where)}`);
        }
        for (const sql of rebuildHoursSteps('changed_hours')) await connection.run(sql);
        await connection.run('DROP TABLE changed_hours');
        return changed;
      });
    });
  }

  memory(): Promise<StoreMemory> {
    return this.connections.memory();
  }

  async readCheckpoint(name: string): Promise<string | undefined> {
    const [row] = await this.other.read('SELECT value FROM checkpoints WHERE name = $name', { name });
    return row?.value as string | undefined;
  }

  async keyedEvents(since: Date): Promise<KeyedEvent[]> {
    const rows = await this.other.read(
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
    const rows = await this.other.read(
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
    return this.other.run(async (connection) => {
      const run = async () => {
        for (const { sql, values, types } of statements) await connection.run(sql, values, types);
      };
      // One statement is a transaction of its own.
      await (statements.length === 1 ? run() : inTransaction(connection, run));
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
    const rows = await this.other.read(
      `SELECT * FROM ${quote(table.name)}${where ? ` WHERE ${where}` : ''} ORDER BY ${order.join(', ')}${page(query)}`,
      params,
    );
    const count = query.count ? await this.other.count(quote(table.name), where, params) : undefined;
    return { rows: entityRows(table, rows), count };
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
    const rows = await this.other.read(
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
    return this.other.change(
      `DELETE FROM ${quote(table.name)}${condition ? ` WHERE ${condition}` : ''}`,
      params,
    );
  }

  /**
   * Rows DuckDB deletes or updates are gone from every table at once; what may keep their bytes is the write-ahead
   * log and the file's blocks until a checkpoint rewrites them. The KPI units of changed events are rebuilt first
   * (they hold the events' ids of conversations and agents).
   */
  async expunge(_tables: readonly string[]): Promise<void> {
    await this.units.refresh();
    // DuckDB refuses a checkpoint while another transaction is open (a backup's, a long read's): try again a while.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.connections.writer.run(async (connection) => {
          await connection.run('CHECKPOINT');
        });
        return;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    }
  }

  /** On a connection of its own: the copy's one long transaction holds up neither appends nor reads. */
  async backup(file: string, onProgress?: (done: number, total: number) => void): Promise<TableRows[]> {
    const connection = await this.connections.connect();
    try {
      return await backupStore(connection, file, onProgress);
    } finally {
      connection.closeSync();
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    clearTimeout(this.compaction);
    await this.units.stop();
    await this.connections.close();
  }
}

/** The SET clauses of an UPDATE that makes these changes to an event, their values put in `params`. */
function eventSets(
  changes: Partial<CanonicalEvent>,
  params: Record<string, DuckDBValue>,
): { fields: Partial<CanonicalEvent>; sets: string[] } {
  const { customData, ...fields } = changes;
  const sets = Object.entries(fields).map(([field, value], i) => {
    const { column, type } = eventColumn(field);
    // An empty list bound as a parameter has no item type, which DuckDB refuses: say it in SQL.
    if (type === 'text[]' && Array.isArray(value) && value.length === 0) return `${column} = []::VARCHAR[]`;
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
  return { fields, sets };
}
