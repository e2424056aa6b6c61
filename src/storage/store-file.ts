import path from 'node:path';
import type { TableRows } from './storage.ts';

/** The embedded engine's file in a data directory, as storage/duckdb/connection.ts opens it. */
export const STORE_FILE = 'openua.duckdb';

/** What DuckDB writes beside its file until a checkpoint folds it in: part of the store. */
export const STORE_WAL_SUFFIX = '.wal';

export const storeFile = (dataDir: string) => path.join(dataDir, STORE_FILE);

/**
 * Each table's rows in a store file no process holds (a backup, or a store being restored), read without changing
 * it. The engine is loaded only here, so a command on ClickHouse never loads DuckDB's native library.
 */
export async function storeFileRows(file: string): Promise<TableRows[]> {
  const { countStoreRows } = await import('./duckdb/backup.ts');
  return countStoreRows(file);
}
