import type { EntityWrite, TableShape } from './storage.ts';

/**
 * Entity writes grouped by table, keeping each key's last write only: what writing them in turn would have left.
 * Both engines write a table's rows in one statement, which may not hold a key twice (DuckDB refuses it; in
 * ClickHouse two rows of one key at one version leave FINAL free to pick either).
 */
export function lastWritePerTable(writes: readonly EntityWrite[]): { table: TableShape; rows: object[] }[] {
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
  return [...byTable.values()].map(({ table, rows }) => ({ table, rows: [...rows.values()] }));
}
