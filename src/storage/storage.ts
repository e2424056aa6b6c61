import type { CanonicalEvent } from '../ingest/canonical-event.ts';

/**
 * The one door to storage. Each engine (DuckDB now, ClickHouse later) implements it once;
 * nothing outside src/storage writes SQL.
 */

export type ColumnType = 'text' | 'integer' | 'boolean' | 'timestamp' | 'text[]' | 'json';

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

export interface EventReadQuery {
  org: string;
  from?: Date;
  to?: Date;
  eventType?: string;
  limit: number;
}

export interface Checkpoint {
  name: string;
  value: string;
}

export interface LastVisit {
  visitId: string;
  lastSeen: Date;
}

export interface Storage {
  readonly engine: string;
  /** Where the data lives, for humans. */
  readonly location: string;
  /** Creates whatever tables are missing. Safe to call on every start. */
  migrate(entities: readonly EntityTable<object>[]): Promise<void>;
  /**
   * Writes all events in one transaction: either every one is durable when this resolves, or none is.
   * A checkpoint, when given, is saved in the same transaction, so a writer that records how far it has
   * loaded (the ingest log position) can never load the same events twice or skip some.
   */
  appendEvents(events: readonly CanonicalEvent[], checkpoint?: Checkpoint): Promise<void>;
  /** The value last saved for a checkpoint name. */
  readCheckpoint(name: string): Promise<string | undefined>;
  /** Newest first. */
  readEvents(query: EventReadQuery): Promise<CanonicalEvent[]>;
  /** The visit of the newest event stored for this visitor, so visits survive a restart. */
  lastVisit(org: string, visitorId: string): Promise<LastVisit | undefined>;
  upsert<Row extends object>(table: EntityTable<Row>, row: Row): Promise<void>;
  /** Rows whose columns equal every value in `where` (an empty `where` reads them all). */
  find<Row extends object>(table: EntityTable<Row>, where: Partial<Row>): Promise<Row[]>;
  close(): Promise<void>;
}
