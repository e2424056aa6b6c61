import { randomUUID } from 'node:crypto';
import { type DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import type { TableRows } from '../storage.ts';
import { inTransaction } from './connection.ts';
import { quote } from './sql.ts';

/** How often a copy's progress is read from the engine while a table is copied. */
const PROGRESS_MS = 500;

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * Copies every table of the store the connection is on into a new DuckDB file, all from one snapshot, while
 * other connections go on writing. DuckDB starts a transaction's snapshot of an attached database when the
 * transaction first touches it, and a transaction may read several databases while writing one: so the schema
 * (tables with their keys and defaults: COPY FROM DATABASE … (SCHEMA)) and then each
 * table's rows all come from the instant of the first read.
 * EXPORT DATABASE would write CSV or Parquet files to load back, not a store to start on. Each table is one
 * INSERT … SELECT, whose progress DuckDB reports while it runs: inserts of rowid ranges showed progress too, but
 * left their rows to a checkpoint after the commit, which took as long again (1M events: 29 s + 22 s against 17 s).
 */
export async function backupStore(
  connection: DuckDBConnection,
  file: string,
  onProgress: (done: number, total: number) => void = () => undefined,
): Promise<TableRows[]> {
  const [source] = (await connection.runAndReadAll('SELECT current_database() AS name')).getRowObjectsJS();
  const from = quote(String(source?.name));
  // Unique: attached databases are the instance's, seen by every connection.
  const to = quote(`backup_${randomUUID().replaceAll('-', '')}`);
  // This connection's own settings: the engine tracks the running statement's progress, and prints nothing.
  await connection.run('SET enable_progress_bar = true');
  await connection.run('SET enable_progress_bar_print = false');
  await connection.run(`ATTACH ${literal(file)} AS ${to}`);
  try {
    const tables = await inTransaction(connection, async () => {
      await connection.run(`COPY FROM DATABASE ${from} TO ${to} (SCHEMA)`);
      const counted = await tableRows(connection, from);
      const total = counted.reduce((sum, t) => sum + t.rows, 0);
      let done = 0;
      onProgress(done, total);
      for (const { table, rows } of counted) {
        const timer = setInterval(() => {
          const processed = Number(connection.progress.rows_processed);
          if (processed > 0) onProgress(done + Math.min(processed, rows), total);
        }, PROGRESS_MS);
        try {
          await connection.run(
            `INSERT INTO ${to}.${quote(table)} BY NAME SELECT * FROM ${from}.${quote(table)}`,
          );
        } finally {
          clearInterval(timer);
        }
        done += rows;
        onProgress(done, total);
      }
      return counted;
    });
    // The copy is whole in its file, with no write-ahead log beside it to lose or to forget to copy.
    await connection.run(`CHECKPOINT ${to}`);
    return tables;
  } finally {
    await connection.run(`DETACH ${to}`).catch(() => undefined);
  }
}

/** Each table's rows in a store file no process holds, opened read-only (a backup, or a store being restored). */
export async function countStoreRows(file: string): Promise<TableRows[]> {
  const instance = await DuckDBInstance.create(file, {
    access_mode: 'READ_ONLY',
    autoinstall_known_extensions: 'false',
    autoload_known_extensions: 'false',
  });
  try {
    const connection = await instance.connect();
    try {
      const [database] = (
        await connection.runAndReadAll('SELECT current_database() AS name')
      ).getRowObjectsJS();
      return await tableRows(connection, quote(String(database?.name)));
    } finally {
      connection.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** Each table of the connection's current database, by name, with its rows; `database`: that database, quoted. */
async function tableRows(connection: DuckDBConnection, database: string): Promise<TableRows[]> {
  const names = (
    await connection.runAndReadAll(
      `SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() AND NOT temporary
        ORDER BY table_name`,
    )
  )
    .getRowObjectsJS()
    .map((row) => String(row.table_name));
  const rows: TableRows[] = [];
  for (const table of names) {
    const [row] = (
      await connection.runAndReadAll(`SELECT count(*) AS n FROM ${database}.${quote(table)}`)
    ).getRowObjectsJS();
    rows.push({ table, rows: Number(row?.n) });
  }
  return rows;
}
