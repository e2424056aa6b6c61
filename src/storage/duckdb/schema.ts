import type { DuckDBConnection } from '@duckdb/node-api';
import { CUSTOM_KEYS_COLUMN, CUSTOM_VALUES_COLUMN, EVENT_COLUMNS } from '../event-columns.ts';
import type { ColumnType, EntityTable } from '../storage.ts';
import { inTransaction } from './connection.ts';
import {
  DIRTY_DDL,
  DIRTY_TABLE,
  KPI_UNITS_CHECKPOINT,
  KPI_UNITS_VERSION,
  MARK_ALL,
  UNIT_TABLE,
  UNIT_TABLES_DDL,
} from './kpi-units.ts';
import { quote, snake } from './sql.ts';
import { COLUMN_TYPES } from './values.ts';

/** The store's tables: made when missing, and an older store's brought up to this version's shape. */

/** The events table: every known column, then customData's two lists. */
const EVENT_TABLE_COLUMNS = [
  ...EVENT_COLUMNS.map((c) => ({ name: c.column, type: c.type, nullable: c.nullable })),
  { name: CUSTOM_KEYS_COLUMN, type: 'text[]' as const, nullable: false },
  { name: CUSTOM_VALUES_COLUMN, type: 'text[]' as const, nullable: false },
];

/**
 * A store from before language tags held the tag as sent in `language` (`en-US`); reports split by the
 * ISO 639-1 code, so those rows get the code there and the tag beside it, as new events do. The tags were
 * checked as `^[A-Za-z]{2}([-_][A-Za-z0-9]{1,8})*$`, so the code is their first two letters.
 */
const SPLIT_LANGUAGE_TAGS = `UPDATE events SET language_tag = language, language = lower(left(language, 2))
  WHERE language IS NOT NULL AND category <> 'kpi'`;

/** Creates (or brings up to date) the events, checkpoints, entity and KPI unit tables. */
export async function migrateTables(
  connection: DuckDBConnection,
  entities: readonly EntityTable<object>[],
): Promise<void> {
  const before = new Set((await columnsOf(connection, 'events')).map((c) => c.name));
  await createOrExtend(connection, 'events', EVENT_TABLE_COLUMNS, []);
  if (before.size > 0 && !before.has('language_tag')) await connection.run(SPLIT_LANGUAGE_TAGS);
  await connection.run(
    'CREATE TABLE IF NOT EXISTS checkpoints (name VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)',
  );
  for (const table of entities) {
    const columns = Object.entries(table.columns).map(([name, type]) => ({
      name: snake(name),
      type: type as ColumnType,
      nullable: true,
    }));
    await createOrExtend(connection, table.name, columns, table.key.map(snake));
  }
  await migrateUnits(connection);
}

/** The KPI unit tables: made (or remade, in a new shape) empty, with every KPI event marked to fill them. */
async function migrateUnits(connection: DuckDBConnection): Promise<void> {
  await connection.run(DIRTY_DDL);
  const reader = await connection.runAndReadAll('SELECT value FROM checkpoints WHERE name = $name', {
    name: KPI_UNITS_CHECKPOINT,
  });
  if (reader.getRowObjectsJS()[0]?.value === KPI_UNITS_VERSION) return;
  await inTransaction(connection, async () => {
    for (const table of Object.values(UNIT_TABLE)) await connection.run(`DROP TABLE IF EXISTS ${table}`);
    for (const sql of UNIT_TABLES_DDL) await connection.run(sql);
    await connection.run(`DELETE FROM ${DIRTY_TABLE}`);
    await connection.run(MARK_ALL);
    await connection.run('INSERT OR REPLACE INTO checkpoints VALUES ($1, $2)', [
      KPI_UNITS_CHECKPOINT,
      KPI_UNITS_VERSION,
    ]);
  });
}

/**
 * Creates a table, or brings an older one up to date: missing columns are added (null in old rows) and
 * columns that have become optional lose NOT NULL. Nothing is dropped or retyped.
 */
async function createOrExtend(
  connection: DuckDBConnection,
  table: string,
  columns: readonly { name: string; type: ColumnType; nullable: boolean }[],
  key: readonly string[],
): Promise<void> {
  const ddl = columns.map((c) => `${quote(c.name)} ${COLUMN_TYPES[c.type]}${c.nullable ? '' : ' NOT NULL'}`);
  const primaryKey = key.length > 0 ? `, PRIMARY KEY (${key.map(quote).join(', ')})` : '';
  await connection.run(`CREATE TABLE IF NOT EXISTS ${quote(table)} (${ddl.join(', ')}${primaryKey})`);
  const existing = new Map((await columnsOf(connection, table)).map((c) => [c.name, c]));
  for (const column of columns) {
    const found = existing.get(column.name);
    if (!found) {
      await connection.run(
        `ALTER TABLE ${quote(table)} ADD COLUMN ${quote(column.name)} ${COLUMN_TYPES[column.type]}`,
      );
    } else if (column.nullable && !found.nullable && !key.includes(column.name)) {
      await connection.run(`ALTER TABLE ${quote(table)} ALTER COLUMN ${quote(column.name)} DROP NOT NULL`);
    }
  }
}

/** A table's columns in the store's own order (none if it does not exist). */
export async function columnsOf(
  connection: DuckDBConnection,
  table: string,
): Promise<{ name: string; nullable: boolean }[]> {
  const reader = await connection.runAndReadAll(
    'SELECT column_name, is_nullable FROM information_schema.columns WHERE table_name = $table ORDER BY ordinal_position',
    { table },
  );
  return (reader.getRowObjectsJS() as { column_name: string; is_nullable: string }[]).map((r) => ({
    name: r.column_name,
    nullable: r.is_nullable === 'YES',
  }));
}
