import type { CanonicalEvent } from '../../model/canonical-event.ts';
import { lastWritePerTable } from '../entity-writes.ts';
import { EVENT_COLUMN_OF } from '../event-columns.ts';
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
  TableShape,
  UnitQuery,
  ValueCount,
} from '../storage.ts';
import { aggregateEvents } from './aggregate.ts';
import { type ClickHouseConfig, ClickHouseConnection, displayUrl } from './connection.ts';
import { exportParquet, scanEvents } from './event-export.ts';
import { expungeTables } from './expunge.ts';
import {
  DELETED_COLUMN,
  EVENT_TABLE_COLUMNS,
  entityDefinition,
  migrateSchema,
  SCHEMA_CHECKPOINT,
  SCHEMA_VERSION,
  VERSION_COLUMN,
} from './schema.ts';
import { compileFilter, ident, literal, micros, type Resolved } from './sql.ts';
import { aggregateUnits } from './units.ts';
import {
  entityToRow,
  eventToRow,
  fromField,
  nextVersion,
  refusal,
  rowToEntity,
  rowToEvent,
  snake,
} from './values.ts';

/**
 * The Storage contract on ClickHouse (one node, or a Distributed table over shards). Every table is a
 * ReplacingMergeTree on `_version` (schema.ts): nothing is updated in place. An update inserts the whole row
 * again at a higher version, a delete inserts it with `_deleted = 1`, and every read is
 * `FROM <table> FINAL WHERE _deleted = 0 AND …`, so the versions of a row, a replayed event and the same keyed
 * event from two servers (they share org and id) collapse to one row before anything is counted.
 *
 * What "one transaction" means here: ClickHouse has none. One INSERT of one block into one table is atomic per
 * partition (events are partitioned by month); several tables, or several months, are not. The contract's
 * appends are idempotent by id instead, so a writer that fails halfway appends the same events again.
 */
export class ClickHouseStorage implements Storage {
  readonly engine = 'clickhouse';
  readonly location: string;

  private constructor(
    private readonly connection: ClickHouseConnection,
    private readonly config: ClickHouseConfig,
  ) {
    this.location = `${displayUrl(config.url)}/${config.database}`;
  }

  /** Connects, and checks that the server answers (the database may not exist until migrate). */
  static async open(config: ClickHouseConfig): Promise<ClickHouseStorage> {
    return new ClickHouseStorage(await ClickHouseConnection.open(config), config);
  }

  /** Rows of a SELECT, for the aggregate compilers (aggregate.ts, units.ts). */
  readonly run = (sql: string) => this.connection.rows(sql);

  async migrate(entities: readonly EntityTable<object>[]): Promise<void> {
    await migrateSchema(this.connection, this.config, entities);
    await this.saveCheckpoint(SCHEMA_CHECKPOINT, SCHEMA_VERSION);
  }

  /**
   * Appends at version 0, below every update and delete (they take the write clock): an event appended again
   * (a replay of the ingest log, or the same keyed event from another server) collapses with its stored copy
   * under FINAL and never undoes a later change to it.
   */
  async appendEvents(events: readonly CanonicalEvent[]): Promise<void> {
    await this.connection.insert(
      'events',
      events.map((event) => eventToRow(event, 0)),
    );
  }

  /** Checked here, not by a trial insert: an INSERT cannot be undone (see values.ts's refusal). */
  refusedEvents(events: readonly CanonicalEvent[]): Promise<number[]> {
    return Promise.resolve(events.flatMap((event, i) => (refusal(event) === undefined ? [] : [i])));
  }

  async saveCheckpoint(name: string, value: string): Promise<void> {
    await this.connection.insert('checkpoints', [
      { name, value, [VERSION_COLUMN]: nextVersion(), [DELETED_COLUMN]: 0 },
    ]);
  }

  async readCheckpoint(name: string): Promise<string | undefined> {
    const [row] = await this.connection.rows(
      `SELECT value FROM checkpoints FINAL WHERE ${LIVE} AND name = ${literal(name)}`,
    );
    return row?.value as string | undefined;
  }

  async queryEvents(org: string, query: RecordQuery): Promise<RecordPage<CanonicalEvent>> {
    const where = eventWhere(org, query.where);
    // Newest first by default, ties broken by the id (UUIDv7, so also newest first).
    const orderBy = query.orderBy?.length
      ? [...query.orderBy.map((o) => `${eventColumn(o.field).sql} ${o.descending ? 'DESC' : 'ASC'}`), 'id']
      : ['derived_time DESC', 'id DESC'];
    const sorted = `FROM events FINAL WHERE ${where} ORDER BY ${orderBy.join(', ')}${page(query)}`;
    const rows =
      query.limit !== undefined && query.limit <= PAGE_BY_IDS
        ? await this.pageByIds(org, sorted)
        : await this.connection.rows(`SELECT * ${sorted}`);
    const count = query.count ? await this.count('events', where) : undefined;
    return { rows: rows.map(rowToEvent), count };
  }

  /**
   * A page of whole events in two reads: the ids of the page, sorted and filtered over the few columns that
   * takes, then those rows by their key. One `SELECT *` would read every column of every match before sorting,
   * and 18.16 holds buffers for each column of each part at once. An event deleted between the two reads is
   * left out of the page.
   */
  private async pageByIds(org: string, sorted: string): Promise<Record<string, unknown>[]> {
    const ids = (await this.connection.rows(`SELECT id ${sorted}`)).map((r) => r.id as string);
    if (ids.length === 0) return [];
    const rows = await this.connection.rows(
      `SELECT * FROM events FINAL WHERE ${LIVE} AND org = ${literal(org)} AND id IN (${ids.map(literal).join(', ')})`,
    );
    const byId = new Map(rows.map((row) => [row.id as string, row]));
    return ids.flatMap((id) => {
      const row = byId.get(id);
      return row ? [row] : [];
    });
  }

  scanEvents(org: string, query: EventExport): Promise<EventScan> {
    return scanEvents(this.connection, org, query);
  }

  exportParquet(org: string, query: EventExport, file: string): Promise<number> {
    return exportParquet(this.connection, org, query, file);
  }

  aggregateEvents(org: string, query: AggregateQuery): Promise<AggregateResult> {
    return aggregateEvents(this.run, org, query);
  }

  /** KPI units are built at query time from the events (units.ts): there are no unit tables to keep fresh. */
  aggregateUnits(org: string, query: UnitQuery): Promise<AggregateResult> {
    return aggregateUnits(this.run, org, query);
  }

  /**
   * Reads the event, and inserts it changed at a higher version. A row's versions collapse only within a
   * partition and shard, so when the change moves it (its derived time, conversation), the old row also gets a tombstone, one version
   * lower than the new row: in the old month the tombstone wins, in the same month the new row does.
   */
  async updateEvent(org: string, id: string, changes: Partial<CanonicalEvent>): Promise<boolean> {
    const [raw] = await this.connection.rows(
      `SELECT * FROM events FINAL WHERE ${LIVE} AND org = ${literal(org)} AND id = ${literal(id)}`,
    );
    if (!raw) return false;
    const fields = Object.keys(changes).filter((f) => f !== 'customData');
    for (const field of fields) eventColumn(field);
    if (fields.length === 0 && !changes.customData) return true;
    await this.connection.insert('events', changedVersions(rowToEvent(raw), changes));
    return true;
  }

  /** Every change read and written at once: one SELECT and one INSERT per call. */
  async updateEvents(
    org: string,
    updates: readonly { id: string; changes: Partial<CanonicalEvent> }[],
  ): Promise<number> {
    if (updates.length === 0) return 0;
    for (const { changes } of updates) {
      for (const field of Object.keys(changes)) if (field !== 'customData') eventColumn(field);
    }
    const raws = await this.connection.rows(
      `SELECT * FROM events FINAL WHERE ${LIVE} AND org = ${literal(org)} AND id IN (${updates.map((u) => literal(u.id)).join(', ')})`,
    );
    const stored = new Map(raws.map((raw) => [raw.id as string, rowToEvent(raw)]));
    const rows = updates.flatMap(({ id, changes }) => {
      const before = stored.get(id);
      return before ? changedVersions(before, changes) : [];
    });
    await this.connection.insert('events', rows);
    return updates.filter((u) => stored.has(u.id)).length;
  }

  async deleteEvents(org: string, where: RecordFilter): Promise<number> {
    return this.tombstones(
      'events',
      EVENT_TABLE_COLUMNS.map((c) => c.name),
      eventWhere(org, where),
    );
  }

  /**
   * Deletes the rows that match by inserting each again with `_deleted = 1` at a new version, in one
   * INSERT … SELECT run by the server (the rows do not travel); answers how many matched just before.
   */
  private async tombstones(table: string, columns: readonly string[], where: string): Promise<number> {
    const matched = await this.count(table, where);
    if (matched === 0) return 0;
    const names = columns.map(ident).join(', ');
    await this.connection.command(
      `INSERT INTO ${ident(table)} (${names}, ${ident(VERSION_COLUMN)}, ${ident(DELETED_COLUMN)}) SELECT ${names}, ${nextVersion()}, 1 FROM ${ident(table)} FINAL WHERE ${where}`,
    );
    return matched;
  }

  private async count(table: string, where: string): Promise<number> {
    const [row] = await this.connection.rows(
      `SELECT count() AS _count FROM ${ident(table)} FINAL WHERE ${where}`,
    );
    return Number(row?._count ?? 0);
  }

  async keyedEvents(since: Date): Promise<KeyedEvent[]> {
    const rows = await this.connection.rows(
      `SELECT org, idempotency_key, id, received_time FROM events FINAL WHERE ${LIVE} AND isNotNull(idempotency_key) AND received_time >= ${micros(since)} ORDER BY received_time`,
    );
    return rows.map((row) => ({
      org: row.org as string,
      key: row.idempotency_key as string,
      id: row.id as string,
      receivedTime: fromField('timestamp', row.received_time) as Date,
    }));
  }

  async lastVisit(org: string, visitorId: string): Promise<LastVisit | undefined> {
    const [row] = await this.connection.rows(
      `SELECT visit_id, received_time FROM events FINAL WHERE ${LIVE} AND org = ${literal(org)} AND visitor_id = ${literal(visitorId)} ORDER BY received_time DESC LIMIT 1`,
    );
    return row
      ? { visitId: row.visit_id as string, lastSeen: fromField('timestamp', row.received_time) as Date }
      : undefined;
  }

  upsert<Row extends object>(table: EntityTable<Row>, row: Row): Promise<void> {
    return this.upsertAll([{ table, row }]);
  }

  /**
   * One INSERT per table, all rows at one version: a key written twice keeps its last write (two rows of one
   * key at one version would leave FINAL free to pick either). Atomic per table, not across tables.
   */
  async upsertAll(writes: readonly EntityWrite[]): Promise<void> {
    const version = nextVersion();
    for (const { table, rows } of lastWritePerTable(writes)) {
      await this.connection.insert(
        table.name,
        rows.map((row) => entityToRow(table, row, version)),
      );
    }
  }

  async find<Row extends object>(table: EntityTable<Row>, where: Partial<Row>): Promise<Row[]> {
    return (await this.query(table, where, {})).rows;
  }

  async query<Row extends object>(
    table: EntityTable<Row>,
    equal: Partial<Row>,
    query: RecordQuery,
  ): Promise<RecordPage<Row>> {
    const shape = table as TableShape;
    const where = entityWhere(shape, equal, query.where);
    const order = [
      ...(query.orderBy ?? []).map(
        (o) => `${entityColumn(shape)(o.field).sql} ${o.descending ? 'DESC' : 'ASC'}`,
      ),
      ...table.key.map((k) => ident(snake(k))),
    ];
    const rows = await this.connection.rows(
      `SELECT * FROM ${ident(table.name)} FINAL WHERE ${where} ORDER BY ${order.join(', ')}${page(query)}`,
    );
    const count = query.count ? await this.count(table.name, where) : undefined;
    return { rows: rows.map((raw) => rowToEntity<Row>(shape, raw)), count };
  }

  async countBy<Row extends object>(
    table: EntityTable<Row>,
    equal: Partial<Row>,
    filter: RecordFilter | undefined,
    field: keyof Row & string,
  ): Promise<ValueCount[]> {
    const shape = table as TableShape;
    const where = entityWhere(shape, equal, filter);
    const { sql, type } = entityColumn(shape)(field);
    const value = type === 'text[]' ? `arrayJoin(${sql})` : sql;
    const rows = await this.connection.rows(
      `SELECT _value, count() AS _count FROM (SELECT ${value} AS _value FROM ${ident(table.name)} FINAL WHERE ${where}) GROUP BY _value ORDER BY _count DESC, _value`,
    );
    const itemType = type === 'text[]' ? 'text' : type;
    return rows.map((row) => ({
      value: fromField(itemType, row._value) as Scalar,
      count: Number(row._count),
    }));
  }

  remove<Row extends object>(
    table: EntityTable<Row>,
    where: Partial<Row>,
    filter?: RecordFilter,
  ): Promise<number> {
    const shape = table as TableShape;
    return this.tombstones(
      table.name,
      entityDefinition(shape).columns.map((c) => c.name),
      entityWhere(shape, where, filter),
    );
  }

  expunge(tables: readonly string[]): Promise<void> {
    return expungeTables(this.connection, this.config, tables);
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/**
 * The rows that change an event: it changed at a new version and, when the change moves it (its partition, the month
 * of its derived time; its key; in a cluster, its shard), a tombstone of it as it was, one version lower: in the old
 * month the tombstone wins, in the same month the new row does.
 */
function changedVersions(
  before: CanonicalEvent,
  changes: Partial<CanonicalEvent>,
): Record<string, unknown>[] {
  const after = { ...before, ...changes } as CanonicalEvent;
  const moved =
    after.derivedTime.getTime() !== before.derivedTime.getTime() ||
    after.org !== before.org ||
    after.id !== before.id ||
    (after.conversationId ?? null) !== (before.conversationId ?? null);
  const tombstone = nextVersion();
  const rows = [eventToRow(after, nextVersion())];
  if (moved) rows.unshift(eventToRow(before, tombstone, true));
  return rows;
}

/** Most events a page reads by id (pageByIds); a larger page is one read, whose id list would be a long query. */
const PAGE_BY_IDS = 1_000;

/** The condition every read starts with: the row's latest version, unless that is a delete. */
const LIVE = `${ident(DELETED_COLUMN)} = 0`;

function eventColumn(field: string): Resolved {
  const known = EVENT_COLUMN_OF.get(field);
  if (!known) throw new Error(`events have no field ${JSON.stringify(field)}`);
  return { sql: ident(known.column), type: known.type };
}

function eventWhere(org: string, filter: RecordFilter | undefined): string {
  return `${LIVE} AND org = ${literal(org)}${filter ? ` AND (${compileFilter(filter, eventColumn)})` : ''}`;
}

function entityColumn(table: TableShape) {
  return (field: string): Resolved => {
    const type = table.columns[field];
    if (!type) throw new Error(`${table.name} has no field ${JSON.stringify(field)}`);
    return { sql: ident(snake(field)), type };
  };
}

/** Live rows whose fields equal the given values (undefined ones ignored) and that match the filter. */
function entityWhere(table: TableShape, equal: object, filter: RecordFilter | undefined): string {
  const resolve = entityColumn(table);
  const conditions = [LIVE];
  for (const [field, value] of Object.entries(equal)) {
    if (value === undefined) continue;
    conditions.push(compileFilter({ kind: 'compare', op: 'eq', field, value: value as Scalar }, resolve));
  }
  if (filter) conditions.push(`(${compileFilter(filter, resolve)})`);
  return conditions.join(' AND ');
}

/** LIMIT and OFFSET, from numbers the caller has already checked. */
function page(query: RecordQuery): string {
  if (query.limit === undefined && !query.offset) return '';
  // ClickHouse has no OFFSET without LIMIT. 2^53 - 1 stands for "no limit": 18.16 reads past its buffers when
  // offset + limit overflows UInt64 (the largest UInt64 as the limit answered garbage).
  const limit =
    query.limit === undefined
      ? String(Number.MAX_SAFE_INTEGER)
      : String(Math.max(0, Math.trunc(query.limit)));
  const offset = query.offset ? ` OFFSET ${Math.max(0, Math.trunc(query.offset))}` : '';
  return ` LIMIT ${limit}${offset}`;
}
