import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMNS } from '../event-columns.ts';
import type { ColumnType, EntityTable, TableShape } from '../storage.ts';
import { type ClickHouseConfig, ClickHouseConnection } from './connection.ts';
import { ident, literal } from './sql.ts';
import { snake } from './values.ts';

/**
 * The store's tables on ClickHouse: made when missing, and an older database's brought up to this version's
 * shape (missing columns added; nothing dropped or retyped). Every table is a ReplacingMergeTree on `_version`
 * with a `_deleted` flag: an update or a delete is an insert, and reads collapse a row's versions with FINAL.
 */

export const VERSION_COLUMN = '_version';
export const DELETED_COLUMN = '_deleted';
export const SCHEMA_CHECKPOINT = 'clickhouse_schema';
export const SCHEMA_VERSION = '1';

interface Column {
  name: string;
  type: ColumnType;
  nullable: boolean;
}

interface TableDefinition {
  name: string;
  columns: readonly Column[];
  orderBy: readonly string[];
  partitionBy?: string;
  /** The expression that picks a row's shard in a cluster: every version of a row must land on one shard. */
  shardKey: string;
}

const BASE_TYPES: Readonly<Record<ColumnType, string>> = {
  text: 'String',
  integer: 'Int64',
  boolean: 'UInt8',
  // Microseconds since the Unix epoch, UTC: DateTime64 does not exist in 18.16.
  timestamp: 'Int64',
  'text[]': 'Array(String)',
  json: 'String',
};

/** A column's ClickHouse type; lists cannot be Nullable (an absent list is empty). */
export function typeOf(column: Pick<Column, 'type' | 'nullable'>): string {
  const base = BASE_TYPES[column.type];
  return column.nullable && column.type !== 'text[]' ? `Nullable(${base})` : base;
}

export const EVENT_TABLE_COLUMNS: readonly Column[] = [
  ...EVENT_COLUMNS.map((c) => ({ name: c.column, type: c.type, nullable: c.nullable })),
  { name: CUSTOM_KEYS_COLUMN, type: 'text[]', nullable: false },
  { name: CUSTOM_VALUES_COLUMN, type: 'text[]', nullable: false },
];

const SYSTEM_COLUMNS = `${ident(VERSION_COLUMN)} UInt64, ${ident(DELETED_COLUMN)} UInt8`;

const EVENTS: TableDefinition = {
  name: 'events',
  columns: EVENT_TABLE_COLUMNS,
  // (org, id) is what a replayed or updated event shares with its other copies, so FINAL collapses them.
  orderBy: ['org', 'id'],
  partitionBy: 'toYYYYMM(toDateTime(intDiv(derived_time, 1000000)))',
  // A conversation's events share a shard (the KPI units read them together); an event's copies share its.
  shardKey: 'cityHash64(org, ifNull(conversation_id, id))',
};

const CHECKPOINTS: TableDefinition = {
  name: 'checkpoints',
  columns: [
    { name: 'name', type: 'text', nullable: false },
    { name: 'value', type: 'text', nullable: false },
  ],
  orderBy: ['name'],
  shardKey: 'cityHash64(name)',
};

/** An entity table: its key columns cannot be Nullable (a sorting key may not be in 18.16), the others are. */
export function entityDefinition(table: TableShape): TableDefinition {
  const key = table.key.map(snake);
  return {
    name: table.name,
    columns: Object.entries(table.columns).map(([field, type]) => ({
      name: snake(field),
      type,
      nullable: !key.includes(snake(field)),
    })),
    orderBy: key,
    shardKey: `cityHash64(${key.map(ident).join(', ')})`,
  };
}

/** Where a table's rows are: itself on one node; `<table>_local` on each shard under a Distributed `<table>`. */
export const localName = (table: string, clustered: boolean) => (clustered ? `${table}_local` : table);

/** Creates the database and every table (on every shard in a cluster), or adds what an older one lacks. */
export async function migrateSchema(
  main: ClickHouseConnection,
  config: ClickHouseConfig,
  entities: readonly EntityTable<object>[],
): Promise<void> {
  const tables = [EVENTS, CHECKPOINTS, ...entities.map((t) => entityDefinition(t as TableShape))];
  const clustered = Boolean(config.cluster);
  const shards = clustered ? (config.shards ?? []) : [];
  if (clustered && shards.length === 0) throw new Error('a ClickHouse cluster needs the URL of every shard');
  // DDL goes to every shard itself (ON CLUSTER needs ZooKeeper); the main URL may be a balancer in front of them.
  const nodes = clustered
    ? await Promise.all(shards.map((url) => ClickHouseConnection.open(config, url)))
    : [main];
  try {
    for (const node of nodes) {
      await node.serverCommand(`CREATE DATABASE IF NOT EXISTS ${ident(config.database)}`);
      for (const table of tables) {
        await createOrExtend(node, config.database, { ...table, name: localName(table.name, clustered) });
        if (clustered) await createDistributed(node, config.database, config.cluster as string, table);
      }
    }
  } finally {
    if (clustered) await Promise.all(nodes.map((node) => node.close()));
  }
}

/** The ClickHouse column definitions of a table, in its order. */
const columnsDdl = (columns: readonly Column[]) => [
  ...columns.map((c) => `${ident(c.name)} ${typeOf(c)}`),
  SYSTEM_COLUMNS,
];

async function createOrExtend(
  node: ClickHouseConnection,
  database: string,
  table: TableDefinition,
): Promise<void> {
  const partition = table.partitionBy ? ` PARTITION BY ${table.partitionBy}` : '';
  const engine = `ReplacingMergeTree(${ident(VERSION_COLUMN)})${partition} ORDER BY (${table.orderBy.map(ident).join(', ')})`;
  await node.command(
    `CREATE TABLE IF NOT EXISTS ${ident(table.name)} (${columnsDdl(table.columns).join(', ')}) ENGINE = ${engine}`,
  );
  await addMissingColumns(node, database, table.name, table.columns);
}

async function createDistributed(
  node: ClickHouseConnection,
  database: string,
  cluster: string,
  table: TableDefinition,
): Promise<void> {
  const local = localName(table.name, true);
  await node.command(
    `CREATE TABLE IF NOT EXISTS ${ident(table.name)} AS ${ident(local)} ENGINE = Distributed(${ident(cluster)}, ${ident(database)}, ${ident(local)}, ${table.shardKey})`,
  );
  await addMissingColumns(node, database, table.name, table.columns);
}

/** Columns an older version's table lacks, added (old rows read them as null, or empty lists). */
async function addMissingColumns(
  node: ClickHouseConnection,
  database: string,
  table: string,
  columns: readonly Column[],
): Promise<void> {
  const existing = new Set(
    (
      await node.rows(
        `SELECT name FROM system.columns WHERE database = ${literal(database)} AND table = ${literal(table)}`,
      )
    ).map((r) => r.name as string),
  );
  for (const column of columns) {
    if (existing.has(column.name)) continue;
    await node.command(`ALTER TABLE ${ident(table)} ADD COLUMN ${ident(column.name)} ${typeOf(column)}`);
  }
}
