import type { DuckDBType, DuckDBValue } from '@duckdb/node-api';
import { lastWritePerTable } from '../entity-writes.ts';
import type { ColumnType, EntityTable, EntityWrite } from '../storage.ts';
import { quote, snake } from './sql.ts';
import { fromColumn, toParam } from './values.ts';

/** Rows of the entity tables (organizations, API keys…): upserted in batches, and read back as rows. */

/** Most rows in one upsert statement: DuckDB's cost is per statement, its parameters' per row. */
const UPSERT_ROWS = 500;

interface Statement {
  sql: string;
  values: DuckDBValue[];
  types: DuckDBType[];
}

/**
 * The statements that upsert `writes`: one multi-row INSERT OR REPLACE per table and UPSERT_ROWS rows. Each
 * statement in a transaction costs DuckDB about 1 MB of table memory whatever its size, so a row a statement
 * ran out of memory at a few hundred records (500 took 350 MB). A key written twice keeps its last write
 * (lastWritePerTable).
 */
export function upsertStatements(writes: readonly EntityWrite[]): Statement[] {
  const statements: Statement[] = [];
  for (const { table, rows: all } of lastWritePerTable(writes)) {
    const names = Object.keys(table.columns);
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

/** Rows of an entity table as the entities they hold: their fields, named as the table describes them. */
export function entityRows<Row extends object>(
  table: EntityTable<Row>,
  raws: Record<string, unknown>[],
): Row[] {
  const names = Object.keys(table.columns) as (keyof Row & string)[];
  return raws.map((raw) => {
    const row: Record<string, unknown> = {};
    for (const name of names) row[name] = fromColumn(table.columns[name], raw[snake(name)]);
    return row as Row;
  });
}
