import type { CanonicalEvent } from '../model/canonical-event.ts';

/**
 * The one door to storage. Each engine (DuckDB now, ClickHouse later) implements it once;
 * nothing outside src/storage writes SQL.
 */

export type ColumnType = 'text' | 'integer' | 'boolean' | 'timestamp' | 'text[]' | 'json';

/**
 * A field of the canonical event as every engine keeps it: its type, and whether it may be null. Code above
 * storage reads the events' fields as these (EVENT_FIELDS, event-fields.ts), never as an engine's columns.
 */
export interface EventField {
  field: Exclude<keyof CanonicalEvent, 'customData'>;
  type: ColumnType;
  nullable: boolean;
}

/**
 * A mutable record kind (organizations, API keys, later providers and conversations), described
 * once so every engine can create, upsert and read it without knowing the domain.
 */
export interface EntityTable<Row> {
  name: string;
  /** Columns whose values identify a row; an upsert with the same key replaces it. */
  key: readonly (keyof Row & string)[];
  columns: { readonly [K in keyof Row & string]: ColumnType };
}

/** A comparison of one field with a literal, as `$filter` and the query API express them. */
export type Comparison = 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le';
/** Case-sensitive text matches (OData's contains, startswith, endswith). */
export type TextMatch = 'contains' | 'startswith' | 'endswith';
export type Scalar = string | number | boolean | Date | null;

/**
 * A condition on fields, independent of any engine; each engine compiles it to SQL whose values are parameters
 * or quoted literals, never request text. `Field` is how a field is named: records name theirs by canonical or
 * entity field name (RecordFilter), the query API by a resolved QueryField (QueryFilter).
 * - `and`/`or` take any number of filters: an empty `and` is true, an empty `or` false.
 * - `not` means "not true": a condition that is unknown because a field is null counts as not matching inside,
 *   so `not` keeps that row (OData's reading).
 * - `compare` with a null value: `eq` is "is null", `ne` "is not null", any other op matches nothing. With a
 *   value, `ne v` also keeps the rows where the field is null.
 * - `in`: the field equals one of the values; a null among them matches null, as `eq null` does.
 * - `match`: case-sensitive contains, startswith, endswith.
 * - `has`: a list field holds the value.
 */
export type Filter<Field> =
  | { kind: 'and' | 'or'; filters: Filter<Field>[] }
  | { kind: 'not'; filter: Filter<Field> }
  | { kind: 'compare'; op: Comparison; field: Field; value: Scalar }
  | { kind: 'in'; field: Field; values: Scalar[] }
  | { kind: 'match'; op: TextMatch; field: Field; value: string }
  | { kind: 'has'; field: Field; value: string };

/** A condition on a record's fields, named by canonical event or entity field names. */
export type RecordFilter = Filter<string>;

export interface RecordQuery {
  where?: RecordFilter;
  orderBy?: readonly { field: string; descending: boolean }[];
  limit?: number;
  offset?: number;
  /** Also count every match, ignoring limit and offset. */
  count?: boolean;
}

export interface RecordPage<Row> {
  rows: Row[];
  /** Every match, when the query asked for the count. */
  count?: number;
}

/** Any entity table, seen without its row type. */
export interface TableShape {
  name: string;
  key: readonly string[];
  columns: Readonly<Record<string, ColumnType>>;
}

export interface EntityWrite {
  table: TableShape;
  row: object;
}

/** A named value a writer saved (saveCheckpoint), such as how far it has loaded its log. */
export interface LastVisit {
  visitId: string;
  lastSeen: Date;
}

/** An event that carried an idempotency key, as the index of keys is rebuilt from. */
export interface KeyedEvent {
  org: string;
  key: string;
  id: string;
  receivedTime: Date;
}

/** How many rows hold each value of a field (each item, for a list field). */
export interface ValueCount {
  value: Scalar;
  count: number;
}

/**
 * A field of the events table as the query API reads it: a column, or a customData key read as the type
 * its dimension declares (`text` when undeclared). A value that does not parse as that type is null, and
 * counted (AggregateResult.typeErrors).
 */
export type QueryField =
  | { kind: 'column'; field: string; type: ColumnType }
  /** `kinds`: the event categories its dimension applies to; other events' values read as null. */
  | { kind: 'custom'; key: string; type: 'text' | 'number' | 'boolean'; kinds?: readonly string[] }
  /** A fact of a KPI unit (UnitQuery), such as a conversation's `answerSeconds`. */
  | { kind: 'fact'; fact: UnitFact };

/** A condition on the query API's resolved fields. */
export type QueryFilter = Filter<QueryField>;

export type AggregateFn = 'count' | 'uniq' | 'sum' | 'avg' | 'min' | 'max' | 'p50' | 'p90' | 'p99';

export type TimeUnit = 'minute' | 'hour' | 'day' | 'week' | 'month';

/** One aggregation over one organization's events: the query API's spec, resolved, for any engine. */
export interface AggregateQuery {
  from: Date;
  to: Date;
  /** A time bucket of the derived time, in a time zone; answered as the bucket's first instant. */
  bucket?: { name: string; unit: TimeUnit; timeZone: string };
  dimensions: { name: string; field: QueryField }[];
  measures: { name: string; fn: AggregateFn; field?: QueryField }[];
  where?: QueryFilter;
  orderBy: { name: string; descending: boolean }[];
  limit: number;
}

/**
 * What contact-center KPIs count, each built by the engine from one organization's KPI events:
 * - `conversation`: one per conversationId, at its queueing (ConversationQueued, else its first event);
 * - `session`: one per (conversationId, providerSessionId), at its SessionStarted (else its first event);
 * - `notification`: one per (conversationId, participantId) offered it, at NotificationDisplayed;
 * - `presence`: one per PresenceChanged, lasting until the agent's next change (or now), cut to the range.
 * The facts each unit has are UNIT_FACTS; how each unit and fact is built is declared in src/model/kpi-units.ts
 * (UNIT_DECLARATIONS); the KPIs over them are the catalogue's (src/kpi/catalogue.ts).
 * Events are read by their meaning: the framework's first-party names count as the OpenUA events they
 * stand for (src/model/first-party-kpi-events.ts).
 */
export type KpiUnit = 'conversation' | 'session' | 'notification' | 'presence';

export const UNIT_FACTS = {
  conversation: [
    'answered',
    'answerSeconds',
    'firstResponseSeconds',
    'ended',
    'abandoned',
    'waitSeconds',
    'handleSeconds',
    'sessions',
    'transfers',
  ],
  session: ['closed', 'handleSeconds', 'transferred', 'holdSeconds', 'wrapUpSeconds', 'switches'],
  notification: ['action', 'responseSeconds'],
  presence: ['seconds'],
} as const satisfies Record<KpiUnit, readonly string[]>;

export type UnitFact = (typeof UNIT_FACTS)[KpiUnit][number];

/** A measure over KPI units: a count of those matching, a statistic of a fact, or a percentage of two counts. */
export type UnitMeasure =
  | { fn: 'count'; where?: QueryFilter }
  | { fn: 'sum' | 'avg' | 'min' | 'max' | 'p50' | 'p90' | 'p99'; fact: UnitFact; where?: QueryFilter }
  | { fn: 'percent'; numerator: QueryFilter; denominator: QueryFilter };

/** One aggregation over KPI units: like AggregateQuery, but over the units built from KPI events. */
export interface UnitQuery {
  unit: KpiUnit;
  /** Units whose start falls in [from, to) are counted (presence: whose interval overlaps it). */
  from: Date;
  to: Date;
  /** Where an open presence interval ends. */
  now: Date;
  bucket?: AggregateQuery['bucket'];
  dimensions: AggregateQuery['dimensions'];
  measures: { name: string; measure: UnitMeasure }[];
  where?: QueryFilter;
  limit: number;
}

/**
 * One organization's events to export: those whose derived time is in [from, to) and that match `where`, in the
 * store-wide order (derived time, then id), so that two exports of the same stored events are the same.
 */
export interface EventExport {
  from: Date;
  to: Date;
  where?: QueryFilter;
}

/** An export being read: its events counted before the first is read, then the events in chunks, oldest first. */
export interface EventScan {
  rows: number;
  chunks: AsyncIterable<CanonicalEvent[]>;
  /** Stops the read and frees what it holds (a reader that goes away early); safe to call more than once. */
  close(): Promise<void>;
}

export interface AggregateResult {
  rows: Record<string, Scalar>[];
  /** customData values that did not parse as their dimension's type, by field name, among the rows counted. */
  typeErrors: Record<string, number>;
}

/** What an engine reports of its own background work, for the server's metrics. Durations in seconds. */
export interface StorageObserver {
  /** One KPI-unit rebuild transaction: it rebuilt some units, or failed. */
  unitsRebuilt?(outcome: 'rebuilt' | 'failed', seconds: number): void;
}

/** How many rows a table of the store holds. */
export interface TableRows {
  table: string;
  rows: number;
}

/** What an engine holds in memory now, and the most it may hold, in bytes. */
export interface StoreMemory {
  usedBytes: number;
  limitBytes: number;
  /** usedBytes by what holds it, in the engine's own words (DuckDB: BASE_TABLE, IN_MEMORY_TABLE, HASH_TABLE…). */
  byUse: Record<string, number>;
}

export interface Storage {
  readonly engine: string;
  /** Where the data lives, for humans. */
  readonly location: string;
  /** Creates whatever tables are missing. Safe to call on every start. */
  migrate(entities: readonly EntityTable<object>[]): Promise<void>;
  /**
   * Stores events, idempotently by event id: an event whose id the store already holds is not stored again
   * (nor is an id repeated within the call), so a writer that replays what it may already have appended (its
   * ingest log after a crash) stores nothing twice, and every read counts each id once. When this resolves,
   * every event given is durable. The engine may write them in one transaction; the contract does not need it.
   * A replay carries the events as first given, received times included; an engine may rely on that to find
   * the ids it holds cheaply. An event's empty list field reads back as none (ClickHouse's arrays cannot be null).
   */
  appendEvents(events: readonly CanonicalEvent[]): Promise<void>;
  /**
   * Stores the events of a file of event rows (the ingest log's row shape: storage/event-rows.ts, one JSON
   * object per line; lines with the commit key are not events), as appendEvents does: idempotently by id, all or
   * none. For an engine that reads such a file with its own bulk loader, so no value passes through JS. Optional:
   * a writer without it appends the events it holds.
   */
  loadEventFile?(file: string): Promise<void>;
  /**
   * Saves a checkpoint's value (a writer's position in its own log, say), replacing the last one. A writer
   * appends, then saves how far it got: a crash between the two replays events the store holds, which
   * appendEvents ignores.
   */
  saveCheckpoint(name: string, value: string): Promise<void>;
  /** The engine's own memory, for the server's metrics; an engine in another process need not say. */
  memory?(): Promise<StoreMemory>;
  /**
   * The indexes of the events the store refuses when each is appended alone; writes nothing. For a writer that
   * must set aside only the events at fault in a batch the store refused, and load the others. Optional: a
   * writer without it sets the batch aside whole.
   */
  refusedEvents?(events: readonly CanonicalEvent[]): Promise<number[]>;
  /** The value last saved for a checkpoint name. */
  readCheckpoint(name: string): Promise<string | undefined>;
  /** The visit of the newest event stored for this visitor, so visits survive a restart. */
  lastVisit(org: string, visitorId: string): Promise<LastVisit | undefined>;
  /** Every event received since `since` that carried an idempotency key, oldest first. */
  keyedEvents(since: Date): Promise<KeyedEvent[]>;
  /** Events of one organization that match a filter, in the order asked (derived time, newest first, by default). */
  queryEvents(org: string, query: RecordQuery): Promise<RecordPage<CanonicalEvent>>;
  /** An organization's events for an export, streamed: never the whole result in memory. */
  scanEvents(org: string, query: EventExport): Promise<EventScan>;
  /**
   * Writes an organization's events for an export to `file` as Parquet (storage/parquet-export.ts: its columns),
   * without holding them all in memory; answers how many.
   */
  exportParquet(org: string, query: EventExport, file: string): Promise<number>;
  /** Measures over one organization's events, grouped by dimensions (and a time bucket). */
  aggregateEvents(org: string, query: AggregateQuery): Promise<AggregateResult>;
  /** Measures over KPI units built from one organization's KPI events, grouped like aggregateEvents. */
  aggregateUnits(org: string, query: UnitQuery): Promise<AggregateResult>;
  /** Changes the fields given on one event; answers whether it exists. */
  updateEvent(org: string, id: string, changes: Partial<CanonicalEvent>): Promise<boolean>;
  /**
   * Changes many events, each by id, as updateEvent does, in one go (an engine may do it in one transaction, and
   * rebuild what derives from them once); answers how many exist. Optional: a caller without it updates each.
   */
  updateEvents?(
    org: string,
    updates: readonly { id: string; changes: Partial<CanonicalEvent> }[],
  ): Promise<number>;
  /** Deletes the events of one organization that match; answers how many. */
  deleteEvents(org: string, where: RecordFilter): Promise<number>;
  upsert<Row extends object>(table: EntityTable<Row>, row: Row): Promise<void>;
  /** Upserts every row in one transaction: all of them are stored, or none is. */
  upsertAll(writes: readonly EntityWrite[]): Promise<void>;
  /** Rows whose columns equal every value in `where` (an empty `where` reads them all). */
  find<Row extends object>(table: EntityTable<Row>, where: Partial<Row>): Promise<Row[]>;
  /** Rows whose columns equal every value in `equal` and that match the query's filter. */
  query<Row extends object>(
    table: EntityTable<Row>,
    equal: Partial<Row>,
    query: RecordQuery,
  ): Promise<RecordPage<Row>>;
  /** Rows that match, counted by the values of one field, most frequent first. */
  countBy<Row extends object>(
    table: EntityTable<Row>,
    equal: Partial<Row>,
    where: RecordFilter | undefined,
    field: keyof Row & string,
  ): Promise<ValueCount[]>;
  /** Deletes the rows whose columns equal every value in `where` (and match `filter`); answers how many. */
  remove<Row extends object>(
    table: EntityTable<Row>,
    where: Partial<Row>,
    filter?: RecordFilter,
  ): Promise<number>;
  /**
   * Makes what was deleted or changed in these tables (entity table names, or `events`) physically gone from the
   * store, not only hidden: old versions of changed rows and deleted rows (a person's erasure). May be slow; an
   * engine that never keeps them may leave it out.
   */
  expunge?(tables: readonly string[]): Promise<void>;
  /**
   * Copies every table, all from one read snapshot, into a new store file at `file` while writes go on; answers
   * each table's rows. `onProgress`: rows copied of all. Only an embedded engine has it (storage/duckdb/backup.ts);
   * a server engine is backed up with its own tools.
   */
  backup?(file: string, onProgress?: (done: number, total: number) => void): Promise<TableRows[]>;
  close(): Promise<void>;
  /** Reports background work (KPI-unit rebuilds) to `observer`; an engine without any may leave it out. */
  observe?(observer: StorageObserver): void;
}

/**
 * The store is held by another process (DuckDB lets one process at a time open its file). A typed error, so that
 * the CLI can offer the running server instead without reading an engine's words. `holderPid`: when the engine says.
 */
export class StoreBusyError extends Error {
  constructor(
    readonly location: string,
    readonly holderPid?: number,
    options?: ErrorOptions,
  ) {
    super(
      `the store ${location} is in use by another process${holderPid ? ` (PID ${holderPid})` : ''}`,
      options,
    );
    this.name = 'StoreBusyError';
  }
}

/** A store in another process (a ClickHouse server) that does not answer; `reason`: the system's code for why. */
export class StoreUnreachableError extends Error {
  constructor(
    readonly location: string,
    readonly reason: string,
    options?: ErrorOptions,
  ) {
    super(`the store at ${location} does not answer (${reason})`, options);
    this.name = 'StoreUnreachableError';
  }
}

/** A store in another process that refuses the credentials it was given; `code`: the store's own error code. */
export class StoreCredentialsError extends Error {
  constructor(
    readonly location: string,
    readonly user: string,
    readonly code: string,
    options?: ErrorOptions,
  ) {
    super(`the store at ${location} refuses the user ${JSON.stringify(user)} (code ${code})`, options);
    this.name = 'StoreCredentialsError';
  }
}
